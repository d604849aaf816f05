"""The interface every provider implements, and the outcomes the pipeline understands.

The pipeline never names a provider: it asks a provider to read a queue message and to
submit a dispute, and acts on the outcome type alone.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import requests

from ..config import ProviderSettings
from ..json_depth import check_depth
from ..models import Dispute, DisputeRecord, InvalidDispute, Resolution
from ..observability import logger, record_provider_latency
from ..retries import retry_after_seconds
from ..secrets import CredentialsUnavailable, ProviderSecret
from ..transport import Deadline, http_session, redirect_host

if TYPE_CHECKING:
    from .spec import ProviderSpec

# What of a provider's answer the record keeps: the record's own levels leave 30 of DynamoDB's 32
# for the answer, and 64 KiB leaves room for the rest of a 400 KB item.
_STORED_DEPTH = 30
_STORED_TEXT = 64 * 1024


@dataclass(frozen=True)
class ProviderAnswer:
    """What the provider said, kept on the record as received."""

    http_status: int | None = None
    body: Any = None
    message: str | None = None
    case_id: str | None = None
    # Seconds the provider asked us to wait (`Retry-After`); not kept on the record.
    retry_after: float | None = None

    @classmethod
    def from_response(cls, response: requests.Response) -> ProviderAnswer:
        """The answer as received; kept as text when it could not be stored as a map in the record:
        DynamoDB refuses maps nested more than 32 levels and items over 400 KB, and Python's parser
        recurses once per level."""
        text = response.text
        try:
            check_depth(text, "the provider's answer", _STORED_DEPTH)
            body: Any = response.json()
        except (ValueError, RecursionError):
            body = text
        if isinstance(body, str) and len(body) > _STORED_TEXT:
            body = body[:_STORED_TEXT] + " [cut: the answer was longer]"
        elif len(response.content) > _STORED_TEXT:
            body = text[:_STORED_TEXT] + " [cut: the answer was longer]"
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return cls(http_status=response.status_code, body=body, retry_after=retry_after)

    def with_message(self, message: str | None) -> ProviderAnswer:
        return dataclasses.replace(self, message=message)

    def record_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "provider_http_status": self.http_status,
            "provider_response": self.body,
            "provider_message": self.message,
            "provider_case_id": self.case_id,
        }
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True)
class Accepted:
    answer: ProviderAnswer


class ProviderError(Exception):
    def __init__(self, reason: str, answer: ProviderAnswer | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.answer = answer or ProviderAnswer()


class Rejected(ProviderError):
    """Refused for good: never sent again."""

    @property
    def by_provider(self) -> bool:
        """False when the gateway refused it itself (e.g. its evidence) and the provider never answered."""
        return self.answer.http_status is not None


class Transient(ProviderError):
    """Worth another delivery. `in_doubt`: the request may have reached the provider."""

    def __init__(self, reason: str, answer: ProviderAnswer | None = None, *, in_doubt: bool = False) -> None:
        super().__init__(reason, answer)
        self.in_doubt = in_doubt


class ProviderRedirected(Transient):
    """The provider answered a redirect, which is never followed: it did not take the request (not
    in doubt), and the next delivery tries again, so nothing is lost while its base URL is put right."""

    def __init__(self, title: str, host: str, answer: ProviderAnswer, base_url_variable: str) -> None:
        reason = (
            f"{title} answered HTTP {answer.http_status}, a redirect to {host}; redirects are never "
            f"followed, so nothing was sent there: check {base_url_variable}"
        )
        super().__init__(reason, answer)
        self.host = host


class CredentialsRejected(Transient):
    """401/403: the secret may have been rotated; fetch it again once before giving up."""


class UnreadableMessage(Exception):
    """A queue message that names no transaction: it goes to the dead-letter queue as it is."""


@dataclass
class Call:
    """A call to a provider: the time it may take, and whether the secret must be read afresh."""

    deadline: Deadline
    fresh_credentials: bool = field(default=False, kw_only=True)


@dataclass
class Attempt(Call):
    """One try at sending a claimed dispute. The claim already counted its POST and marked its
    outcome unknown, so a crash mid-call leaves that evidence; `sent` says whether it left."""

    # An earlier POST may have reached the provider without its answer reaching us.
    earlier_outcome_unknown: bool = field(default=False, kw_only=True)
    sent: bool = field(default=False, init=False)

    def mark_sending(self) -> None:
        """Called right before the POST leaves: from here its outcome is unknown until answered."""
        self.sent = True


@dataclass(frozen=True)
class Prepared:
    """What a provider learned before the claim, with the record as read: facts to keep, which the
    claim's own write stores before any POST (`keep`), or that the dispute an earlier attempt
    whose answer was lost sent is there already (`already_filed`: nothing is sent again).

    `held`: what it opened for its POST (e.g. checked evidence), handed to `submit`; the pipeline
    closes it (if it can be closed) whatever happens."""

    keep: Mapping[str, Any] = field(default_factory=dict)
    already_filed: Accepted | None = None
    held: Any = None

    def close(self) -> None:
        close = getattr(self.held, "close", None)
        if callable(close):
            close()


class MessageReader(Protocol):
    def disputes_from_message(self, body: str) -> list[Dispute | InvalidDispute]:
        """The disputes a queue message asks for; raises UnreadableMessage if it names none."""
        ...


class DisputeProvider(MessageReader, Protocol):
    name: str

    def prepare(self, dispute: Dispute, record: DisputeRecord | None, call: Call) -> Prepared:
        """Before the dispute is claimed (`record` as read, None if new): what to keep with the
        claim, or that it is already filed. Raises Rejected or Transient."""
        ...

    def submit(self, dispute: Dispute, attempt: Attempt, prepared: Prepared) -> Accepted:
        """Send the dispute once, with what `prepare` held for it; raises Rejected or Transient."""
        ...


@dataclass(frozen=True)
class Outcome:
    """What the provider says became of a dispute: its state of the transaction and what it means."""

    state: str
    resolution: Resolution  # open while the provider is still deciding
    answer: ProviderAnswer
    amount: str | None = None  # won: the amount settled


class OutcomeChecker(Protocol):
    name: str

    def outcome(self, record: DisputeRecord, call: Call) -> Outcome:
        """What became of the submitted dispute; raises Rejected, Transient or CredentialsRejected."""
        ...


class ProviderEndpoint:
    """What every HTTP provider shares: its base URL, secret, session and time-outs."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        secret: ProviderSecret[Any],
        session: requests.Session,
        *,
        connect_timeout: float,
        read_timeout: float,
        title: str | None = None,
        base_url_variable: str = "the provider's base URL",
    ) -> None:
        self.provider = provider
        self.title = title or provider
        self.base_url_variable = base_url_variable
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.session = session
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    @classmethod
    def for_provider(cls, spec: ProviderSpec, settings: ProviderSettings) -> ProviderEndpoint:
        return cls(
            spec.name,
            settings.base_url,
            ProviderSecret(settings.provider_secret_id, spec.credentials, settings.secret_max_age_seconds),
            http_session(settings.worker_concurrency),
            connect_timeout=settings.connect_timeout_seconds,
            read_timeout=settings.read_timeout_seconds,
            title=spec.title,
            base_url_variable=spec.base_url_variable,
        )

    def credentials(self, call: Call) -> Any:
        try:
            return self.secret.get(refresh=call.fresh_credentials)
        except CredentialsUnavailable as error:
            raise Transient(str(error)) from None

    def request(self, operation: str, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP call to the provider; its duration is recorded per provider and operation.

        Never follows a redirect (credentials go only to the configured host, CONTRACT section 7): a
        3xx raises ProviderRedirected, whatever session the endpoint was given."""
        started = time.perf_counter()
        try:
            response = self.session.request(method, url, **{**kwargs, "allow_redirects": False})
        finally:
            record_provider_latency(self.provider, operation, (time.perf_counter() - started) * 1000)
        if 300 <= response.status_code < 400:
            host = redirect_host(response)
            logger.warning(
                "Provider redirect not followed",
                extra={"operation": operation, "http_status": response.status_code, "redirect_host": host},
            )
            answer = ProviderAnswer.from_response(response)
            raise ProviderRedirected(self.title, host, answer, self.base_url_variable)
        return response

    def timeouts(self, call: Call) -> tuple[float, float]:
        timeouts = call.deadline.timeouts(self.connect_timeout, self.read_timeout)
        if timeouts is None:
            raise Transient("too little time left in this invocation to call the provider")
        return timeouts


def transient_from_exception(error: requests.RequestException, sent: bool) -> Transient:
    """Map a transport failure; any failure after the request may have left is in doubt."""
    name = type(error).__name__
    if isinstance(error, requests.ConnectTimeout | requests.exceptions.SSLError):
        return Transient(f"could not connect to the provider ({name})", in_doubt=False)
    if isinstance(error, requests.ConnectionError) and _refused_before_sending(error):
        return Transient(f"could not connect to the provider ({name})", in_doubt=False)
    if isinstance(error, requests.Timeout):
        return Transient(f"the provider did not answer in time ({name})", in_doubt=sent)
    return Transient(f"the connection to the provider failed ({name})", in_doubt=sent)


def _refused_before_sending(error: requests.ConnectionError) -> bool:
    text = str(error)
    return any(marker in text for marker in ("Connection refused", "NewConnectionError", "Name or service not known"))


def json_bytes(payload: Any) -> bytes:
    """Serialised once: the bytes signed are the bytes sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
