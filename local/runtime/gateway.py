"""API Gateway's HTTP API in front of the local functions (`local.runtime.http_server` puts it on a port).

`LocalHttpApi.call` is what API Gateway does between a signed request and the caller's answer:
it picks the route as API Gateway does, builds the payload 2.0 event, invokes the route's
function and turns what the function returns into the status, headers and body the caller
gets. IAM authorization is taken as granted: the event carries a local caller's identity, as
an authorized request would. A route behind a JWT authorizer is checked as API Gateway checks
it (see `local.runtime.jwt_authorizer`): without a valid token the caller gets 401 and the
function is not invoked.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote

from local.aws.template import DEFAULT_REGION, LOCAL_ACCOUNT
from local.runtime.http_api import Body, QueryValues, api_gateway_event, grouped, new_request_id, query_pairs
from local.runtime.jwt_authorizer import JwtAuthorizer, Unauthorized
from local.runtime.routes import HttpRoute, select_route

_log = logging.getLogger(__name__)


class ApiAnswer(NamedTuple):
    """What the caller gets: header names in lower case, the body parsed if it is JSON (else its text)."""

    status: int
    headers: dict[str, str]
    body: Any


class RawAnswer(NamedTuple):
    """What goes back over the wire: header names in lower case, each cookie its own Set-Cookie."""

    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes

    def parsed(self) -> ApiAnswer:
        headers = dict(self.headers)
        if self.cookies:
            headers["set-cookie"] = ", ".join(self.cookies)
        return ApiAnswer(self.status, headers, _parsed(self.body.decode("utf-8", errors="replace")))


def proxy_response(result: Any, request_id: str) -> RawAnswer:
    """What API Gateway makes of a payload 2.0 function's return value."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(name).lower(): str(value) for name, value in (result.get("headers") or {}).items()}
        cookies = [str(cookie) for cookie in result.get("cookies") or []]
        body = result.get("body")
        if body is None:
            data = b""
        elif result.get("isBase64Encoded"):
            data = base64.b64decode(body)
        else:
            data = str(body).encode()
        status = int(result["statusCode"])
    else:
        # Without a statusCode, API Gateway takes the whole return value as a JSON body with 200.
        headers, cookies, data, status = {"content-type": "application/json"}, [], json.dumps(result).encode(), 200
    headers["apigw-requestid"] = request_id
    return RawAnswer(status, headers, cookies, data)


def proxy_answer(result: Any, request_id: str) -> ApiAnswer:
    return proxy_response(result, request_id).parsed()


class LocalHttpApi:
    """The template's HTTP API routes, each invoking its function through `invoke(logical_id, event)`."""

    def __init__(
        self,
        routes: Iterable[HttpRoute],
        invoke: Callable[[str, dict[str, Any]], Any],
        *,
        account: str = LOCAL_ACCOUNT,
        region: str = DEFAULT_REGION,
        authorizers: Mapping[str, JwtAuthorizer] | None = None,
    ) -> None:
        """`authorizers`: the JWT authorizers by the name a route's authorization gives."""
        self.routes = list(routes)
        self._invoke = invoke
        self._authorizers = dict(authorizers or {})
        self._account = account
        self._region = region
        # API Gateway's ids are 10 lower-case letters and digits.
        self.api_ids = {api: secrets.token_hex(5) for api in sorted({route.api for route in self.routes})}

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        query: QueryValues | None = None,
    ) -> ApiAnswer:
        """A request on `path` (it may carry its own `?query`, added to `query`), answered as API Gateway would."""
        return self.respond(method, path, body=body, headers=headers, query=query).parsed()

    def respond(
        self,
        method: str,
        path: str,
        *,
        body: Body = None,
        headers: Mapping[str, str] | None = None,
        query: QueryValues | None = None,
    ) -> RawAnswer:
        """As `call`, with the answer as it goes over the wire (the body as bytes)."""
        path, _, raw_query = path.partition("?")
        # HTTP APIs hand the function the path decoded (rawPath and pathParameters alike).
        path = unquote(path)
        pairs = parse_qsl(raw_query, keep_blank_values=True) + query_pairs(query)
        request_id = new_request_id()
        selected = select_route(self.routes, method, path)
        if selected is None:
            return gateway_error(404, "Not Found", request_id)
        route, parameters = selected
        authorizer = self._authorizers.get(route.authorization)
        jwt = None
        if authorizer is not None:
            try:
                jwt = authorizer.authorize(headers or {})
            except Unauthorized as refused:
                return unauthorized(str(refused), request_id)
        event = api_gateway_event(
            method,
            route.path,
            path,
            body=body,
            headers=headers,
            query=grouped(pairs),
            path_parameters=parameters,
            route_key=route.route_key,
            authorization=route.authorization,
            api_id=self.api_ids[route.api],
            account=self._account,
            region=self._region,
            request_id=request_id,
            jwt=jwt,
        )
        try:
            result = self._invoke(route.function, event)
        except Exception:
            # A function error reaches the caller as API Gateway's bare 500; the traceback stays here.
            _log.exception("%s failed on %s", route.function, route.route_key)
            return gateway_error(500, "Internal Server Error", request_id)
        return proxy_response(result, request_id)


def gateway_error(status: int, message: str, request_id: str) -> RawAnswer:
    """API Gateway's own answers (no route, function error, request too large) carry only a message."""
    headers = {"content-type": "application/json", "apigw-requestid": request_id}
    return RawAnswer(status, headers, [], json.dumps({"message": message}).encode())


def unauthorized(reason: str, request_id: str) -> RawAnswer:
    """What API Gateway answers when its JWT authorizer refuses a request (the token is never echoed)."""
    answer = gateway_error(401, "Unauthorized", request_id)
    description = reason.replace('"', "'")
    answer.headers["www-authenticate"] = f'Bearer scope="" error="invalid_token" error_description="{description}"'
    return answer


def _parsed(body: Any) -> Any:
    if not isinstance(body, str) or not body:
        return body or None
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body
