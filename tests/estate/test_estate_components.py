"""Each component built inside a test under fresh mocks: the properties its users rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from estate_mocks import Run, execute
from policy_checks import missing_tags, open_ingress, policy_document, statements

from appofapps import k8s, tags
from appofapps.components.app import App, AppArgs, AwsIdentity
from appofapps.components.cluster import Cluster, ClusterArgs
from appofapps.components.network import Network, NetworkArgs
from appofapps.components.tenancy import Tenancy, TenancyArgs
from appofapps.manifest import Manifest

ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"


def tagged() -> None:
    tags.register(team="platform", app="test", environment="staging", cost_centre="cc-test")


def parented(run: Run, component_type: str) -> None:
    """Every child of the component is registered under it (URN nests the component type)."""
    for urn in run.registrations:
        qualified_type = urn.split("::")[2]
        if "pulumi:providers:" in qualified_type or qualified_type.endswith(f"${component_type}"):
            continue
        assert f"{component_type}$" in urn, f"{urn} is not parented to the component"


# ---------------------------------------------------------------- network


@pytest.mark.parametrize(("per_az", "expected"), [(True, 3), (False, 1)], ids=["per-az", "single"])
def test_network_nat_gateways_follow_config(per_az: bool, expected: int) -> None:
    def body() -> None:
        tagged()
        Network("net", NetworkArgs(cidr="10.20.0.0/16", availability_zones=ZONES, nat_per_az=per_az))

    run = execute(body, project="test", stack="staging")
    assert len(run.of_type("aws:ec2/natGateway:NatGateway")) == expected
    # Every private route table sends internet traffic through a NAT gateway, never the internet gateway.
    private_routes = [r for r in run.of_type("aws:ec2/route:Route") if "private" in r.name]
    assert len(private_routes) == len(ZONES)
    assert all(r.inputs.get("natGatewayId") and not r.inputs.get("gatewayId") for r in private_routes)
    used_nats = {r.inputs["natGatewayId"] for r in private_routes}
    assert len(used_nats) == expected


def test_network_subnets_private_by_default_and_tagged_for_eks() -> None:
    def body() -> None:
        tagged()
        Network("net", NetworkArgs(cidr="10.20.0.0/16", availability_zones=ZONES, nat_per_az=False))

    run = execute(body, project="test", stack="staging")
    subnets = run.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 2 * len(ZONES)
    assert not any(s.inputs.get("mapPublicIpOnLaunch") for s in subnets)
    public = [s for s in subnets if "public" in s.name]
    private = [s for s in subnets if "private" in s.name]
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    assert all(s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert {s.inputs["availabilityZone"] for s in private} == set(ZONES)
    assert missing_tags(run.resources) == []
    assert open_ingress(run.resources) == []
    # The adopted default security group keeps no rules at all.
    (default_sg,) = run.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not default_sg.inputs.get("ingress") and not default_sg.inputs.get("egress")
    parented(run, "appofapps:network:Network")


def test_network_flow_logs_go_to_a_kms_encrypted_log_group() -> None:
    def body() -> None:
        Network("net", NetworkArgs(cidr="10.20.0.0/16", availability_zones=ZONES, nat_per_az=False))

    run = execute(body, project="test", stack="staging")
    (flow_log,) = run.of_type("aws:ec2/flowLog:FlowLog")
    (log_group,) = run.of_type("aws:cloudwatch/logGroup:LogGroup")
    (key,) = run.of_type("aws:kms/key:Key")
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestination"] == f"arn:aws:cloudwatch:eu-west-1:123456789012:{log_group.name}"
    assert log_group.inputs["kmsKeyId"] == f"arn:aws:kms:eu-west-1:123456789012:{key.name}"
    assert key.inputs["enableKeyRotation"] is True
    # Only the logs service of this account and region may use the key for encryption.
    logs_statement = next(s for s in statements(policy_document(key)) if s["Sid"] == "LogsEncrypt")
    assert logs_statement["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}


# ---------------------------------------------------------------- cluster


def build_cluster(private: bool) -> Run:
    def body() -> None:
        tagged()
        Cluster(
            "eks",
            ClusterArgs(
                private_subnet_ids=["subnet-a", "subnet-b"],
                kubernetes_version="1.33",
                private_endpoint=private,
                public_access_cidrs=[] if private else ["203.0.113.0/24"],
            ),
        )

    return execute(body, project="test", stack="production" if private else "staging")


def test_cluster_private_endpoint_has_no_public_access() -> None:
    run = build_cluster(private=True)
    (cluster,) = run.of_type("aws:eks/cluster:Cluster")
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert vpc["subnetIds"] == ["subnet-a", "subnet-b"]
    (nodes,) = run.of_type("aws:eks/nodeGroup:NodeGroup")
    assert nodes.inputs["subnetIds"] == ["subnet-a", "subnet-b"]


def test_cluster_public_endpoint_only_for_named_networks() -> None:
    run = build_cluster(private=False)
    (cluster,) = run.of_type("aws:eks/cluster:Cluster")
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_cluster_encrypts_secrets_trusts_oidc_and_tags_everything() -> None:
    run = build_cluster(private=True)
    (cluster,) = run.of_type("aws:eks/cluster:Cluster")
    key = run.named("aws:kms/key:Key", "eks-secrets")
    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert cluster.inputs["encryptionConfig"]["provider"]["keyArn"].endswith(key.name)
    (oidc,) = run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"].startswith("https://oidc.eks.")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert set(cluster.inputs["enabledClusterLogTypes"]) >= {"api", "audit"}
    (log_group,) = run.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["name"] == "/aws/eks/eks/cluster"
    assert (
        log_group.inputs["kmsKeyId"]
        == f"arn:aws:kms:eu-west-1:123456789012:{run.named('aws:kms/key:Key', 'eks-logs').name}"
    )
    assert missing_tags(run.resources) == []
    parented(run, "appofapps:cluster:Cluster")


def test_cluster_kubeconfig_is_a_secret_using_short_lived_tokens() -> None:
    captured: dict[str, object] = {}

    def body() -> None:
        import pulumi

        cluster = Cluster(
            "eks", ClusterArgs(private_subnet_ids=["s"], kubernetes_version="1.33", private_endpoint=True)
        )
        pulumi.export("kubeconfig", cluster.kubeconfig)

    run = execute(body, project="test", stack="production")
    captured.update(json.loads(run.exports["kubeconfig"]))
    assert "kubeconfig" in run.secret_exports
    (user,) = captured["users"]  # type: ignore[misc]
    assert user["user"]["exec"]["command"] == "aws"
    assert "token" not in json.dumps(user["user"]).replace("get-token", "")


# ---------------------------------------------------------------- tenancy


def test_tenancy_closes_each_team_namespace_and_bounds_it(tmp_path: Path) -> None:
    def body() -> None:
        kube = k8s.cluster("k8s", "{}")
        Tenancy(
            "tenancy", TenancyArgs(teams=["payments", "storefront"], kube=kube, quota_cpu="4", quota_pods=20)
        )

    run = execute(body, project="test", stack="staging")
    namespaces = run.of_type("kubernetes:core/v1:Namespace")
    assert sorted(n.inputs["metadata"]["name"] for n in namespaces) == ["payments", "storefront"]
    assert all(
        n.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        for n in namespaces
    )
    policies = run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    deny = [p for p in policies if p.inputs["metadata"]["name"] == "default-deny"]
    assert sorted(p.inputs["metadata"]["namespace"] for p in deny) == ["payments", "storefront"]
    for policy in deny:
        spec = policy.inputs["spec"]
        assert spec["podSelector"] == {} and sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
        assert not spec.get("ingress") and not spec.get("egress")
    quotas = run.of_type("kubernetes:core/v1:ResourceQuota")
    assert len(quotas) == 2
    assert all(q.inputs["spec"]["hard"] | {} == q.inputs["spec"]["hard"] for q in quotas)
    assert {q.inputs["spec"]["hard"]["limits.cpu"] for q in quotas} == {"4"}
    assert {q.inputs["spec"]["hard"]["pods"] for q in quotas} == {"20"}
    assert open_ingress(run.resources) == []
    # Every object goes through the given provider, none through a default one.
    assert all(r.provider and "pulumi:providers:kubernetes::k8s" in r.provider for r in run.managed)
    parented(run, "appofapps:tenancy:Tenancy")


# ---------------------------------------------------------------- the team app


def manifest(tmp_path: Path, **overrides: object) -> Manifest:
    values: dict[str, object] = {
        "path": tmp_path / "apps" / "payments" / "ledger" / "app.yaml",
        "owner": "ledger@example.com",
        "team": "payments",
        "name": "ledger",
        "image": "registry.example.com/payments/ledger:1.0.0",
        "port": 8080,
        "replicas": 2,
        "max_replicas": 6,
        "cpu": "500m",
        "memory": "512Mi",
        "secrets": ("signing-key",),
        "bucket": True,
        "queue": True,
    }
    values.update(overrides)
    return Manifest(**values)  # type: ignore[arg-type]


def build_app(tmp_path: Path, *, cloud: bool = True, **overrides: object) -> Run:
    ledger = manifest(tmp_path, **overrides)
    caller = manifest(
        tmp_path, name="api", image="registry.example.com/payments/api:2.0.0", calls=("payments/ledger",)
    )

    def body() -> None:
        tagged()
        kube = (
            k8s.cluster("k8s", "{}") if cloud else k8s.rendering("k8s", "local", "payments-ledger", tmp_path)
        )
        App(
            "payments-ledger",
            AppArgs(
                manifest=ledger,
                environment="staging" if cloud else "local",
                kube=kube,
                namespace="payments",
                callers=[caller],
                aws_identity=AwsIdentity(OIDC_ARN, ISSUER) if cloud else None,
                secret_values={} if cloud else {"signing-key": "local-value"},
            ),
        )

    return execute(body, project="payments-ledger", stack="staging" if cloud else "local")


def test_app_deployment_sets_limits_probes_and_non_root(tmp_path: Path) -> None:
    run = build_app(tmp_path)
    (deployment,) = run.of_type("kubernetes:apps/v1:Deployment")
    pod = deployment.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert pod["serviceAccountName"] == "ledger"
    assert container["image"] == "registry.example.com/payments/ledger:1.0.0"


def test_app_scales_and_survives_disruption(tmp_path: Path) -> None:
    run = build_app(tmp_path)
    (hpa,) = run.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    assert (hpa.inputs["spec"]["minReplicas"], hpa.inputs["spec"]["maxReplicas"]) == (2, 6)
    assert hpa.inputs["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "ledger",
    }
    (pdb,) = run.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    assert pdb.inputs["spec"]["maxUnavailable"] == 1
    (service,) = run.of_type("kubernetes:core/v1:Service")
    assert service.inputs["spec"]["type"] == "ClusterIP"


def test_app_role_is_trusted_by_exactly_its_service_account(tmp_path: Path) -> None:
    run = build_app(tmp_path)
    (role,) = run.of_type("aws:iam/role:Role")
    (trust,) = statements(policy_document(role, "assumeRolePolicy"))
    assert trust["Principal"] == {"Federated": OIDC_ARN}
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"] == {
        "StringEquals": {
            f"{ISSUER}:sub": "system:serviceaccount:payments:ledger",
            f"{ISSUER}:aud": "sts.amazonaws.com",
        }
    }
    (account,) = run.of_type("kubernetes:core/v1:ServiceAccount")
    assert (
        account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        == f"arn:aws:iam::123456789012:role/{role.name}"
    )


def test_app_owned_aws_resources_are_encrypted_private_and_least_privilege(tmp_path: Path) -> None:
    run = build_app(tmp_path)
    (bucket,) = run.of_type("aws:s3/bucket:Bucket")
    (encryption,) = run.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    (block,) = run.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        block.inputs[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    (queue,) = run.of_type("aws:sqs/queue:Queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True
    (secret,) = run.of_type("aws:secretsmanager/secret:Secret")
    assert secret.inputs["name"] == "staging/payments/ledger/signing-key"
    # Secret values never pass through Pulumi: no version resource, no value on the secret.
    assert run.of_type("aws:secretsmanager/secretVersion:SecretVersion") == []
    assert "secretString" not in secret.inputs

    (policy,) = run.of_type("aws:iam/rolePolicy:RolePolicy")
    granted = statements(policy_document(policy))
    resources = {resource for statement in granted for resource in statement["Resource"]}
    bucket_arn = f"arn:aws:s3:::{bucket.name}-bucket"
    assert resources == {
        bucket_arn,
        f"{bucket_arn}/*",
        f"arn:aws:sqs:eu-west-1:123456789012:{queue.name}",
        f"arn:aws:secretsmanager:eu-west-1:123456789012:{secret.name}",
    }
    actions = [action for statement in granted for action in statement["Action"]]
    assert not any(action.endswith("*") for action in actions)
    assert missing_tags(run.resources) == []
    parented(run, "appofapps:app:App")


def test_app_network_policy_admits_only_declared_callers(tmp_path: Path) -> None:
    run = build_app(tmp_path)
    policy = next(
        p
        for p in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.inputs["metadata"]["name"] == "ledger"
    )
    spec = policy.inputs["spec"]
    assert spec["podSelector"] == {"matchLabels": {"appofapps.io/app": "payments-ledger"}}
    (rule,) = spec["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"appofapps.io/team": "payments"}},
            "podSelector": {"matchLabels": {"appofapps.io/app": "payments-api"}},
        }
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert open_ingress(run.resources) == []


def test_app_without_callers_admits_nothing(tmp_path: Path) -> None:
    def body() -> None:
        App(
            "storefront-web",
            AppArgs(
                manifest=manifest(
                    tmp_path, team="storefront", name="web", secrets=(), bucket=False, queue=False
                ),
                environment="staging",
                kube=k8s.cluster("k8s", "{}"),
                namespace="storefront",
                aws_identity=AwsIdentity(OIDC_ARN, ISSUER),
            ),
        )

    run = execute(body, project="storefront-web", stack="staging")
    (policy,) = run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert policy.inputs["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert not policy.inputs["spec"].get("ingress")
    # Nothing owned, nothing granted: no policy on the role at all.
    assert run.of_type("aws:iam/rolePolicy:RolePolicy") == []


def test_app_in_local_renders_kubernetes_only_with_secret_from_config(tmp_path: Path) -> None:
    run = build_app(tmp_path, cloud=False)
    assert [r for r in run.managed if r.type.startswith("aws:")] == []
    (secret,) = run.of_type("kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"] == {"signing-key": "local-value"}
    assert "stringData" in secret.secret_inputs
    (deployment,) = run.of_type("kubernetes:apps/v1:Deployment")
    (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SIGNING_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "ledger-secrets", "key": "signing-key"}
    assert all(r.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"} for r in run.managed)
    provider = next(r for r in run.resources if r.type == "pulumi:providers:kubernetes")
    # Relative to the program's directory (the provider's too): no checkout path in the state.
    rendered = provider.inputs["renderYamlToDirectory"]
    assert not Path(rendered).is_absolute()
    assert (Path.cwd() / rendered).resolve() == (
        tmp_path / ".rendered" / "local" / "payments-ledger"
    ).resolve()


def test_tags_transform_wins_over_hand_written_ownership_tags() -> None:
    import pulumi_aws as aws

    def body() -> None:
        tagged()
        aws.ec2.Vpc("vpc", cidr_block="10.20.0.0/16", tags={"Name": "mine", "team": "someone-else"})
        aws.ec2.RouteTable("rt", vpc_id="vpc-1")
        aws.iam.RolePolicy("p", role="r", policy="{}")

    run = execute(body, project="test", stack="staging")
    vpc = run.named("aws:ec2/vpc:Vpc", "vpc")
    assert vpc.inputs["tags"] == {
        "Name": "mine",
        "team": "platform",
        "app": "test",
        "environment": "staging",
        "cost-centre": "cc-test",
        "managed-by": "pulumi",
    }
    assert run.named("aws:ec2/routeTable:RouteTable", "rt").inputs["tags"]["team"] == "platform"
    # Untaggable resources are left alone (the provider would reject an unknown `tags` input).
    assert "tags" not in run.named("aws:iam/rolePolicy:RolePolicy", "p").inputs
