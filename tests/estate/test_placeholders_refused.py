"""Upstream serves contract placeholders in previews only: a deploy that finds the variable set refuses it."""

from __future__ import annotations

import pulumi
import pytest

from appofapps.contracts import NETWORKING
from appofapps.stackrefs import PLACEHOLDER_STACKS_VARIABLE, Upstream, UpstreamError, stack_name


def test_a_deploy_refuses_placeholders_even_when_the_variable_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    network = stack_name(NETWORKING.project, "staging")
    monkeypatch.setenv(PLACEHOLDER_STACKS_VARIABLE, f"organization/other/staging,{network}")
    # Not a preview: the refusal comes before any StackReference or placeholder value exists.
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: False)
    with pytest.raises(UpstreamError, match=rf"platform-cluster/staging: .*{network}.*previews only"):
        Upstream(NETWORKING, environment="staging", consumer="platform-cluster/staging")
