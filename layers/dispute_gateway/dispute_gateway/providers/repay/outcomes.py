"""What became of a Repay dispute: the deal's state, read with `GET /api/v1/external/deals/{deal_id}`.

After a dispute the deal sits in `proceedings` (or `proceedingsN` for a repeated one) until
Repay's office decides: `completed` (won: the payment is recognised, at the deal's `amount`
then, which may differ from the original and from the dispute's `new_amount`) or
`reject_by_office` (lost, "cancelled in dispute"). Any other state is recorded and left open.
"""

from __future__ import annotations

from ...config import ProviderSettings
from ...models import DisputeRecord, Resolution, plain_decimal
from ..base import Call, Outcome, ProviderEndpoint
from . import SPEC
from .deals import deal_payload, read_deal
from .models import RepayCredentials

WON, LOST = "completed", "reject_by_office"


class RepayOutcomes:
    name = SPEC.name

    def __init__(self, endpoint: ProviderEndpoint) -> None:
        self._endpoint = endpoint

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> RepayOutcomes:
        return cls(ProviderEndpoint.for_provider(SPEC, settings))

    def outcome(self, record: DisputeRecord, call: Call) -> Outcome:
        credentials: RepayCredentials = self._endpoint.credentials(call)
        state, answer = read_deal(self._endpoint, record.reference, credentials, call)
        if state == WON:
            return Outcome(state, Resolution.WON, answer, _amount(deal_payload(answer).get("amount")))
        if state == LOST:
            return Outcome(state, Resolution.LOST, answer)
        return Outcome(state, Resolution.OPEN, answer)


def _amount(value: object) -> str | None:
    try:
        return plain_decimal(value)
    except ValueError:
        return str(value) if value is not None else None
