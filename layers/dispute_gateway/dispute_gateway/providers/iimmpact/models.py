"""IIMMPACT's request (its queue body; with `provider` the API's body) and its credentials."""

from __future__ import annotations

from typing import Any, Final, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ...models import DisputeRequest, EmailAddress, Identifier, as_error_details
from .signing import decode_signing_key

NAME: Final = "iimmpact"


class IimmpactReportRequest(DisputeRequest):
    provider_name: Literal["iimmpact"] = Field(NAME, alias="provider")
    refid: Identifier | None = None
    trxid: Identifier | None = None
    user_email: list[EmailAddress] = Field(default_factory=list, max_length=20)

    model_config = ConfigDict(
        json_schema_extra={
            # The schema says what the validator below enforces: a string refid or trxid.
            "anyOf": [{"required": [name], "properties": {name: {"type": "string"}}} for name in ("trxid", "refid")]
        }
    )

    @model_validator(mode="wrap")
    @classmethod
    def _names_a_transaction(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # A wrap validator, so that a missing reference is reported with every other problem
        # of the same body, not only once the fields themselves are valid.
        unnamed = isinstance(data, dict) and data.get("refid") is None and data.get("trxid") is None
        missing: list[InitErrorDetails] = [
            {
                "type": PydanticCustomError("reference_missing", "one of refid or trxid is required"),
                "loc": (name,),
                "input": data,
            }
            for name in ("trxid", "refid")
        ]
        try:
            request = handler(data)
        except ValidationError as error:
            if not unnamed:
                raise
            raise ValidationError.from_exception_data(cls.__name__, [*as_error_details(error), *missing]) from None
        if unnamed:
            raise ValidationError.from_exception_data(cls.__name__, missing)
        return request

    @property
    def reference(self) -> str:
        # IIMMPACT itself lets trxid take precedence when both are given.
        return self.trxid or self.refid or ""

    def normalised(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "refid": self.refid,
            "trxid": self.trxid,
            "user_email": sorted({email.lower() for email in self.user_email}),
        }

    def provider_body(self) -> dict[str, Any]:
        """The body IIMMPACT receives: only the fields it documents."""
        body: dict[str, Any] = {}
        if self.refid:
            body["refid"] = self.refid
        if self.trxid:
            body["trxid"] = self.trxid
        if self.user_email:
            body["user_email"] = list(dict.fromkeys(self.user_email))
        return body


class IimmpactCredentials(BaseModel):
    """The secret's value: `{"api_key": "...", "hmac_secret": "<base64>"}` (CONTRACT section 2)."""

    # Built on the first secret read, which the API (importing every provider) never makes.
    model_config = ConfigDict(frozen=True, defer_build=True)

    api_key: str = Field(min_length=1)
    hmac_secret: str = Field(min_length=1)

    @field_validator("hmac_secret")
    @classmethod
    def _base64(cls, value: str) -> str:
        decode_signing_key(value)
        return value

    @property
    def signing_key(self) -> bytes:
        return decode_signing_key(self.hmac_secret)
