"""The console's sign-in on the local stack, over HTTP: the managed login played on loopback (OAuth 2.0
authorization code with PKCE against moto's Cognito), and the local HTTP API checking tokens on
the routes the template puts behind the JWT authorizer, as API Gateway does."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from local.runtime.jwt_authorizer import JwtAuthorizer, Unauthorized
from local.stack import LocalStack

pytestmark = pytest.mark.e2e

POOL, CLIENT = "ConsoleUserPool", "ConsoleClient"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(poll=False, http_port=0) as stack:
        yield stack


@pytest.fixture(scope="module")
def viewer(stack: LocalStack) -> tuple[str, str]:
    return "vera", stack.add_user(POOL, "vera", ["dispute-viewers"])


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def sign_in(stack: LocalStack, username: str, password: str, challenge: str) -> requests.Response:
    config = requests.get(f"{stack.api_url}/console/config.json", timeout=10).json()["sign_in"]
    query = {
        "response_type": "code",
        "client_id": config["client_id"],
        "redirect_uri": f"{stack.api_url}/console",
        "state": "s-1",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    form = requests.get(config["authorize_url"], params=query, timeout=10)
    assert form.status_code == 200 and 'name="password"' in form.text
    return requests.post(
        f"{stack.sign_in_url}/login",
        data={**query, "username": username, "password": password},
        allow_redirects=False,
        timeout=10,
    )


def exchange(stack: LocalStack, code: str, verifier: str) -> requests.Response:
    return requests.post(
        f"{stack.sign_in_url}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "client_id": stack.ref(CLIENT),
            "code": code,
            "redirect_uri": f"{stack.api_url}/console",
            "code_verifier": verifier,
        },
        headers={"Origin": stack.api_url},
        timeout=10,
    )


def me(stack: LocalStack, authorization: str | None) -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return requests.get(f"{stack.api_url}/ops/me", headers=headers, timeout=10)


def test_the_code_flow_with_pkce_gives_a_token_the_api_takes(stack, viewer):
    verifier, challenge = pkce()
    redirect = sign_in(stack, *viewer, challenge)
    assert redirect.status_code == 302
    back = redirect.headers["Location"]
    assert back.startswith(f"{stack.api_url}/console?code=") and back.endswith("&state=s-1")
    code = re.search("code=([^&]+)", back).group(1)  # type: ignore[union-attr]

    tokens = exchange(stack, code, verifier)

    assert tokens.status_code == 200
    assert tokens.headers["access-control-allow-origin"] == stack.api_url
    assert tokens.json()["token_type"] == "Bearer"
    answer = me(stack, f"Bearer {tokens.json()['access_token']}")
    assert answer.status_code == 200 and answer.json()["username"] == "vera"
    assert exchange(stack, code, verifier).json() == {"error": "invalid_grant"}  # a code is used once


def test_a_wrong_password_or_verifier_gets_nothing(stack, viewer):
    _, challenge = pkce()
    refused = sign_in(stack, viewer[0], "not-the-password", challenge)
    assert refused.status_code == 200 and "Incorrect username or password." in refused.text
    code = re.search("code=([^&]+)", sign_in(stack, *viewer, challenge).headers["Location"]).group(1)  # type: ignore[union-attr]
    assert exchange(stack, code, "another-verifier").json() == {"error": "invalid_grant"}


def test_a_redirect_uri_the_client_does_not_list_is_refused(stack):
    answer = requests.get(
        f"{stack.sign_in_url}/oauth2/authorize",
        params={"response_type": "code", "client_id": stack.ref(CLIENT), "redirect_uri": "https://evil.example/"},
        timeout=10,
    )
    assert answer.status_code == 400 and "redirect_mismatch" in answer.text


def test_the_api_refuses_what_api_gateway_would(stack, viewer):
    good = stack.tokens(POOL, CLIENT, *viewer)["AccessToken"]
    assert me(stack, None).status_code == 401
    assert me(stack, "Bearer ").status_code == 401
    tampered = me(stack, f"Bearer {good[:-6]}AAAAAA")
    assert tampered.status_code == 401 and tampered.json() == {"message": "Unauthorized"}
    other_client = stack.client("cognito-idp").create_user_pool_client(
        UserPoolId=stack.ref(POOL), ClientName="someone-else"
    )["UserPoolClient"]["ClientId"]
    foreign = stack.client("cognito-idp").admin_initiate_auth(
        UserPoolId=stack.ref(POOL),
        ClientId=other_client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": viewer[0], "PASSWORD": viewer[1]},
    )["AuthenticationResult"]["AccessToken"]
    assert "invalid audience" in me(stack, f"Bearer {foreign}").headers["www-authenticate"]
    # The machine routes stay IAM's: a token changes nothing there.
    assert requests.get(f"{stack.api_url}/disputes?status=failed", timeout=10).status_code == 200


def test_the_function_gets_the_claims_as_api_gateway_passes_them(stack, viewer):
    seen: list[dict[str, Any]] = []
    function = stack.functions["ApiFunction"]
    original = function.handler

    def spy(event: dict[str, Any], context: Any) -> Any:
        seen.append(event)
        return original(event, context)

    function.handler = spy
    try:
        token = stack.tokens(POOL, CLIENT, *viewer)["AccessToken"]
        assert me(stack, token).status_code == 200  # without "Bearer ", as API Gateway also takes it
    finally:
        function.handler = original
    jwt_context = seen[-1]["requestContext"]["authorizer"]["jwt"]
    claims = jwt_context["claims"]
    assert claims["cognito:groups"] == "[dispute-viewers]" and claims["username"] == "vera"
    assert claims["client_id"] == stack.ref(CLIENT)
    assert claims["iss"] == f"https://cognito-idp.{stack.model.region}.amazonaws.com/{stack.ref(POOL)}"
    assert all(isinstance(value, str) for value in claims.values())
    assert jwt_context["scopes"] == claims["scope"].split()


def test_the_authorizer_checks_expiry_issuer_and_times() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    from joserfc.jwk import KeySet

    keys = KeySet([key])
    now = time.time()
    authorizer = JwtAuthorizer("A", "https://issuer", ("client",), "$request.header.Authorization", lambda: keys)

    def token(**claims: Any) -> dict[str, str]:
        base = {"iss": "https://issuer", "client_id": "client", "exp": int(now) + 60, "iat": int(now)}
        value = jwt.encode({"alg": "RS256", "kid": "k1"}, {**base, **claims}, keys)
        return {"authorization": f"Bearer {value}"}

    assert authorizer.authorize(token())["claims"]["client_id"] == "client"
    for claims, reason in [
        ({"exp": int(now) - 1}, "expired"),
        ({"iss": "https://elsewhere"}, "issuer"),
        ({"client_id": "other"}, "audience"),
        ({"aud": "other"}, "audience"),
        ({"nbf": int(now) + 60}, "nbf"),
    ]:
        with pytest.raises(Unauthorized, match=reason):
            authorizer.authorize(token(**claims))


def test_serve_prints_a_viewer_and_an_operator_who_can_sign_in(stack):
    from local.serve.console_users import console_lines, console_logins

    logins = console_logins(stack)
    rows = console_lines(stack, logins)

    assert rows[0] == (
        "operator console",
        f"{stack.api_url}/console  (sign-in played locally at {stack.sign_in_url})",
    )
    assert [login.group for login in logins] == ["dispute-viewers", "dispute-operators"]
    for login, (_, row) in zip(logins, rows[1:], strict=True):
        assert row.startswith(f"{login.role}: {login.username} / {login.password}  ({login.group}: ")
        token = stack.tokens(POOL, CLIENT, login.username, login.password)["AccessToken"]
        assert me(stack, f"Bearer {token}").json()["may_retry"] is (login.role == "operator")


def test_the_code_coming_back_to_the_page_is_not_logged(stack, caplog):
    caplog.set_level("INFO", logger="local.runtime.http_server")
    assert requests.get(f"{stack.api_url}/console?code=A-SECRET-CODE&state=s-1", timeout=10).status_code == 200
    assert "GET /console?... HTTP/1.1" in caplog.text
    assert "A-SECRET-CODE" not in caplog.text
