"""Fixtures for the estate's mock tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from estate_mocks import Run
from estate_runs import run_environment

_CACHE: dict[str, dict[str, Run]] = {}


@pytest.fixture(scope="session")
def environment() -> Callable[[str], dict[str, Run]]:
    """``environment("staging")`` -> project -> Run; each environment is run once per session."""

    def get(stack: str) -> dict[str, Run]:
        if stack not in _CACHE:
            _CACHE[stack] = run_environment(stack)
        return _CACHE[stack]

    return get
