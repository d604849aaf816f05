"""Repay dispute creation: evidence from S3 streamed as `multipart/form-data` to
`POST /api/v1/external/deals/{deal_id}/disputes`, from commands and from S3 uploads."""

from __future__ import annotations

from ...config import EvidenceSettings
from .. import ProviderSpec, TakesEvidence
from .models import NAME, RepayCredentials, RepayDisputeRequest

SPEC = ProviderSpec(
    name=NAME,
    title="Repay",
    request=RepayDisputeRequest,
    credentials=RepayCredentials,
    client=f"{__name__}.client:RepayProvider",
    default_base_url="https://repay.cx",
    reference_fields=("deal_id",),
    settings=(EvidenceSettings,),
    evidence=TakesEvidence(prefix=f"{NAME}/"),
    outcomes=f"{__name__}.outcomes:RepayOutcomes",
    messages=f"{__name__}.client:RepayMessages",
)
