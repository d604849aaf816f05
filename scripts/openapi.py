"""Writes (or with --check, verifies) docs/openapi.json: the HTTP API's OpenAPI document, generated
from the handler's routes and models, so the document cannot drift from the code.

    .venv/bin/python scripts/openapi.py [--check]
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

from generated import ROOT, as_json, write_or_check

DOCUMENT = ROOT / "docs" / "openapi.json"
# Importing the handler validates its configuration; these placeholders reach no AWS.
PLACEHOLDER_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "ap-southeast-1",
    "DISPUTES_TABLE": "disputes",
    "EVIDENCE_BUCKET": "evidence",
    "PROVIDER_QUEUE_URL_PREFIX": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/dispute-gateway-",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def render() -> str:
    for name, value in PLACEHOLDER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    spec = importlib.util.spec_from_file_location("api_app_for_openapi", ROOT / "functions" / "api" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schema = module.app.get_openapi_json_schema(
        title="Dispute Gateway API",
        version="1.0.0",
        description="File, follow and upload evidence for transaction disputes; retry a failed one. Every route "
        "is IAM-authorized but the operator console's (/ops), which need a bearer token of its user pool.",
    )
    document = json.loads(schema)
    for path in document["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _never_null(parameter["schema"])
    return as_json(document)


def _never_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional parameter's schema without pydantic's `null` branch: a query string or a header
    has no null, only absence (which `required: false` says). Left in, a client sends "null"."""
    branches = [branch for branch in schema.get("anyOf", []) if branch != {"type": "null"}]
    if "anyOf" not in schema or len(branches) != 1:
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**branches[0], **rest}


def main() -> int:
    return write_or_check(DOCUMENT, render, "openapi.py")


if __name__ == "__main__":
    sys.exit(main())
