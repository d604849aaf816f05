"""Fixtures: template.yaml as written, and as CloudFormation sees it after the SAM transform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local.aws.template import DEFAULT_REGION as REGION
from local.aws.template import TEMPLATE, default_parameters, pseudo_parameters, read_template, sam_transform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return read_template(TEMPLATE)


@pytest.fixture(scope="session")
def parameter_values(sam_template: dict[str, Any]) -> dict[str, Any]:
    """Every parameter at its default, plus the pseudo parameters a deployment would have."""
    return {**default_parameters(sam_template), **pseudo_parameters(REGION)}


@pytest.fixture(scope="session")
def cfn(sam_template: dict[str, Any], parameter_values: dict[str, Any]) -> dict[str, Any]:
    """The transformed CloudFormation template."""
    return sam_transform(sam_template, parameter_values, REGION)


@pytest.fixture(scope="session")
def resources(cfn: dict[str, Any]) -> dict[str, Any]:
    return cfn["Resources"]
