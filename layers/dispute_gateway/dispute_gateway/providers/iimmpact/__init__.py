"""IIMMPACT Report Issue: `POST /v2/transactions/check`, a JSON body signed with the v1 HMAC scheme."""

from __future__ import annotations

from ..spec import ProviderSpec
from .models import NAME, IimmpactCredentials, IimmpactReportRequest

SPEC = ProviderSpec(
    name=NAME,
    title="IIMMPACT",
    request=IimmpactReportRequest,
    credentials=IimmpactCredentials,
    client=f"{__name__}.client:IimmpactProvider",
    default_base_url="https://api.iimmpact.com",
    reference_fields=("trxid", "refid"),
)
