"""What a record keeps of a provider's answer: the body as received, unless DynamoDB could not
store it (a map nested past its 32 levels, an item past 400 KB) or Python could not parse it."""

from __future__ import annotations

import json

import requests

from dispute_gateway.providers.base import ProviderAnswer


def answer(body: bytes, status: int = 200) -> ProviderAnswer:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers["Content-Type"] = "application/json"
    response.encoding = "utf-8"
    return ProviderAnswer.from_response(response)


def test_a_json_answer_is_kept_as_a_map():
    assert answer(b'{"data": {"status": "Success"}}').body == {"data": {"status": "Success"}}


def test_an_answer_nested_past_what_dynamodb_stores_is_kept_as_text():
    for depth in (31, 100_000):
        body = b"[" * depth + b"]" * depth
        kept = answer(body).body
        assert isinstance(kept, str) and kept.startswith("[[[")


def test_a_long_answer_is_cut_to_64_kib_and_says_so():
    body = json.dumps({"items": ["x" * 100] * 1000}).encode()
    kept = answer(body, 500).body
    assert isinstance(kept, str) and len(kept) < 64 * 1024 + 64
    assert kept.endswith("[cut: the answer was longer]")
