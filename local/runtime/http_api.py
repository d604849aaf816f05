"""The event API Gateway's HTTP API sends a Lambda proxy integration (payload format 2.0).

Built as API Gateway builds it: header names lower-cased, repeated headers and query
parameters joined with commas, cookies moved out of the headers, optional keys left out when
empty; on an IAM-authorized route, the signing identity in requestContext.authorizer.iam; on a
route behind a JWT authorizer, the token's claims in requestContext.authorizer.jwt.
Used by the local API (`local.runtime.gateway`) and to write the sample events (`local.api_samples`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from local.aws.template import DEFAULT_REGION, LOCAL_ACCOUNT
from local.runtime.routes import IAM, match_path

QueryValues = Mapping[str, str | Sequence[str]]
Body = str | bytes | Mapping[str, Any] | list[Any] | None
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# What a sample or a test sees unless it names its own; documentation addresses (RFC 5737).
SAMPLE_API_ID = "a1b2c3d4e5"
LOCAL_SOURCE_IP = "192.0.2.10"
LOCAL_USER_AGENT = "dispute-gateway-local"


@dataclass(frozen=True)
class IamCaller:
    """The SigV4-signing identity API Gateway reports in requestContext.authorizer.iam."""

    access_key: str
    account_id: str
    user_id: str
    user_arn: str
    principal_org_id: str | None = None

    def authorizer(self) -> dict[str, Any]:
        return {
            "iam": {
                "accessKey": self.access_key,
                "accountId": self.account_id,
                "callerId": self.user_id,
                "cognitoIdentity": None,
                "principalOrgId": self.principal_org_id,
                "userArn": self.user_arn,
                "userId": self.user_id,
            }
        }


def local_caller(account: str = LOCAL_ACCOUNT) -> IamCaller:
    return IamCaller(
        access_key="AKIAIOSFODNN7EXAMPLE",  # AWS's documentation example key: never a real one
        account_id=account,
        user_id="AIDAJQABLZS4A3QDU576Q",
        user_arn=f"arn:aws:iam::{account}:user/dispute-gateway-caller",
    )


def api_gateway_event(
    method: str,
    path_template: str,
    path: str,
    *,
    body: Body = None,
    headers: Mapping[str, str] | None = None,
    query: QueryValues | None = None,
    path_parameters: Mapping[str, str] | None = None,
    route_key: str | None = None,
    authorization: str = IAM,
    caller: IamCaller | None = None,
    api_id: str = SAMPLE_API_ID,
    account: str = LOCAL_ACCOUNT,
    region: str = DEFAULT_REGION,
    source_ip: str = LOCAL_SOURCE_IP,
    request_id: str | None = None,
    time_epoch_ms: int | None = None,
    jwt: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event API Gateway's Lambda proxy integration (payload 2.0) sends for a request on `path`
    that took the route `method path_template`. Optional keys are left out when empty, as API
    Gateway does; `request_id` and `time_epoch_ms` make the event reproducible. `jwt`: what a JWT
    authorizer passes on, {"claims": {...}, "scopes": [...] or None} (see `local.runtime.jwt_authorizer`)."""
    method = method.upper()
    request_id = request_id or new_request_id()
    epoch_ms = time_epoch_ms if time_epoch_ms is not None else int(time.time() * 1000)
    caller = caller or local_caller(account)
    domain = f"{api_id}.execute-api.{region}.amazonaws.com"
    text, base64_encoded = _body_text(body)
    request_headers = _headers(headers, body, text, base64_encoded)
    if authorization == IAM:
        signed_at = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch_ms // 1000))
        request_headers.setdefault("x-amz-date", signed_at)
        signed = ";".join(sorted({"host", "x-amz-date", *({"content-type"} & request_headers.keys())}))
        request_headers.setdefault("authorization", _sigv4_header(caller, region, signed_at[:8], signed, request_id))
    request_headers.update(
        {
            "host": domain,
            "x-amzn-trace-id": f"Root=1-{epoch_ms // 1000:08x}-{_digest(request_id)[:24]}",
            "x-forwarded-for": source_ip,
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        }
    )
    cookies = request_headers.pop("cookie", None)
    key = route_key or f"{method} {path_template}"
    context: dict[str, Any] = {
        "accountId": account,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": api_id,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": request_headers["user-agent"],
        },
        "requestId": request_id,
        "routeKey": key,
        "stage": "$default",
        "time": _clf_time(epoch_ms),
        "timeEpoch": epoch_ms,
    }
    if authorization == IAM:
        context["authorizer"] = caller.authorizer()
    elif jwt is not None:
        context["authorizer"] = {"jwt": dict(jwt)}
    pairs = query_pairs(query)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": key,
        "rawPath": path,
        "rawQueryString": urlencode(pairs, quote_via=quote),
        "headers": dict(sorted(request_headers.items())),
        "requestContext": context,
        "isBase64Encoded": base64_encoded,
    }
    if cookies:
        event["cookies"] = [cookie.strip() for cookie in cookies.split(";") if cookie.strip()]
    if pairs:
        # Repeated names arrive joined with commas, in the order given.
        event["queryStringParameters"] = {name: ",".join(values) for name, values in grouped(pairs).items()}
    parameters = dict(path_parameters) if path_parameters is not None else match_path(path_template, path)
    if parameters:
        event["pathParameters"] = parameters
    if text is not None:
        event["body"] = text
    return event


def new_request_id() -> str:
    # API Gateway's request ids look like "JKJaXmPLvHcESHA=": 11 random bytes in base64.
    return base64.b64encode(secrets.token_bytes(11)).decode()


def _body_text(body: Body) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    if isinstance(body, str):
        return body, False
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            return base64.b64encode(body).decode(), True
    return json.dumps(body), False


def _headers(headers: Mapping[str, str] | None, body: Body, text: str | None, base64_encoded: bool) -> dict[str, str]:
    # HTTP APIs lower-case header names and join repeated ones with commas.
    merged: dict[str, str] = {}
    for name, value in (headers or {}).items():
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else str(value)
    if text is not None:
        size = len(base64.b64decode(text)) if base64_encoded else len(text.encode())
        merged.setdefault("content-length", str(size))
    if body is not None and not isinstance(body, str | bytes):
        merged.setdefault("content-type", "application/json")
    merged.setdefault("user-agent", LOCAL_USER_AGENT)
    return merged


def query_pairs(query: QueryValues | None) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in (query or {}).items():
        values = [value] if isinstance(value, str) else list(value)
        pairs.extend((name, str(item)) for item in values)
    return pairs


def grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def _sigv4_header(caller: IamCaller, region: str, date: str, signed_headers: str, request_id: str) -> str:
    # Shaped as a real SigV4 header; API Gateway checked it before invoking, so its value is opaque here.
    return (
        f"AWS4-HMAC-SHA256 Credential={caller.access_key}/{date}/{region}/execute-api/aws4_request, "
        f"SignedHeaders={signed_headers}, Signature={_digest(request_id)}"
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _clf_time(epoch_ms: int) -> str:
    # Common Log Format, as requestContext.time; English month names whatever the locale.
    moment = time.gmtime(epoch_ms // 1000)
    clock = time.strftime("%H:%M:%S", moment)
    return f"{moment.tm_mday:02d}/{_MONTHS[moment.tm_mon - 1]}/{moment.tm_year}:{clock} +0000"
