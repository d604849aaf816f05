"""HTTP API routes of the template as the local stack sees them, and matching a request path to one.

Routes are read from the OpenAPI `Body` the SAM transform writes on each AWS::ApiGatewayV2::Api:
that body is what API Gateway imports, so it holds the routes, their Lambda integrations and
their authorization exactly as a deployment gets them (SAM generates no Route resources).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# OpenAPI operation keys API Gateway turns into routes; the extension is its catch-all method.
_METHODS = {
    "get": "GET",
    "post": "POST",
    "put": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "head": "HEAD",
    "options": "OPTIONS",
    "x-amazon-apigateway-any-method": "ANY",
}
# The Lambda proxy integration URI ends in .../functions/${Fn.Arn}/invocations, or ${FnAlias}
# (a Ref: the alias's ARN) when the function has an AutoPublishAlias.
_INTEGRATED_FUNCTION = re.compile(r"/functions/\$\{([A-Za-z0-9]+)(?:\.Arn)?\}/invocations")
_PARAMETER = re.compile(r"^\{([^{}+]+)(\+?)\}$")
IAM = "AWS_IAM"
NO_AUTHORIZATION = "NONE"


@dataclass(frozen=True)
class HttpRoute:
    """One route: `method` (or ANY) on `path`, a template such as /disputes/{dispute_id}."""

    api: str  # logical id of the AWS::ApiGatewayV2::Api
    method: str
    path: str
    function: str  # logical id of the function its Lambda proxy integration invokes
    authorization: str = NO_AUTHORIZATION  # AWS_IAM, NONE, or the name of another security scheme
    payload_format_version: str = "2.0"

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when a request of `method` on `path` takes this route, else None."""
        if self.method not in (method.upper(), "ANY"):
            return None
        return match_path(self.path, path)


def match_path(template: str, path: str) -> dict[str, str] | None:
    """`{name}` matches one segment, a final `{name+}` the rest of the path (already decoded, as API
    Gateway decodes it before routing)."""
    wanted, given = template.strip("/").split("/"), path.strip("/").split("/")
    parameters: dict[str, str] = {}
    for index, segment in enumerate(wanted):
        parameter = _PARAMETER.match(segment)
        if parameter and parameter.group(2) and index == len(wanted) - 1:
            rest = given[index:]
            if not rest or rest == [""]:
                return None
            parameters[parameter.group(1)] = "/".join(rest)
            return parameters
        if index >= len(given):
            return None
        if parameter:
            if not given[index]:
                return None
            parameters[parameter.group(1)] = given[index]
        elif segment != given[index]:
            return None
    return parameters if len(given) == len(wanted) else None


def select_route(routes: list[HttpRoute], method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
    """The route API Gateway picks: a literal path before a parameter, a method before ANY."""
    matched = [(route, found) for route in routes if (found := route.match(method, path)) is not None]
    if not matched:
        return None
    return min(matched, key=lambda item: (len(item[1]), "+}" in item[0].path, item[0].method == "ANY"))


def http_routes(api_id: str, body: dict[str, Any], aliases: Mapping[str, str] | None = None) -> list[HttpRoute]:
    """Every route of an HTTP API's OpenAPI body whose integration is a function of the template.

    `aliases` maps the logical id of an alias or version to its function's: locally every
    alias is the code as it is."""
    schemes = ((body.get("components") or {}).get("securitySchemes")) or {}
    default_security = body.get("security")
    routes: list[HttpRoute] = []
    for path, operations in (body.get("paths") or {}).items():
        for key, operation in (operations or {}).items():
            method = _METHODS.get(key.lower())
            if method is None or not isinstance(operation, dict):
                continue
            integration = operation.get("x-amazon-apigateway-integration") or {}
            function = _integrated_function(integration.get("uri"))
            function = (aliases or {}).get(function, function) if function is not None else None
            if function is None:
                raise ValueError(f"HTTP API {api_id}: {method} {path} does not invoke a function of the template")
            routes.append(
                HttpRoute(
                    api=api_id,
                    method=method,
                    path=path,
                    function=function,
                    authorization=_authorization(operation.get("security", default_security), schemes),
                    payload_format_version=str(integration.get("payloadFormatVersion", "2.0")),
                )
            )
    return routes


def _integrated_function(uri: Any) -> str | None:
    # The URI is still a !Sub: resource ARNs only exist once the stack has created them.
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
    if isinstance(text, list):
        text = text[0]
    found = _INTEGRATED_FUNCTION.search(text) if isinstance(text, str) else None
    return found.group(1) if found else None


def _authorization(security: Any, schemes: dict[str, Any]) -> str:
    names = [name for requirement in security or [] for name in requirement]
    if not names:
        return NO_AUTHORIZATION
    scheme = schemes.get(names[0]) or {}
    # How API Gateway's OpenAPI import marks IAM (SigV4) authorization.
    return IAM if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4" else str(names[0])


def jwt_authorizers(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The JWT authorizers of an HTTP API's OpenAPI body (its security schemes), as written (intrinsics and all)."""
    schemes = ((body.get("components") or {}).get("securitySchemes")) or {}
    found = {}
    for name, scheme in schemes.items():
        authorizer = (scheme or {}).get("x-amazon-apigateway-authorizer") or {}
        if authorizer.get("type") == "jwt":
            found[name] = authorizer
    return found
