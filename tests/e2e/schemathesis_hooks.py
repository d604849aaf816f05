"""Schemathesis hooks for test_openapi_fuzz (loaded through SCHEMATHESIS_HOOKS).

A dispute's evidence keys lie under its own transaction's folder (`{prefix}{reference}/`, the
provider's prefix and the body's reference) and each is named once: rules between fields and
between items, which an OpenAPI document cannot state (it states what a key alone must be). A body
generated as valid is made to keep them, each key moved into the body's own folder and a key listed
again left out; a body generated as invalid is left as it is, so the server's refusal of it is still
checked. Which providers take evidence, and where, comes from the registry.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from dispute_gateway.evidence_keys import KEY_MAX_LENGTH, TakesEvidence
from dispute_gateway.providers import evidence_providers


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta, body = case.meta, case.body
    if meta is None or not meta.generation.mode.is_positive or not isinstance(body, dict):
        return case
    spec = evidence_providers().get(str(body.get("provider")))
    evidence = body.get("evidence")
    if spec is None or spec.evidence is None or not isinstance(evidence, list):
        return case
    reference = next((body[name] for name in spec.reference_fields if isinstance(body.get(name), str)), None)
    if reference is None:
        return case
    moved = [in_folder(item, spec.evidence, reference) for item in evidence]
    # A new body: cases of one operation may share parts of theirs.
    case.body = {**body, "evidence": once_each(moved)}
    return case


def in_folder(item: Any, place: TakesEvidence, reference: str) -> Any:
    """`{prefix}<any reference>/<rest>` as `{prefix}{reference}/<rest>`: a valid key stays valid."""
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        return item
    rest = item["key"].removeprefix(place.prefix).partition("/")[2]
    key = place.folder(reference) + rest
    return {**item, "key": key if len(key) <= KEY_MAX_LENGTH else place.folder(reference) + "evidence.pdf"}


def once_each(items: list[Any]) -> list[Any]:
    """The items whose key was not listed before them (at least the first remains)."""
    seen: set[str] = set()
    kept = []
    for item in items:
        key = item.get("key") if isinstance(item, dict) else None
        if isinstance(key, str) and key in seen:
            continue
        if isinstance(key, str):
            seen.add(key)
        kept.append(item)
    return kept
