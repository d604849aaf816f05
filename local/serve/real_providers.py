"""Which providers `local.serve` wires to the real thing instead of a sandbox, from flags or environment.

A provider is real when its base URL and its credentials are both given; a flag wins over
its environment variable. The credentials take the shape of the provider's Secrets Manager
value (its credentials model), in a JSON file or one variable per field. Every name follows
from the provider's name and the fields of its secret:

    --<name>-url URL   --<name>-secret-file FILE   <NAME>_BASE_URL   <NAME>_<FIELD> (each field)

Half a configuration (a URL without credentials, or the reverse) is refused rather than
quietly falling back to a sandbox: a developer who meant the real provider must not believe
a sandbox's answers are real ones.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from dispute_gateway.models import describe_validation_error
from dispute_gateway.providers import ProviderSpec, registry
from local.providers import ProviderWiring


class ProviderConfigError(ValueError):
    pass


def credential_variables(spec: ProviderSpec) -> dict[str, str]:
    """Each field of the provider's secret value -> the variable `make serve` reads it from."""
    return {field: f"{spec.variable_prefix}_{field.upper()}" for field in spec.credentials.model_fields}


def variables_help(spec: ProviderSpec) -> str:
    """The credential variables, e.g. "<NAME>_API_KEY [+ <NAME>_ORIGIN]" (optional fields bracketed)."""
    fields = spec.credentials.model_fields
    items = credential_variables(spec).items()
    required = " + ".join(name for field, name in items if fields[field].is_required())
    return required + "".join(f" [+ {name}]" for field, name in items if not fields[field].is_required())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for spec in registry().values():
        group = parser.add_argument_group(f"real {spec.title} (default: its sandbox)")
        group.add_argument(
            f"--{spec.name}-url", metavar="URL", help=f"base URL of the real API (or {spec.base_url_variable})"
        )
        group.add_argument(
            f"--{spec.name}-secret-file",
            metavar="FILE",
            type=Path,
            help=f"JSON file of its Secrets Manager value (or {variables_help(spec)})",
        )


def real_providers(arguments: argparse.Namespace, environ: MutableMapping[str, str]) -> dict[str, ProviderWiring]:
    """Wiring of each provider configured as real, by name.

    The credential variables are removed from `environ`: the functions share this process, and
    on AWS they get credentials only through Secrets Manager."""
    wirings: dict[str, ProviderWiring] = {}
    for name, spec in registry().items():
        url = getattr(arguments, f"{name}_url") or environ.get(spec.base_url_variable)
        secret_file: Path | None = getattr(arguments, f"{name}_secret_file")
        variables = credential_variables(spec).items()
        from_environment = {field: environ.pop(variable) for field, variable in variables if variable in environ}
        secret = _read_secret(spec, secret_file) if secret_file is not None else from_environment
        if not url and not secret:
            continue
        if not url:
            raise ProviderConfigError(f"{spec.title}: credentials given but no base URL (--{name}-url)")
        if not secret:
            raise ProviderConfigError(
                f"{spec.title}: a base URL given but no credentials (--{name}-secret-file or {variables_help(spec)})"
            )
        fields = spec.credentials.model_fields
        missing = [field for field, info in fields.items() if info.is_required() and not secret.get(field)]
        if missing:
            raise ProviderConfigError(f"{spec.title}: the credentials lack {', '.join(missing)}")
        try:
            spec.credentials.model_validate(secret)
        except ValidationError as error:
            problems = describe_validation_error(error)
            raise ProviderConfigError(f"{spec.title}: the credentials are not usable: {problems}") from None
        wirings[name] = ProviderWiring.of(name, _base_url(spec, url), secret)
    return wirings


def _read_secret(spec: ProviderSpec, path: Path) -> dict[str, str]:
    try:
        value: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ProviderConfigError(f"{spec.title}: cannot read {path}: {error}") from None
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise ProviderConfigError(f"{spec.title}: {path} must hold a JSON object of strings")
    return {name: item for name, item in value.items() if name in spec.credentials.model_fields}


def _base_url(spec: ProviderSpec, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ProviderConfigError(f"{spec.title}: {url!r} is not a base URL (http[s]://host[/path])")
    return url.rstrip("/")
