"""Every project's real program, run per environment under mocks in dependency order.

StackReferences resolve from the exports the producer's own mock run made, so a renamed or missing key
breaks the consumer here exactly as it would on the engine.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml
from engine_helpers import REPO_ROOT
from estate_mocks import Run, exports_by_stack, run_project
from estate_runs import PLATFORM, ROOT_DIR
from policy_checks import missing_tags, open_ingress, policy_document, statements

from appofapps.contracts import CLUSTER, NETWORKING, ROOT, app_contract
from appofapps.manifest import load_estate
from appofapps.orchestrator.planning.discovery import discover
from appofapps.stackrefs import UpstreamError, stack_name

CLOUD = ["staging", "production"]
Environment = Callable[[str], dict[str, Run]]
ESTATE = load_estate(REPO_ROOT)


def config_of(project_dir: str, stack: str) -> dict[str, object]:
    document = yaml.safe_load((REPO_ROOT / project_dir / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    return dict(document["config"])


@pytest.mark.parametrize("stack", CLOUD)
def test_every_taggable_resource_carries_its_owners_tags(environment: Environment, stack: str) -> None:
    runs = environment(stack)
    for run in runs.values():
        assert missing_tags(run.resources) == [], run.project
    for manifest in ESTATE.apps.values():
        tagged = [
            r for r in runs[manifest.project].managed if "tags" in r.inputs and r.type.startswith("aws:")
        ]
        assert tagged, manifest.project
        for resource in tagged:
            assert resource.inputs["tags"]["team"] == manifest.team
            assert resource.inputs["tags"]["app"] == manifest.name
            assert resource.inputs["tags"]["environment"] == stack
            assert resource.inputs["tags"]["managed-by"] == "pulumi"


@pytest.mark.parametrize("stack", CLOUD)
def test_nothing_admits_the_internet(environment: Environment, stack: str) -> None:
    for run in environment(stack).values():
        assert open_ingress(run.resources) == [], run.project


@pytest.mark.parametrize(("stack", "nats"), [("staging", 1), ("production", 3)])
def test_nat_gateways_per_environment(environment: Environment, stack: str, nats: int) -> None:
    networking = environment(stack)[NETWORKING.project]
    assert len(networking.of_type("aws:ec2/natGateway:NatGateway")) == nats
    assert networking.exports["nat_gateway_count"] == nats
    zones = config_of("platform/networking", stack)["platform-networking:availabilityZones"]
    assert networking.exports["availability_zones"] == zones
    # The count the mock run declares, by construction: shared parts + per zone + per NAT + flow logs.
    per_zone = (
        3 + 3
    )  # public subnet + its association + private subnet; private route table + route + association
    assert len(networking.managed) == 5 + per_zone * len(zones) + 2 * nats + 5


def test_production_cluster_endpoint_is_private(environment: Environment) -> None:
    (cluster,) = environment("production")[CLUSTER.project].of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert cluster.inputs["vpcConfig"]["endpointPrivateAccess"] is True


def test_staging_cluster_endpoint_is_public_only_to_configured_networks(environment: Environment) -> None:
    (cluster,) = environment("staging")[CLUSTER.project].of_type("aws:eks/cluster:Cluster")
    configured = config_of("platform/cluster", "staging")["platform-cluster:publicAccessCidrs"]
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == configured
    assert "0.0.0.0/0" not in configured


@pytest.mark.parametrize("stack", CLOUD)
def test_encryption_is_on_everywhere(environment: Environment, stack: str) -> None:
    runs = environment(stack)
    log_groups = [group for run in runs.values() for group in run.of_type("aws:cloudwatch/logGroup:LogGroup")]
    assert len(log_groups) == 2  # VPC flow logs and EKS control-plane logs
    assert all(group.inputs["kmsKeyId"].startswith("arn:aws:kms:") for group in log_groups)
    (cluster,) = runs[CLUSTER.project].of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    keys = [key for run in runs.values() for key in run.of_type("aws:kms/key:Key")]
    assert keys and all(key.inputs["enableKeyRotation"] is True for key in keys)
    for manifest in ESTATE.apps.values():
        run = runs[manifest.project]
        buckets = run.of_type("aws:s3/bucket:Bucket")
        assert len(buckets) == int(manifest.bucket)
        assert len(
            run.of_type(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
            )
        ) == len(buckets)
        blocks = run.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert len(blocks) == len(buckets) and all(b.inputs["restrictPublicBuckets"] is True for b in blocks)
        queues = run.of_type("aws:sqs/queue:Queue")
        assert len(queues) == int(manifest.queue) and all(
            q.inputs["sqsManagedSseEnabled"] is True for q in queues
        )


@pytest.mark.parametrize("stack", CLOUD)
def test_every_deployment_sets_limits_and_runs_as_non_root(environment: Environment, stack: str) -> None:
    runs = environment(stack)
    for manifest in ESTATE.apps.values():
        (deployment,) = runs[manifest.project].of_type("kubernetes:apps/v1:Deployment")
        pod = deployment.inputs["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["resources"]["limits"] == {"cpu": manifest.cpu, "memory": manifest.memory}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["image"] == manifest.image


@pytest.mark.parametrize("stack", CLOUD)
def test_cluster_reads_networking_through_its_stack_reference(environment: Environment, stack: str) -> None:
    runs = environment(stack)
    networking, cluster = runs[NETWORKING.project], runs[CLUSTER.project]
    assert cluster.references == [stack_name(NETWORKING.project, stack)]
    (eks,) = cluster.of_type("aws:eks/cluster:Cluster")
    (nodes,) = cluster.of_type("aws:eks/nodeGroup:NodeGroup")
    assert eks.inputs["vpcConfig"]["subnetIds"] == networking.exports["private_subnet_ids"]
    assert nodes.inputs["subnetIds"] == networking.exports["private_subnet_ids"]
    assert not set(networking.exports["public_subnet_ids"]) & set(nodes.inputs["subnetIds"])


@pytest.mark.parametrize("stack", CLOUD)
def test_apps_read_the_cluster_and_their_callees_through_stack_references(
    environment: Environment, stack: str
) -> None:
    runs = environment(stack)
    cluster = runs[CLUSTER.project].exports
    for manifest in ESTATE.apps.values():
        run = runs[manifest.project]
        callees = [ESTATE.apps[key] for key in manifest.calls]
        assert sorted(run.references) == sorted(
            [stack_name(CLUSTER.project, stack)] + [stack_name(callee.project, stack) for callee in callees]
        )
        (deployment,) = run.of_type("kubernetes:apps/v1:Deployment")
        env = {
            e["name"]: e.get("value")
            for e in deployment.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        for callee in callees:
            assert (
                env[f"{callee.team.upper()}_{callee.name.upper()}_URL"]
                == runs[callee.project].exports["endpoint"]
            )
        (role,) = run.of_type("aws:iam/role:Role")
        (trust,) = statements(policy_document(role, "assumeRolePolicy"))
        assert trust["Principal"]["Federated"] == cluster["oidc_provider_arn"]
        namespace = cluster["namespaces"][manifest.team]
        assert trust["Condition"]["StringEquals"] == {
            f"{cluster['oidc_issuer']}:sub": f"system:serviceaccount:{namespace}:{manifest.name}",
            f"{cluster['oidc_issuer']}:aud": "sts.amazonaws.com",
        }
        assert run.exports["namespace"] == namespace
        assert run.exports["calls"] == [callee.project for callee in callees]
        # Kubernetes objects go to the cluster from the contract, not to a default (ambient) provider.
        (provider,) = [r for r in run.resources if r.type == "pulumi:providers:kubernetes"]
        assert provider.inputs["kubeconfig"] == cluster["kubeconfig"]
        assert "kubeconfig" in provider.secret_inputs


@pytest.mark.parametrize("stack", CLOUD)
def test_network_policies_admit_exactly_the_declared_callers(environment: Environment, stack: str) -> None:
    runs = environment(stack)
    for manifest in ESTATE.apps.values():
        (policy,) = [
            p
            for p in runs[manifest.project].of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
            if p.inputs["metadata"]["name"] == manifest.name
        ]
        admitted = sorted(
            peer["podSelector"]["matchLabels"]["appofapps.io/app"]
            for rule in policy.inputs["spec"].get("ingress") or []
            for peer in rule["from"]
        )
        assert admitted == sorted(caller.project for caller in ESTATE.callers_of(manifest.key))


@pytest.mark.parametrize("stack", CLOUD)
def test_every_project_exports_exactly_its_contract(environment: Environment, stack: str) -> None:
    runs = environment(stack)
    contracts = [NETWORKING, CLUSTER, ROOT] + [app_contract(m.team, m.name) for m in ESTATE.apps.values()]
    assert sorted(runs) == sorted(contract.project for contract in contracts)
    for contract in contracts:
        run = runs[contract.project]
        assert set(run.exports) == set(contract.outputs), contract.project
        for key, kind in contract.outputs.items():
            assert isinstance(run.exports[key], kind), (contract.project, key)
        assert run.secret_exports == set(contract.secrets), contract.project


@pytest.mark.parametrize("stack", CLOUD)
def test_root_catalog_lists_every_app_from_its_own_stack(environment: Environment, stack: str) -> None:
    runs = environment(stack)
    catalog = runs[ROOT.project].exports["catalog"]
    assert sorted(catalog) == sorted(m.project for m in ESTATE.apps.values())
    assert sorted(runs[ROOT.project].references) == sorted(
        stack_name(m.project, stack) for m in ESTATE.apps.values()
    )
    for manifest in ESTATE.apps.values():
        entry, app = catalog[manifest.project], runs[manifest.project].exports
        assert entry == {
            "team": manifest.team,
            "owner": manifest.owner,
            "image": manifest.image,
            "endpoint": app["endpoint"],
            "depends_on": [ESTATE.apps[key].project for key in manifest.calls],
            "platform_outputs": app["platform_outputs"],
        }
        assert "platform-cluster.oidc_provider_arn" in entry["platform_outputs"]


@pytest.mark.parametrize("stack", ["local", *CLOUD])
def test_estate_yaml_declares_exactly_the_stacks_each_program_references(
    environment: Environment, stack: str
) -> None:
    runs = environment(stack)
    projects = discover(REPO_ROOT).projects
    for directory in (*PLATFORM, ROOT_DIR):
        project_dir = REPO_ROOT / directory
        project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]
        # As the orchestrator reads estate.yaml (depends_on, or depends_on_every_app for the root).
        declared = {ref.project for ref in projects[project].declared or []}
        referenced = sorted({name.split("/")[1] for name in runs[project].references})
        assert sorted(declared) == referenced, project


def test_missing_upstream_key_names_both_stacks_and_the_key(environment: Environment) -> None:
    runs = environment("staging")
    upstream = exports_by_stack({NETWORKING.project: runs[NETWORKING.project]})
    producer = stack_name(NETWORKING.project, "staging")
    upstream[producer] = {k: v for k, v in upstream[producer].items() if k != "private_subnet_ids"}
    with pytest.raises(UpstreamError) as caught:
        run_project(REPO_ROOT / "platform/cluster", "staging", upstream)
    message = str(caught.value)
    assert "platform-cluster/staging" in message and producer in message and "'private_subnet_ids'" in message


def test_never_deployed_upstream_says_so() -> None:
    with pytest.raises(
        UpstreamError, match=r"organization/platform-networking/staging.*has it been deployed"
    ):
        run_project(REPO_ROOT / "platform/cluster", "staging", {})
