"""The template's Cognito user pools on the embedded AWS: each pool with its groups, app clients and
sign-in domain, as CloudFormation would create them, and users added as an administrator would
(`admin-create-user`, a permanent password, `admin-add-user-to-group`).

moto issues the pool's tokens (InitiateAuth, AdminInitiateAuth) signed with its own key and
serves the pool's JWKS; it has no managed login page, which `local.aws.managed_login` plays.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from local.aws.intrinsics import referenced_id

# What moto's create_user_pool takes from a template's pool (the rest is not emulated).
_POOL_PROPERTIES = ("Policies", "AdminCreateUserConfig", "UsernameConfiguration", "AccountRecoverySetting")
_CLIENT_PROPERTIES = (
    *("ExplicitAuthFlows", "SupportedIdentityProviders", "AllowedOAuthFlows", "AllowedOAuthScopes"),
    *("AllowedOAuthFlowsUserPoolClient", "CallbackURLs", "LogoutURLs", "PreventUserExistenceErrors"),
    *("AccessTokenValidity", "IdTokenValidity", "RefreshTokenValidity", "TokenValidityUnits"),
)


@dataclass(frozen=True)
class ClientSpec:
    logical_id: str
    properties: dict[str, Any]  # parameters resolved; no secret is generated locally


@dataclass(frozen=True)
class UserPoolSpec:
    logical_id: str
    properties: dict[str, Any]
    groups: dict[str, str] = field(default_factory=dict)  # logical id -> GroupName
    clients: tuple[ClientSpec, ...] = ()
    domains: dict[str, str] = field(default_factory=dict)  # logical id -> Domain (the prefix)


def user_pool_specs(by_type: dict[str, dict[str, dict[str, Any]]]) -> dict[str, UserPoolSpec]:
    """Every AWS::Cognito::UserPool, with the groups, clients and domains that `!Ref` it."""

    def of_pool(kind: str, pool: str) -> dict[str, dict[str, Any]]:
        return {lid: p for lid, p in by_type.get(kind, {}).items() if referenced_id(p.get("UserPoolId")) == pool}

    return {
        pool: UserPoolSpec(
            logical_id=pool,
            properties=properties,
            groups={lid: p["GroupName"] for lid, p in of_pool("AWS::Cognito::UserPoolGroup", pool).items()},
            clients=tuple(ClientSpec(lid, p) for lid, p in of_pool("AWS::Cognito::UserPoolClient", pool).items()),
            domains={lid: p["Domain"] for lid, p in of_pool("AWS::Cognito::UserPoolDomain", pool).items()},
        )
        for pool, properties in by_type.get("AWS::Cognito::UserPool", {}).items()
    }


@dataclass
class CreatedPool:
    pool_id: str
    client_ids: dict[str, str]  # client logical id -> client id
    domains: dict[str, str]  # domain logical id -> prefix


def create_user_pool(cognito: Any, spec: UserPoolSpec, name: str, region: str) -> CreatedPool:
    properties = {key: spec.properties[key] for key in _POOL_PROPERTIES if key in spec.properties}
    pool = cognito.create_user_pool(PoolName=name, **properties)["UserPool"]
    pool_id = str(pool["Id"])
    for group in spec.groups.values():
        cognito.create_group(UserPoolId=pool_id, GroupName=group)
    client_ids = {}
    for client in spec.clients:
        options = {key: client.properties[key] for key in _CLIENT_PROPERTIES if key in client.properties}
        answer = cognito.create_user_pool_client(
            UserPoolId=pool_id, ClientName=str(client.properties.get("ClientName", client.logical_id)), **options
        )
        client_ids[client.logical_id] = str(answer["UserPoolClient"]["ClientId"])
    for domain in spec.domains.values():
        cognito.create_user_pool_domain(UserPoolId=pool_id, Domain=domain)
    return CreatedPool(pool_id, client_ids, dict(spec.domains))


def issuer(region: str, pool_id: str) -> str:
    """The `iss` of the pool's tokens (moto writes the same)."""
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def managed_login_url(domain: str, region: str) -> str:
    """Where the pool's managed login is in AWS: what the template's outputs and environment name."""
    return f"https://{domain}.auth.{region}.amazoncognito.com"


def allow_sign_in(cognito: Any, pool_id: str, client_id: str, page_url: str) -> None:
    """The client set up for the managed login with `page_url` as its callback and logout URL: what a
    deployer's second deployment does (the ConsoleCallbackUrl parameter)."""
    current = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    kept = {key: current[key] for key in _CLIENT_PROPERTIES if key in current}
    kept.update(
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"],
        CallbackURLs=[page_url],
        LogoutURLs=[page_url],
    )
    cognito.update_user_pool_client(
        UserPoolId=pool_id, ClientId=client_id, ClientName=current.get("ClientName", client_id), **kept
    )


def add_user(cognito: Any, pool_id: str, username: str, groups: list[str], password: str | None = None) -> str:
    """A user with a permanent password (given, or made to fit the pool's policy) in `groups`; the password."""
    password = password or new_password()
    cognito.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
    for group in groups:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
    return password


def new_password(length: int = 20) -> str:
    """Letters of both cases and digits, at least one of each: any of the template's policies takes it."""
    alphabet = string.ascii_letters + string.digits
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if all(
            any(c in kind for c in password) for kind in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
        ):
            return password
