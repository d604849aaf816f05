"""Generated input never makes the API answer 5xx (property-based, Hypothesis)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import ApiClient

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
near_text = st.text(max_size=30) | st.sampled_from(["T-1", "D-1", "a@b.co", "1000", "1e3", "-1", "0", "", " "])
evidence_item = st.fixed_dictionaries(
    {"key": near_text}, optional={"content_type": near_text, "filename": near_text, "x": json_values}
)
dispute_bodies = st.fixed_dictionaries(
    {"provider": st.sampled_from(["iimmpact", "repay", "other"]) | json_values},
    optional={
        "trxid": near_text | json_values,
        "refid": near_text | json_values,
        "user_email": st.lists(near_text, max_size=3) | json_values,
        "deal_id": near_text | json_values,
        "new_amount": near_text | st.floats() | st.integers() | json_values,
        "evidence": st.lists(evidence_item, max_size=3) | json_values,
        "idempotency_key": near_text | json_values,
    },
)
upload_bodies = st.fixed_dictionaries(
    {"deal_id": near_text | json_values},
    optional={
        "files": st.lists(
            st.fixed_dictionaries(
                {
                    "filename": near_text,
                    "content_type": near_text | st.sampled_from(["application/pdf"]),
                    "size": st.integers() | json_values,
                }
            ),
            max_size=3,
        )
        | json_values
    },
)
raw_bodies = st.text(max_size=60) | st.binary(max_size=60).map(lambda data: data.decode("latin-1"))


def assert_no_server_error(answer: Any) -> None:
    assert answer.status < 500, answer.body
    assert answer.body is None or isinstance(answer.body, dict)


@FUZZ
@given(body=dispute_bodies | json_values, key=st.none() | near_text)
def test_filing_never_answers_5xx(aws, api: ApiClient, body: Any, key: str | None) -> None:
    headers = {"idempotency-key": key} if key else None
    assert_no_server_error(api.call("POST", "/disputes", body=body, headers=headers))


@FUZZ
@given(raw=raw_bodies)
def test_raw_bodies_never_answer_5xx(aws, api: ApiClient, raw: str) -> None:
    assert_no_server_error(api.call("POST", "/disputes", raw_body=raw))
    assert_no_server_error(api.call("POST", "/evidence-uploads", raw_body=raw))


@FUZZ
@given(body=upload_bodies | json_values)
def test_upload_requests_never_answer_5xx(aws, api: ApiClient, body: Any) -> None:
    assert_no_server_error(api.call("POST", "/evidence-uploads", body=body))


@FUZZ
@given(
    query=st.dictionaries(st.sampled_from(["reference", "provider", "next_token", "x"]), near_text, max_size=3),
    dispute_id=near_text,
)
def test_lookups_never_answer_5xx(aws, api: ApiClient, query: dict[str, str], dispute_id: str) -> None:
    assert_no_server_error(api.call("GET", "/disputes", query={k: v for k, v in query.items() if v}))
    path = f"/disputes/{dispute_id}"
    assert_no_server_error(api.call("GET", "/disputes/{dispute_id}", path, path_parameters={"dispute_id": dispute_id}))


def test_huge_body_is_refused_cleanly(aws, api: ApiClient) -> None:
    body = {"provider": "iimmpact", "trxid": "T-1", "user_email": ["a@example.com"] * 5000}
    answer = api.call("POST", "/disputes", raw_body=json.dumps(body))
    assert answer.status == 422
