"""Every Kubernetes object the estate declares is valid against the Kubernetes schemas, offline and strict.

Argo CD Applications are custom resources: test_estate_gitops.py checks them against Argo CD's own schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
from estate_mocks import Run

Environment = Callable[[str], dict[str, Run]]
# The EKS version the stack files pin; kubernetes-validate ships schemas per minor version.
KUBERNETES_VERSION = "1.33"


def objects(runs: dict[str, Run]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{run.project}: {resource.name}", dict(resource.inputs))
        for run in runs.values()
        for resource in run.managed
        if resource.type.startswith("kubernetes:") and not resource.type.startswith("kubernetes:argoproj.io/")
    ]


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_declared_kubernetes_objects_match_the_schemas(environment: Environment, stack: str) -> None:
    declared = objects(environment(stack))
    assert declared
    for where, manifest in declared:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{where}: {error.message} at {'.'.join(map(str, error.path))}")
