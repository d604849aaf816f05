"""The operator console's part of the stack (issue 21): its user pool, groups, sign-in domain and app
client, the HTTP API's JWT authorizer, which routes it guards and which are public, and what the
API function is told about sign-in. Group names come from the code that checks them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dispute_gateway.operators import GRANTS, OPERATORS, VIEWERS
from tests.infrastructure.cfn import environment, of_type, ref
from tests.infrastructure.conftest import ROOT
from tests.infrastructure.test_api_template import CONSOLE_PAGE_ROUTES, OPS_ROUTES, _body, _operations

POOL = "ConsoleUserPool"
CLIENT = "ConsoleClient"
AUTHORIZER = "ConsoleAuthorizer"
SIGN_IN = "HasConsoleSignIn"


def _properties(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = resources[logical_id]["Properties"]
    return properties


def test_one_user_pool_whose_users_only_an_administrator_creates(resources):
    assert list(of_type(resources, "AWS::Cognito::UserPool")) == [POOL]
    pool = _properties(resources, POOL)
    assert pool["AdminCreateUserConfig"] == {"AllowAdminCreateUserOnly": True}
    assert pool["AccountRecoverySetting"] == {"RecoveryMechanisms": [{"Name": "admin_only", "Priority": 1}]}
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 14
    assert pool["MfaConfiguration"] == {"Fn::If": ["IsProd", "ON", "OPTIONAL"]}
    assert pool["DeletionProtection"] == {"Fn::If": ["IsProd", "ACTIVE", "INACTIVE"]}
    # Usernames, not e-mail addresses: a name lands in a dispute's history when its owner retries it.
    assert "UsernameAttributes" not in pool and "AliasAttributes" not in pool


def test_the_groups_are_the_ones_the_api_checks(resources):
    groups = {
        props["GroupName"]: props["UserPoolId"]
        for props in (g["Properties"] for g in of_type(resources, "AWS::Cognito::UserPoolGroup").values())
    }
    assert groups == dict.fromkeys(GRANTS, ref(POOL))
    assert set(GRANTS) == {VIEWERS, OPERATORS}


def test_sign_in_is_the_pools_managed_login_on_its_own_domain(resources):
    (domain,) = of_type(resources, "AWS::Cognito::UserPoolDomain").values()
    assert domain["Properties"]["UserPoolId"] == ref(POOL)
    assert domain["Properties"]["Domain"] == {"Fn::Sub": "${AWS::StackName}-${AWS::AccountId}"}


def test_the_client_is_public_and_signs_in_with_a_code_and_pkce(resources):
    assert list(of_type(resources, "AWS::Cognito::UserPoolClient")) == [CLIENT]
    client = _properties(resources, CLIENT)
    assert client["UserPoolId"] == ref(POOL)
    assert client["GenerateSecret"] is False
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["AllowedOAuthFlowsUserPoolClient"] == {"Fn::If": [SIGN_IN, True, False]}
    assert client["AllowedOAuthFlows"] == {"Fn::If": [SIGN_IN, ["code"], ref("AWS::NoValue")]}
    assert client["AllowedOAuthScopes"] == {"Fn::If": [SIGN_IN, ["openid"], ref("AWS::NoValue")]}
    for urls in ("CallbackURLs", "LogoutURLs"):
        assert client[urls] == {"Fn::If": [SIGN_IN, [ref("ConsoleCallbackUrl")], ref("AWS::NoValue")]}
    # No password through the client's own API: only the managed login (SRP) and refreshes.
    assert sorted(client["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["AccessTokenValidity"] <= 60 and client["TokenValidityUnits"]["AccessToken"] == "minutes"


def test_sign_in_waits_for_the_consoles_url(cfn, sam_template):
    parameter = sam_template["Parameters"]["ConsoleCallbackUrl"]
    assert parameter["Default"] == ""
    assert cfn["Conditions"][SIGN_IN] == {"Fn::Not": [{"Fn::Equals": [ref("ConsoleCallbackUrl"), ""]}]}


def test_the_jwt_authorizer_takes_the_pools_tokens_for_the_console_client(resources):
    scheme = _body(resources)["components"]["securitySchemes"][AUTHORIZER]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "jwt"
    assert authorizer["identitySource"] == "$request.header.Authorization"
    assert authorizer["jwtConfiguration"] == {
        "issuer": {"Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${ConsoleUserPool}"},
        "audience": [ref(CLIENT)],
    }


@pytest.mark.parametrize(("method", "path"), sorted(OPS_ROUTES))
def test_every_ops_route_is_behind_the_jwt_authorizer(resources, method, path):
    assert _operations(resources)[(method, path)]["security"] == [{AUTHORIZER: []}]


@pytest.mark.parametrize(("method", "path"), sorted(CONSOLE_PAGE_ROUTES))
def test_the_page_and_its_files_are_public(resources, method, path):
    # SAM's way of overriding the default authorizer (AWS_IAM) with none.
    assert _operations(resources)[(method, path)]["security"] == [{"NONE": []}]


def test_every_route_the_document_says_needs_a_token_is_behind_the_authorizer(resources):
    """docs/openapi.json is the handler's own (test_generated_docs.py keeps it current)."""
    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    needing = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert needing and needing <= OPS_ROUTES
    assert all(path.startswith("/ops/") for _, path in needing)


def test_the_api_function_is_told_where_to_sign_in(resources):
    variables = environment(resources, "ApiFunction")
    assert variables["CONSOLE_CLIENT_ID"] == ref(CLIENT)
    assert variables["CONSOLE_AUTH_URL"] == {
        "Fn::If": [SIGN_IN, {"Fn::Sub": "https://${ConsoleSignInDomain}.auth.${AWS::Region}.amazoncognito.com"}, ""]
    }
