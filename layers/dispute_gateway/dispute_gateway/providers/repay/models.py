"""Repay's dispute request (a command on its queue; with `provider` the API's body), the manifest
that files one from an upload, and its credentials."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ...evidence_keys import EvidenceManifest, EvidenceRequest, TakesEvidence
from ...models import Amount, DealId, EvidenceFile, ObjectKey, decimal_key

NAME: Final = "repay"
EVIDENCE: Final = TakesEvidence(prefix=f"{NAME}/", owner="deal")


class RepayEvidenceFile(EvidenceFile):
    """One evidence object of a Repay dispute: under `repay/{deal_id}/`."""

    key: Annotated[ObjectKey, WithJsonSchema(EVIDENCE.key_schema())]


class RepayManifest(EvidenceManifest):
    """`dispute.json`, written last into an evidence folder: the upload alone files the dispute."""

    new_amount: Amount


class RepayDisputeRequest(EvidenceRequest):
    evidence_place: ClassVar[TakesEvidence] = EVIDENCE
    manifest_model: ClassVar[type[EvidenceManifest]] = RepayManifest

    provider_name: Literal["repay"] = Field(NAME, alias="provider")
    deal_id: DealId
    new_amount: Amount
    evidence: list[RepayEvidenceFile] = Field(min_length=1, max_length=100)

    @property
    def reference(self) -> str:
        return self.deal_id

    @classmethod
    def from_manifest(cls, reference: str, manifest: Any, evidence_keys: list[str]) -> Self:
        return cls(
            deal_id=reference,
            new_amount=manifest.new_amount,
            evidence=[RepayEvidenceFile(key=key) for key in evidence_keys],
            idempotency_key=manifest.idempotency_key,
        )

    def normalised(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "deal_id": self.deal_id,
            "new_amount": decimal_key(self.new_amount),
            "evidence": sorted(
                (item.key, (item.content_type or "").lower(), item.filename or "") for item in self.evidence
            ),
        }


class RepayCredentials(BaseModel):
    """The secret's value: `{"api_key": "...", "origin": "<optional domain>"}` (CONTRACT section 2)."""

    # Built on the first secret read, which the API (importing every provider) never makes.
    model_config = ConfigDict(frozen=True, defer_build=True)

    api_key: str = Field(min_length=1)
    origin: str | None = None
