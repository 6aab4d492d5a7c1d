"""Upstream serves contract placeholders in previews only: a deploy that finds the variable set refuses it."""

from __future__ import annotations

import pytest
from estate_mocks import REPO_ROOT, run_project

from appofapps.contracts import NETWORKING
from appofapps.stackrefs import PLACEHOLDER_STACKS_VARIABLE, UpstreamError, stack_name


def test_a_deploy_refuses_placeholders_even_when_the_variable_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    network = stack_name(NETWORKING.project, "staging")
    monkeypatch.setenv(PLACEHOLDER_STACKS_VARIABLE, network)
    with pytest.raises(UpstreamError, match=rf"platform-cluster/staging.*{network}.*previews only"):
        run_project(REPO_ROOT / "platform/cluster", "staging", {})
