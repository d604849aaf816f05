"""Evidence is the core's: any number of providers may take it, each with its own place and limits.
A second one (here a copy of Repay's spec under another name, prefix and stricter limits) does not
stop the API: its uploads are presigned into its own folders and checked against its own limits."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Union

import boto3
import pytest
from moto import mock_aws
from pydantic import Field, TypeAdapter, ValidationError

from dispute_gateway.api_models import _upload_body
from dispute_gateway.config import EvidenceSettings
from dispute_gateway.disputes import UploadService
from dispute_gateway.evidence import EvidenceLimits
from dispute_gateway.providers import provider_spec

REPAY = provider_spec("repay")
assert REPAY.evidence is not None
OTHER = dataclasses.replace(
    REPAY,
    name="other",
    evidence=dataclasses.replace(
        REPAY.evidence, prefix="other/", max_files=3, max_file_bytes=2 * 1024 * 1024, allowed_types=("application/pdf",)
    ),
)
SETTINGS = EvidenceSettings.model_validate({"DISPUTES_TABLE": "t", "EVIDENCE_BUCKET": "evidence"})


def _bodies() -> TypeAdapter[Any]:
    union = Union[tuple(_upload_body(spec, only=False) for spec in (REPAY, OTHER))]  # noqa: UP007
    return TypeAdapter(Annotated[union, Field(discriminator="provider")])


def test_each_provider_gets_its_own_body_and_limits_in_the_document():
    schema = _bodies().json_schema()
    other = schema["$defs"]["OtherEvidenceUploadBody"]
    assert other["properties"]["files"]["maxItems"] == 3
    declared = schema["$defs"]["OtherDeclaredFile"]["properties"]
    assert declared["size"]["maximum"] == 2 * 1024 * 1024 and declared["content_type"]["enum"] == ["application/pdf"]
    assert set(schema["$defs"]["RepayEvidenceUploadBody"]["required"]) >= {"provider", "reference", "files"}


def test_with_two_evidence_providers_the_provider_is_required():
    with pytest.raises(ValidationError) as error:
        _bodies().validate_python({"reference": "D-1", "files": []})
    assert error.value.errors()[0]["loc"] == ()  # the union's tag: the API answers naming `provider`


def test_limits_are_the_stricter_of_the_deployment_and_the_provider():
    assert OTHER.evidence is not None and REPAY.evidence is not None
    limits = EvidenceLimits.of(SETTINGS, OTHER.evidence)
    assert (limits.max_files, limits.max_file_bytes, limits.allowed_types) == (3, 2 * 1024 * 1024, {"application/pdf"})
    assert EvidenceLimits.of(SETTINGS, REPAY.evidence).max_files == SETTINGS.evidence_max_files


@mock_aws
def test_uploads_go_to_each_providers_own_folder_within_its_own_limits():
    boto3.client("s3", region_name="ap-southeast-1")
    assert OTHER.evidence is not None and REPAY.evidence is not None
    service = UploadService(
        SETTINGS,
        boto3.client("s3", region_name="ap-southeast-1"),
        900,
        {"repay": REPAY.evidence, "other": OTHER.evidence},
    )
    body = _bodies().validate_python(
        {
            "provider": "other",
            "reference": "D-1",
            "files": [{"filename": "a.pdf", "content_type": "application/pdf", "size": 5}],
        }
    )
    assert service.presign(body).folder.startswith("other/D-1/")
    too_many = {
        "provider": "other",
        "files": [{"filename": f"{n}.pdf", "content_type": "image/png", "size": 5} for n in range(4)],
    }
    problems = {(p.field, p.message) for p in service.problems(too_many)}
    assert ("files", "4 files, more than the 3 allowed") in problems
    assert ("files.0.content_type", "image/png is not allowed: send one of application/pdf") in problems
