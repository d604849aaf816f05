"""What a redirect's log line may say of its target: the host, never the path, query or user info."""

from __future__ import annotations

import pytest
import requests

from dispute_gateway.transport import redirect_host


def redirect(location: str | None, url: str = "https://repay.cx/api/v1/external/deals/D-1") -> requests.Response:
    response = requests.Response()
    response.status_code = 302
    response.url = url
    if location is not None:
        response.headers["Location"] = location
    return response


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("https://evil.example/steal?api_key=k-1", "evil.example"),
        ("http://user:pass@evil.example:8443/x#frag", "evil.example:8443"),
        ("/elsewhere?token=t", "repay.cx"),  # relative: the host that answered
        ("//other.example/x", "other.example"),
        ("http://[::1]:9000/x", "[::1]:9000"),
        ("http://[not-an-address/x", "an unreadable address"),
        (None, "nowhere (no Location)"),
    ],
)
def test_only_the_host_and_port_are_named(location: str | None, host: str) -> None:
    assert redirect_host(redirect(location)) == host
