"""Repay dispute creation: evidence streamed from S3 as `multipart/form-data`.

In-doubt rule: Repay opens a *second* dispute when the same one is posted twice (the deal
goes to `proceedingsN`), so a blind retry is a real duplicate. Before the first POST the
deal's state is kept on the record; after an attempt whose outcome we never learned, the
deal is read again, and if it entered a dispute state since, that dispute is ours.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import boto3
import requests
from requests_toolbelt import MultipartEncoder

from ...config import EvidenceSettings, WorkerSettings
from ...evidence import (
    EvidenceBucket,
    EvidenceRejected,
    EvidenceStream,
    EvidenceUnavailable,
)
from ...manifests import ManifestReader, QueueMessages
from ...models import Dispute, DisputeRecord, InvalidDispute
from ..base import (
    Accepted,
    Attempt,
    Call,
    CredentialsRejected,
    Prepared,
    ProviderAnswer,
    ProviderEndpoint,
    Rejected,
    Transient,
    transient_from_exception,
)
from . import SPEC
from .deals import DEALS_PATH, read_deal, repay_headers, with_error_text
from .models import EVIDENCE, RepayCredentials, RepayDisputeRequest

DISPUTES_PATH = DEALS_PATH + "/disputes"
_IN_DISPUTE = re.compile(r"^proceedings[0-9]*$")


class RepayProvider:
    name = SPEC.name

    def __init__(self, endpoint: ProviderEndpoint, evidence: EvidenceBucket) -> None:
        self._endpoint = endpoint
        self._evidence = evidence
        self._messages = QueueMessages(SPEC, ManifestReader(evidence, SPEC.name, RepayDisputeRequest))

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> RepayProvider:
        assert isinstance(settings, EvidenceSettings)  # SPEC.settings asks for them
        evidence = EvidenceBucket(settings, boto3.client("s3"), EVIDENCE)
        return cls(ProviderEndpoint.for_provider(SPEC, settings), evidence)

    # -- queue messages -------------------------------------------------------------------------
    def disputes_from_message(self, body: str) -> list[Dispute | InvalidDispute]:
        return self._messages.disputes_from_message(body)

    # -- submission -----------------------------------------------------------------------------
    def prepare(self, dispute: Dispute, record: DisputeRecord | None, call: Call) -> Prepared:
        """Before the claim: the evidence checked (refused before Repay hears of it), then the deal's
        state, which the claim's write keeps before a first POST and which, after an attempt whose
        answer was lost, proves that its dispute is there."""
        request = dispute.request
        assert isinstance(request, RepayDisputeRequest)
        credentials: RepayCredentials = self._endpoint.credentials(call)
        evidence = self._opened(request, dispute.evidence_etags)
        try:
            state, deal_answer = read_deal(self._endpoint, request.deal_id, credentials, call)
        except BaseException:
            evidence.close()
            raise
        before = record.provider_state_before if record else None
        in_doubt = bool(record and record.in_doubt)
        if in_doubt and before is not None and _in_dispute(state) and state != before:
            evidence.close()
            message = (
                f"the deal went from {before} to {state} after an attempt whose answer was lost: "
                "that dispute is ours; Repay's case id for it is unknown"
            )
            return Prepared(already_filed=Accepted(deal_answer.with_message(message)))
        return Prepared(keep={"provider_state_before": state} if before is None else {}, held=evidence)

    def submit(self, dispute: Dispute, attempt: Attempt, prepared: Prepared) -> Accepted:
        request = dispute.request
        assert isinstance(request, RepayDisputeRequest)
        assert isinstance(prepared.held, OpenedEvidence)
        credentials: RepayCredentials = self._endpoint.credentials(attempt)
        return self._post(request, prepared.held, credentials, attempt)

    def _opened(self, request: RepayDisputeRequest, etags: Mapping[str, str]) -> OpenedEvidence:
        """Each file opened once and checked, before Repay hears of the dispute; the pipeline closes
        them once the dispute is settled for this delivery."""
        try:
            return OpenedEvidence(self._evidence.open(request.evidence, request.reference, etags))
        except EvidenceRejected as error:
            raise Rejected(str(error)) from None
        except EvidenceUnavailable as error:
            raise Transient(str(error)) from None

    def _post(
        self,
        request: RepayDisputeRequest,
        evidence: OpenedEvidence,
        credentials: RepayCredentials,
        attempt: Attempt,
    ) -> Accepted:
        url = self._endpoint.base_url + DISPUTES_PATH.format(deal_id=quote(request.deal_id, safe=""))
        fields: list[tuple[str, Any]] = [
            ("files", (stream.filename, stream, stream.content_type)) for stream in evidence.streams
        ]
        fields.append(("new_amount", request.new_amount))
        body = MultipartEncoder(fields=fields)
        headers = {**repay_headers(credentials), "Content-Type": body.content_type}
        timeouts = self._endpoint.timeouts(attempt)
        attempt.mark_sending()
        try:
            response = self._endpoint.request("dispute", "POST", url, data=body, headers=headers, timeout=timeouts)
        except (requests.RequestException, EvidenceUnavailable) as error:
            if isinstance(error, EvidenceUnavailable):
                raise Transient(str(error), in_doubt=True) from None
            raise transient_from_exception(error, sent=True) from None
        return _outcome(response)


@dataclass(frozen=True)
class OpenedEvidence:
    """A dispute's evidence, opened and checked before the claim, streamed by its POST."""

    streams: list[EvidenceStream]

    def close(self) -> None:
        for stream in self.streams:
            stream.close()


def _outcome(response: requests.Response) -> Accepted:
    answer = with_error_text(ProviderAnswer.from_response(response))
    status = response.status_code
    if status in (401, 403):
        raise CredentialsRejected(f"Repay refused the credentials (HTTP {status})", answer)
    if status in (408, 429):
        raise Transient(f"Repay answered HTTP {status}", answer)
    if status >= 500:
        # A gateway can time out after Repay opened the dispute.
        raise Transient(f"Repay answered HTTP {status}", answer, in_doubt=True)
    if status >= 400:
        raise Rejected(f"Repay refused the dispute (HTTP {status}): {answer.message or 'no details'}", answer)
    payload = answer.body.get("payload") if isinstance(answer.body, dict) else None
    case_id = payload.get("id") if isinstance(payload, dict) else None
    if not isinstance(case_id, str) or not case_id:
        raise Transient(f"Repay answered HTTP {status} without a payload.id", answer, in_doubt=True)
    return Accepted(dataclasses.replace(answer, case_id=case_id))


def _in_dispute(state: str) -> bool:
    return bool(_IN_DISPUTE.match(state))
