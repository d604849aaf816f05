"""API Gateway's JWT authorizer for the local HTTP API: a route the template puts behind one gets a
request only with a token API Gateway would take, and the function gets its claims as API Gateway
passes them.

As API Gateway checks it (https://docs.aws.amazon.com/apigateway/latest/developerguide/
http-api-jwt-authorizer.html): the token from the identity source (the Authorization header,
with or without "Bearer "), its `kid` in the issuer's JWKS and its RS256 signature, `iss` equal
to the issuer, `aud` (or, without one, `client_id`, as Cognito's access tokens carry) among the
audience, `exp` not passed, `nbf` and `iat` not ahead. Refused: 401 `{"message":"Unauthorized"}`.
Passed on: requestContext.authorizer.jwt, `claims` each a string (a list written "[a b]") and
`scopes` from the `scope` claim.

The issuer's JWKS is read from the embedded AWS (moto serves a pool's keys and signs its tokens).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

_LEEWAY_SECONDS = 0
# moto serves every service on one endpoint: a request naming Cognito's signing scope reaches it.
_COGNITO_HINT = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/cognito-idp/aws4_request, SignedHeaders=host, Signature=0"
)


class Unauthorized(Exception):
    """API Gateway would answer 401; the reason goes to its www-authenticate header."""


@dataclass(frozen=True)
class JwtAuthorizer:
    name: str
    issuer: str
    audience: tuple[str, ...]
    identity_source: str  # e.g. $request.header.Authorization
    keys: Callable[[], KeySet]
    now: Callable[[], float] = time.time

    def authorize(self, headers: Mapping[str, str]) -> dict[str, Any]:
        """What API Gateway passes on as requestContext.authorizer.jwt; Unauthorized if it would not."""
        token = self._token(headers)
        try:
            decoded = jwt.decode(token, self.keys(), algorithms=["RS256"])
        except (JoseError, ValueError) as error:
            raise Unauthorized(f"the token could not be verified ({type(error).__name__})") from None
        claims = dict(decoded.claims)
        self._check(claims)
        scope = claims.get("scope")
        return {
            "claims": {name: _as_string(value) for name, value in claims.items()},
            "scopes": str(scope).split() if scope else None,
        }

    def _token(self, headers: Mapping[str, str]) -> str:
        header = self.identity_source.removeprefix("$request.header.").lower()
        value = {name.lower(): item for name, item in headers.items()}.get(header, "").strip()
        token = value[len("bearer ") :].strip() if value.lower().startswith("bearer ") else value
        if not token:
            raise Unauthorized("no token")
        return token

    def _check(self, claims: dict[str, Any]) -> None:
        now = self.now()
        if claims.get("iss") != self.issuer:
            raise Unauthorized("the token has an invalid issuer")
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(item in self.audience for item in audiences):
            raise Unauthorized("the token has an invalid audience")
        expiry = claims.get("exp")
        if not isinstance(expiry, int | float) or expiry + _LEEWAY_SECONDS <= now:
            raise Unauthorized("the token has expired")
        for name in ("nbf", "iat"):
            moment = claims.get(name)
            if isinstance(moment, int | float) and moment - _LEEWAY_SECONDS > now:
                raise Unauthorized(f"the token's {name} is in the future")


@dataclass
class IssuerKeys:
    """The JWKS of a Cognito issuer, read from the embedded AWS once and kept."""

    endpoint_url: str
    issuer: str
    region: str
    _keys: KeySet | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __call__(self) -> KeySet:
        with self._lock:
            if self._keys is None:
                pool = self.issuer.rstrip("/").rsplit("/", 1)[-1]
                answer = requests.get(
                    f"{self.endpoint_url}/{pool}/.well-known/jwks.json",
                    headers={"Authorization": _COGNITO_HINT.format(region=self.region)},
                    timeout=10,
                )
                answer.raise_for_status()
                self._keys = KeySet.import_key_set(json.loads(answer.text))
            return self._keys


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_as_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
