"""The operator console's page: static files (HTML, ES modules, CSS) the API function serves as they
are, holding no data, and the headers that keep the page to itself.

The files ship in the function's own folder, read once at cold start. The Content-Security-Policy
lets the page run only its own scripts and styles and talk only to its own API and to the user
pool's sign-in (the token endpoint of the OAuth code exchange): no third-party request, no inline
script, no frame. `config.json` tells the page where to sign in.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api_settings import ApiSettings

INDEX = "index.html"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SCOPE = "openid"


@dataclass(frozen=True)
class ConsoleFile:
    body: str
    content_type: str


class ConsoleFiles:
    def __init__(self, folder: Path, settings: ApiSettings) -> None:
        self._files = {
            path.name: ConsoleFile(path.read_text(encoding="utf-8"), TYPES[path.suffix])
            for path in sorted(folder.iterdir())
            if path.is_file() and path.suffix in TYPES
        }
        self._auth_url = str(settings.console_auth_url).rstrip("/") if settings.console_auth_url else None
        self._client_id = settings.console_client_id

    def get(self, name: str = INDEX) -> ConsoleFile | None:
        # Only the files shipped: a name is a key here, never a path opened.
        return self._files.get(posixpath.basename(name)) if name == posixpath.basename(name) else None

    def sign_in(self) -> dict[str, Any]:
        """Where the page signs in: the user pool's managed login (OAuth 2.0 code with PKCE)."""
        if not self._auth_url or not self._client_id:
            return {
                "sign_in": None,
                "message": "Sign-in is not set up for this deployment: set ConsoleCallbackUrl and deploy again "
                "(see the README's Operator console section)",
            }
        return {
            "sign_in": {
                "authorize_url": f"{self._auth_url}/oauth2/authorize",
                "token_url": f"{self._auth_url}/oauth2/token",
                "logout_url": f"{self._auth_url}/logout",
                "client_id": self._client_id,
                "scope": SCOPE,
            }
        }

    def headers(self, content_type: str) -> dict[str, str]:
        sign_in = f" {self._auth_url}" if self._auth_url else ""
        policy = "; ".join(
            [
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                "img-src 'self' data:",
                f"connect-src 'self'{sign_in}",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            ]
        )
        return {
            "Content-Type": content_type,
            "Content-Security-Policy": policy,
            # The page's URL carries the OAuth code for a moment: no page it links to may see it.
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
        }
