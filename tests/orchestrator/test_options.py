"""Run options refuse what they cannot mean, before any engine runs."""

from __future__ import annotations

import pytest

from appofapps.orchestrator import Operation, RunOptions


def test_an_operation_given_as_text_becomes_that_operation() -> None:
    assert RunOptions(operation="deploy").operation is Operation.DEPLOY  # type: ignore[arg-type]
    assert RunOptions(operation="preview").operation is Operation.PREVIEW  # type: ignore[arg-type]


def test_an_unknown_operation_is_refused_rather_than_run_as_another() -> None:
    with pytest.raises(ValueError, match="'apply' is not a valid Operation"):
        RunOptions(operation="apply")  # type: ignore[arg-type]
