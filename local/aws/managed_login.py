"""The user pool's managed login, locally: moto has Cognito user pools and issues their tokens, but no
hosted sign-in page, so this small server on loopback plays it, on its own origin as the pool's
domain is in AWS.

It speaks the managed login's OAuth 2.0 endpoints, the part the console uses: `GET
/oauth2/authorize` (response_type=code, PKCE S256, a redirect_uri among the client's callback
URLs) shows a sign-in form; the credentials go to moto's Cognito (AdminInitiateAuth), and a
one-time code goes back to the redirect_uri; `POST /oauth2/token` exchanges the code and its
code_verifier for the tokens moto issued; `GET /logout` returns to a logout URL of the client.
So the browser runs the same code path locally as against AWS. Not emulated: the managed login's
session cookie (every sign-in asks for the password), MFA, password changes, refresh tokens.

Passwords, codes and tokens are never logged; request lines are not logged at all.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from botocore.exceptions import ClientError

LOOPBACK = "127.0.0.1"
CODE_SECONDS = 300
_MAX_FORM_BYTES = 16 * 1024
# No form-action: a browser applies it to the redirect that follows the form's POST, which goes back
# to the console's origin.
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str | None
    tokens: dict[str, Any]
    expires_at: float


class ManagedLogin:
    """Sign-in for the clients of the pools given (client id -> pool id), on 127.0.0.1:`port`."""

    def __init__(self, cognito: Any, clients: Mapping[str, str], *, port: int = 0) -> None:
        self._cognito = cognito
        self._clients = dict(clients)
        self._port = port
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        self._server = _Server((LOOPBACK, self._port), self)
        self.url = f"http://{LOOPBACK}:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="local-managed-login", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- the endpoints ------------------------------------------------------------------------------
    def authorize(self, query: Mapping[str, str]) -> tuple[int, dict[str, str], str]:
        problem = self._authorize_problem(query)
        if problem is not None:
            return 400, {}, _page("Sign-in refused", f"<p>{html.escape(problem)}</p>")
        return 200, {}, _form(query, None)

    def sign_in(self, form: Mapping[str, str]) -> tuple[int, dict[str, str], str]:
        problem = self._authorize_problem(form)
        if problem is not None:
            return 400, {}, _page("Sign-in refused", f"<p>{html.escape(problem)}</p>")
        client_id = form["client_id"]
        try:
            answer = self._cognito.admin_initiate_auth(
                UserPoolId=self._clients[client_id],
                ClientId=client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": form.get("username", ""), "PASSWORD": form.get("password", "")},
            )
        except ClientError:
            return 200, {}, _form(form, "Incorrect username or password.")
        if "AuthenticationResult" not in answer:
            message = "This user must choose a new password first, which the local sign-in cannot do."
            return 200, {}, _form(form, message)
        result = answer["AuthenticationResult"]
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[code] = _Grant(
                client_id=client_id,
                redirect_uri=form["redirect_uri"],
                challenge=form.get("code_challenge") or None,
                tokens={
                    "id_token": result["IdToken"],
                    "access_token": result["AccessToken"],
                    "token_type": "Bearer",
                    "expires_in": result.get("ExpiresIn", 3600),
                },
                expires_at=time.monotonic() + CODE_SECONDS,
            )
        back = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
        return 302, {"Location": f"{form['redirect_uri']}?{urlencode(back)}"}, ""

    def token(self, form: Mapping[str, str]) -> tuple[int, dict[str, str], str]:
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type")
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or grant.expires_at < time.monotonic():
            return _oauth_error("invalid_grant")
        if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant")
        if grant.challenge is not None and _challenge(form.get("code_verifier", "")) != grant.challenge:
            return _oauth_error("invalid_grant")
        return 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(grant.tokens)

    def logout(self, query: Mapping[str, str]) -> tuple[int, dict[str, str], str]:
        client = self._client(query.get("client_id", ""))
        if client is None or query.get("logout_uri") not in (client.get("LogoutURLs") or []):
            return 400, {}, _page("Sign-out refused", "<p>The logout_uri is not one of the client's sign-out URLs.</p>")
        return 302, {"Location": query["logout_uri"]}, ""

    # -- checks -------------------------------------------------------------------------------------
    def _authorize_problem(self, query: Mapping[str, str]) -> str | None:
        client = self._client(query.get("client_id", ""))
        if client is None:
            return "Unknown client_id."
        if not client.get("AllowedOAuthFlowsUserPoolClient") or "code" not in (client.get("AllowedOAuthFlows") or []):
            return "This client does not sign in with an authorization code."
        if query.get("redirect_uri") not in (client.get("CallbackURLs") or []):
            return "redirect_mismatch: the redirect_uri is not one of the client's callback URLs."
        if query.get("response_type") != "code":
            return "unsupported response_type: only code is."
        if query.get("code_challenge") and query.get("code_challenge_method") != "S256":
            return "code_challenge_method must be S256."
        return None

    def _client(self, client_id: str) -> dict[str, Any] | None:
        pool = self._clients.get(client_id)
        if pool is None:
            return None
        described: dict[str, Any] = self._cognito.describe_user_pool_client(UserPoolId=pool, ClientId=client_id)
        return dict(described["UserPoolClient"])


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], login: ManagedLogin) -> None:
        super().__init__(address, _Handler)
        self.login = login


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "local-managed-login"

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines carry codes: nothing is logged."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        if url.path == "/oauth2/authorize":
            self._send(*self.server.login.authorize(query))
        elif url.path == "/logout":
            self._send(*self.server.login.logout(query))
        else:
            self._send(404, {}, _page("Not found", "<p>No such page.</p>"))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_FORM_BYTES:
            self._send(413, {}, "")
            return
        form = {name: values[0] for name, values in parse_qs(self.rfile.read(length).decode("utf-8")).items()}
        if path == "/login":
            self._send(*self.server.login.sign_in(form))
        elif path == "/oauth2/token":
            self._send(*self.server.login.token(form))
        else:
            self._send(404, {}, "")

    def _send(self, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        headers = {"Content-Type": "text/html; charset=utf-8", **headers}
        if headers["Content-Type"].startswith("text/html"):
            headers.update({"Content-Security-Policy": _PAGE_POLICY, "Referrer-Policy": "no-referrer"})
        # The token endpoint is called by the console's page, on another origin (as Cognito's is).
        origin = self.headers.get("Origin")
        if origin:
            headers["Access-Control-Allow-Origin"] = origin
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _oauth_error(error: str) -> tuple[int, dict[str, str], str]:
    return 400, {"Content-Type": "application/json"}, json.dumps({"error": error})


_PASSED_ON = ("client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge", "code_challenge_method")


def _form(query: Mapping[str, str], problem: str | None) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(query[name])}">'
        for name in _PASSED_ON
        if name in query
    )
    alert = f'<p role="alert" class="problem">{html.escape(problem)}</p>' if problem else ""
    return _page(
        "Sign in",
        f"""<p class="note">Local stand-in for the user pool's managed login (Cognito), run by the local stack.</p>
{alert}<form method="post" action="/login">{hidden}
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>""",
    )


def _page(title: str, content: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#1b1f24}}
label{{display:block;margin-top:1rem;font-weight:600}}input{{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}}
button{{margin-top:1.5rem;padding:.5rem 1.25rem;font:inherit;background:#0b5cad;color:#fff;border:0;border-radius:4px}}
button:focus,input:focus{{outline:3px solid #f5a623;outline-offset:1px}}.problem{{color:#a4000f;font-weight:600}}
.note{{color:#555;font-size:.9rem}}</style></head><body><main><h1>{html.escape(title)}</h1>{content}</main></body></html>"""
