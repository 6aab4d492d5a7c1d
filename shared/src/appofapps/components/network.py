"""The VPC every environment's cluster lives in: public and private subnets per AZ, NAT, encrypted flow logs."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from appofapps.policies import encrypted_log_group, service_trust

TYPE = "appofapps:network:Network"
# Each subnet gets 1/16 of the VPC: public subnets take the first slots, private ones start half-way.
SUBNET_EXTRA_BITS = 4
PRIVATE_OFFSET = 8


@dataclass
class NetworkArgs:
    cidr: str
    """VPC CIDR, already validated as private and non-overlapping."""
    availability_zones: list[str]
    """Zones to spread subnets over; one public and one private subnet each."""
    nat_per_az: bool
    """One NAT gateway per zone (production) or a single shared one (cheaper, staging)."""
    flow_log_retention_days: int = 30
    """How long flow logs are kept."""


def subnet_cidrs(cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Public and private subnet ranges for ``zones`` zones, carved deterministically from ``cidr``."""
    network = ipaddress.IPv4Network(cidr)
    slots = list(network.subnets(prefixlen_diff=SUBNET_EXTRA_BITS))
    public = [str(slot) for slot in slots[:zones]]
    private = [str(slot) for slot in slots[PRIVATE_OFFSET : PRIVATE_OFFSET + zones]]
    return public, private


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    nat_gateway_count: int

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = args.availability_zones
        public_cidrs, private_cidrs = subnet_cidrs(args.cidr, len(zones))

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
            opts=child,
        )
        # AWS's default security group allows all traffic between its members; adopt it with no rules at all.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": name}, opts=child)

        public_routes = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{name}-public"}, opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )

        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for zone, public_cidr, private_cidr in zip(zones, public_cidrs, private_cidrs, strict=True):
            suffix = zone[-1]
            public = aws.ec2.Subnet(
                f"{name}-public-{suffix}",
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                # Nothing in the estate needs public IPs by default; load balancers get their own.
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{suffix}", "kubernetes.io/role/elb": "1"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{suffix}", subnet_id=public.id, route_table_id=public_routes.id, opts=child
            )
            public_subnets.append(public)
            private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{suffix}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidr,
                    availability_zone=zone,
                    tags={"Name": f"{name}-private-{suffix}", "kubernetes.io/role/internal-elb": "1"},
                    opts=child,
                )
            )

        nat_count = len(zones) if args.nat_per_az else 1
        nats: list[aws.ec2.NatGateway] = []
        for index in range(nat_count):
            suffix = zones[index][-1]
            address = aws.ec2.Eip(
                f"{name}-nat-{suffix}", domain="vpc", tags={"Name": f"{name}-nat-{suffix}"}, opts=child
            )
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{suffix}",
                    allocation_id=address.id,
                    subnet_id=public_subnets[index].id,
                    tags={"Name": f"{name}-nat-{suffix}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
                )
            )
        for index, (zone, subnet) in enumerate(zip(zones, private_subnets, strict=True)):
            suffix = zone[-1]
            routes = aws.ec2.RouteTable(
                f"{name}-private-{suffix}",
                vpc_id=vpc.id,
                tags={"Name": f"{name}-private-{suffix}"},
                opts=child,
            )
            aws.ec2.Route(
                f"{name}-private-{suffix}-default",
                route_table_id=routes.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[index if args.nat_per_az else 0].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )

        self._flow_logs(name, vpc, args.flow_log_retention_days)

        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in private_subnets])
        self.nat_gateway_count = nat_count
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "nat_gateway_count": nat_count,
            }
        )

    def _flow_logs(self, name: str, vpc: aws.ec2.Vpc, retention_days: int) -> None:
        """All VPC traffic to a CloudWatch log group encrypted with a key only this account's logs service uses."""
        child = pulumi.ResourceOptions(parent=self)
        log_group = encrypted_log_group(
            self,
            key_name=f"{name}-flow-logs",
            group_name=f"{name}-flow-logs",
            description=f"Encrypts VPC flow logs of {name}",
            retention_days=retention_days,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs", assume_role_policy=service_trust("vpc-flow-logs.amazonaws.com"), opts=child
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            opts=child,
        )
