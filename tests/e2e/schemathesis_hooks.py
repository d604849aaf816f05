"""Schemathesis hooks for test_openapi_fuzz (loaded through SCHEMATHESIS_HOOKS).

A Repay dispute's evidence keys lie under `repay/{deal_id}/` of the same body, each named once:
rules between fields and items, which an OpenAPI document cannot state (it states what a key
alone must be). A body generated as valid is made to keep them, each key moved into the body's
own deal folder and made unique; a body generated as invalid is left as it is, so the server's
refusal of it is still checked.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from dispute_gateway.evidence_keys import KEY_MAX_LENGTH
from dispute_gateway.providers.repay.models import EVIDENCE, NAME


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta, body = case.meta, case.body
    if meta is None or not meta.generation.mode.is_positive or not isinstance(body, dict):
        return case
    deal_id, evidence = body.get("deal_id"), body.get("evidence")
    if body.get("provider") != NAME or not isinstance(deal_id, str) or not isinstance(evidence, list):
        return case
    # A new body: cases of one operation may share parts of theirs.
    case.body = {**body, "evidence": [moved(item, deal_id, index) for index, item in enumerate(evidence)]}
    return case


def moved(item: Any, deal_id: str, index: int) -> Any:
    if not isinstance(item, dict) or not isinstance(item.get("key"), str):
        return item
    key = in_deal_folder(item["key"], deal_id)
    if index:
        # Unique: a second folder level named after the item's place keeps the key valid.
        folder, _, name = key.rpartition("/")
        unique = f"{folder}/{index}/{name}"
        key = unique if len(unique) <= KEY_MAX_LENGTH else f"{EVIDENCE.folder(deal_id)}{index}/evidence.pdf"
    return {**item, "key": key}


def in_deal_folder(key: str, deal_id: str) -> str:
    """`repay/<any deal>/<rest>` as `repay/<deal_id>/<rest>`: a valid key stays valid."""
    rest = key.removeprefix(EVIDENCE.prefix).partition("/")[2]
    moved = EVIDENCE.folder(deal_id) + rest
    return moved if len(moved) <= KEY_MAX_LENGTH else EVIDENCE.folder(deal_id) + "evidence.pdf"
