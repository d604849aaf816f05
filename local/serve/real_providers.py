"""Which providers `local.serve` wires to the real thing instead of a sandbox, from flags or environment.

A provider is real when its base URL and its credentials are both given; a flag wins over
its environment variable. The credentials take the shape of the provider's Secrets Manager
value (CONTRACT section 2), in a JSON file or in variables:

    IIMMPACT   --iimmpact-url URL  --iimmpact-secret-file FILE   {"api_key": "...", "hmac_secret": "<base64>"}
               IIMMPACT_BASE_URL   IIMMPACT_API_KEY  IIMMPACT_HMAC_SECRET
    Repay      --repay-url URL     --repay-secret-file FILE      {"api_key": "...", "origin"?: "<domain>"}
               REPAY_BASE_URL      REPAY_API_KEY  [REPAY_ORIGIN]

Half a configuration (a URL without credentials, or the reverse) is refused rather than
quietly falling back to a sandbox: a developer who meant the real provider must not believe
a sandbox's answers are real ones.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dispute_gateway.signing import InvalidSigningKey, decode_signing_key
from local.providers import ProviderWiring


class ProviderConfigError(ValueError):
    pass


@dataclass(frozen=True)
class _Provider:
    name: str  # as printed
    flag: str  # --<flag>-url, --<flag>-secret-file
    url_variable: str  # the function's variable, also the serve process's
    secret_variable: str  # the function's variable naming the secret
    credential_variables: dict[str, str]  # secret field -> serve process variable
    required: tuple[str, ...]  # secret fields that must be given

    @property
    def variables(self) -> str:
        """The credential variables, e.g. "REPAY_API_KEY [+ REPAY_ORIGIN]"."""
        items = self.credential_variables.items()
        required = " + ".join(name for field, name in items if field in self.required)
        return required + "".join(f" [+ {name}]" for field, name in items if field not in self.required)

    def check(self, secret: dict[str, str]) -> None:
        missing = [name for name in self.required if not secret.get(name)]
        if missing:
            raise ProviderConfigError(f"{self.name}: the credentials lack {', '.join(missing)}")
        if "hmac_secret" in secret:
            try:
                decode_signing_key(secret["hmac_secret"])
            except InvalidSigningKey as error:
                raise ProviderConfigError(f"{self.name}: {error}") from None


PROVIDERS = {
    "iimmpact": _Provider(
        name="IIMMPACT",
        flag="iimmpact",
        url_variable="IIMMPACT_BASE_URL",
        secret_variable="IIMMPACT_SECRET_ID",
        credential_variables={"api_key": "IIMMPACT_API_KEY", "hmac_secret": "IIMMPACT_HMAC_SECRET"},
        required=("api_key", "hmac_secret"),
    ),
    "repay": _Provider(
        name="Repay",
        flag="repay",
        url_variable="REPAY_BASE_URL",
        secret_variable="REPAY_SECRET_ID",
        credential_variables={"api_key": "REPAY_API_KEY", "origin": "REPAY_ORIGIN"},
        required=("api_key",),
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for provider in PROVIDERS.values():
        group = parser.add_argument_group(f"real {provider.name} (default: its sandbox)")
        group.add_argument(
            f"--{provider.flag}-url", metavar="URL", help=f"base URL of the real API (or {provider.url_variable})"
        )
        group.add_argument(
            f"--{provider.flag}-secret-file",
            metavar="FILE",
            type=Path,
            help=f"JSON file of its Secrets Manager value (or {provider.variables})",
        )


def real_providers(arguments: argparse.Namespace, environ: MutableMapping[str, str]) -> dict[str, ProviderWiring]:
    """Wiring of each provider configured as real, by key of PROVIDERS.

    The credential variables are removed from `environ`: the functions share this process, and
    on AWS they get credentials only through Secrets Manager."""
    wirings: dict[str, ProviderWiring] = {}
    for key, provider in PROVIDERS.items():
        url = getattr(arguments, f"{provider.flag}_url") or environ.get(provider.url_variable)
        secret_file: Path | None = getattr(arguments, f"{provider.flag}_secret_file")
        variables = provider.credential_variables.items()
        from_environment = {field: environ.pop(name) for field, name in variables if name in environ}
        secret = _read_secret(provider, secret_file) if secret_file is not None else from_environment
        if not url and not secret:
            continue
        if not url:
            raise ProviderConfigError(f"{provider.name}: credentials given but no base URL (--{provider.flag}-url)")
        if not secret:
            raise ProviderConfigError(
                f"{provider.name}: a base URL given but no credentials "
                f"(--{provider.flag}-secret-file or {provider.variables})"
            )
        provider.check(secret)
        wirings[key] = ProviderWiring(provider.url_variable, _base_url(provider, url), provider.secret_variable, secret)
    return wirings


def _read_secret(provider: _Provider, path: Path) -> dict[str, str]:
    try:
        value: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ProviderConfigError(f"{provider.name}: cannot read {path}: {error}") from None
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise ProviderConfigError(f"{provider.name}: {path} must hold a JSON object of strings")
    return {name: item for name, item in value.items() if name in provider.credential_variables}


def _base_url(provider: _Provider, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ProviderConfigError(f"{provider.name}: {url!r} is not a base URL (http[s]://host[/path])")
    return url.rstrip("/")
