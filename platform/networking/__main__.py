"""platform-networking: the environment's VPC, or clearly local stand-ins when AWS is off."""

from pathlib import Path

from appofapps import config, tags
from appofapps.components.network import Network, NetworkArgs, subnet_cidrs
from appofapps.contracts import NETWORKING, export

settings = config.networking(Path(__file__).parent)
common = settings.common
tags.register(
    team="platform", app="networking", environment=common.environment, cost_centre=common.cost_centre
)

if common.aws:
    network = Network(
        f"appofapps-{common.environment}",
        NetworkArgs(
            cidr=settings.vpc_cidr,
            availability_zones=settings.availability_zones,
            nat_per_az=settings.nat_gateways == "per-az",
            flow_log_retention_days=settings.flow_log_retention_days,
        ),
    )
    export(
        NETWORKING,
        {
            "cloud": common.cloud,
            "vpc_id": network.vpc_id,
            "vpc_cidr": settings.vpc_cidr,
            "availability_zones": settings.availability_zones,
            "public_subnet_ids": network.public_subnet_ids,
            "private_subnet_ids": network.private_subnet_ids,
            "nat_gateway_count": network.nat_gateway_count,
        },
    )
else:
    # No cloud: the subnet ranges the VPC would get, named "local-..." so nobody mistakes them for AWS ids.
    public, private = subnet_cidrs(settings.vpc_cidr, len(settings.availability_zones))
    export(
        NETWORKING,
        {
            "cloud": common.cloud,
            "vpc_id": f"local-vpc-{settings.vpc_cidr}",
            "vpc_cidr": settings.vpc_cidr,
            "availability_zones": settings.availability_zones,
            "public_subnet_ids": [f"local-subnet-{cidr}" for cidr in public],
            "private_subnet_ids": [f"local-subnet-{cidr}" for cidr in private],
            "nat_gateway_count": 0,
        },
    )
