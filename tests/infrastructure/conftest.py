"""Fixtures: template.yaml as written, and as CloudFormation sees it after the SAM transform."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "ap-southeast-1"


class _NoManagedPolicies:
    """Policy loader for the translator: the template names managed policies only by ARN,
    so no IAM lookup (and no AWS account) is needed."""

    def load(self) -> dict[str, str]:
        return {}


def _as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Point local code folders at S3, as `sam package` does, since the translator accepts only S3 URIs."""
    packaged = copy.deepcopy(template)
    for resource in packaged.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://artifacts/{properties[key].strip('/')}"
    return packaged


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def parameter_values(sam_template: dict[str, Any]) -> dict[str, Any]:
    """Every parameter at its default, plus the pseudo parameters a deployment would have."""
    values: dict[str, Any] = {
        name: spec["Default"] for name, spec in sam_template["Parameters"].items() if "Default" in spec
    }
    values.update({"AWS::Region": REGION, "AWS::Partition": "aws", "AWS::AccountId": "123456789012"})
    return values


@pytest.fixture(scope="session")
def cfn(sam_template: dict[str, Any], parameter_values: dict[str, Any]) -> dict[str, Any]:
    """The transformed CloudFormation template."""
    with pytest.MonkeyPatch.context() as mp:
        # The translator builds a boto3 session for the pseudo parameters; it must find a region.
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        return transform(_as_packaged(sam_template), dict(parameter_values), _NoManagedPolicies())


@pytest.fixture(scope="session")
def resources(cfn: dict[str, Any]) -> dict[str, Any]:
    return cfn["Resources"]
