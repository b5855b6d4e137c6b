"""Shared set-up for the infrastructure tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pulumi-aws imports its own deprecated V2 modules at import time; those warnings are about the
    # package, not about this program (test_program checks the program uses nothing deprecated).
    config.addinivalue_line(
        "filterwarnings", r"ignore:.*deprecated in favor of:DeprecationWarning:pulumi_aws\..*"
    )
