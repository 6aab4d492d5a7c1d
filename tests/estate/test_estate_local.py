"""`local` under mocks: the same programs with AWS switched off, Kubernetes objects going to the renderer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from engine_helpers import REPO_ROOT
from estate_mocks import Run, exports_by_stack, run_project
from estate_runs import LOCAL_SECRET_VALUE

from appofapps.config import ConfigError
from appofapps.contracts import CLOUD_NONE, CLUSTER, NETWORKING
from appofapps.manifest import load_estate
from appofapps.stackrefs import UpstreamError

Environment = Callable[[str], dict[str, Run]]
ESTATE = load_estate(REPO_ROOT)
# The root's Argo CD Applications are counted and validated in test_estate_gitops.py.
ARGO_CD_TYPES = "kubernetes:argoproj.io/"


def test_local_creates_no_aws_resources_and_marks_its_contracts_local(environment: Environment) -> None:
    runs = environment("local")
    for run in runs.values():
        assert [r.type for r in run.resources if r.type.startswith(("aws:", "pulumi:providers:aws"))] == [], (
            run.project
        )
    networking = runs[NETWORKING.project].exports
    assert networking["cloud"] == CLOUD_NONE and networking["nat_gateway_count"] == 0
    assert all(str(v).startswith("local-") for v in [networking["vpc_id"], *networking["private_subnet_ids"]])
    cluster = runs[CLUSTER.project].exports
    assert cluster["cloud"] == CLOUD_NONE and cluster["oidc_provider_arn"] == ""
    assert all(runs[m.project].exports["role_arn"] == "" for m in ESTATE.apps.values())


def test_local_kubernetes_objects_are_rendered_to_a_directory_per_stack(environment: Environment) -> None:
    runs = environment("local")
    rendered = 0
    for run in runs.values():
        providers = [r for r in run.resources if r.type == "pulumi:providers:kubernetes"]
        objects = [r for r in run.managed if r.type.startswith("kubernetes:")]
        if not objects:
            continue
        # One directory per stack; the root keeps its Argo CD Applications in subdirectories of its own.
        own = REPO_ROOT / ".rendered" / "local" / run.project
        for provider in providers:
            # Relative to the program's directory, so the state is the same in every clone.
            rendered_to = Path(provider.inputs["renderYamlToDirectory"])
            assert not rendered_to.is_absolute(), provider.inputs
            assert (Path.cwd() / rendered_to).resolve().is_relative_to(own), provider.inputs
        for resource in objects:
            assert resource.provider and "pulumi:providers:kubernetes" in resource.provider
            assert resource.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
        rendered += len([r for r in objects if not r.type.startswith(ARGO_CD_TYPES)])
    # Two teams x (namespace, default-deny, allow-dns, quota) + per app 6 objects + a Secret per app with secrets.
    with_secrets = sum(1 for m in ESTATE.apps.values() if m.secrets)
    assert rendered == len(ESTATE.teams) * 4 + len(ESTATE.apps) * 6 + with_secrets


def test_local_secret_values_come_from_encrypted_config_as_secrets(environment: Environment) -> None:
    runs = environment("local")
    for manifest in ESTATE.apps.values():
        secrets = runs[manifest.project].of_type("kubernetes:core/v1:Secret")
        if not manifest.secrets:
            assert secrets == []
            continue
        (secret,) = secrets
        assert secret.inputs["stringData"] == dict.fromkeys(manifest.secrets, LOCAL_SECRET_VALUE)
        assert "stringData" in secret.secret_inputs


def test_local_app_without_its_secret_value_names_stack_file_and_key(environment: Environment) -> None:
    runs = environment("local")
    ledger = ESTATE.apps["payments/ledger"]
    with pytest.raises(ConfigError, match=r"^Pulumi\.local\.yaml: secret:signing-key is required"):
        run_project(ledger.path.parent, "local", exports_by_stack(runs))


def test_cloud_cluster_on_a_local_network_is_refused(environment: Environment) -> None:
    local_network = exports_by_stack({NETWORKING.project: environment("local")[NETWORKING.project]})
    staged = {name.replace("/local", "/staging"): outputs for name, outputs in local_network.items()}
    with pytest.raises(
        UpstreamError,
        match=r"platform-cluster/staging has cloud 'aws' but .*platform-networking/staging has 'none'",
    ):
        run_project(REPO_ROOT / "platform/cluster", "staging", staged)
