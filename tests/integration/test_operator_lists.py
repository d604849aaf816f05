"""GET /disputes?status=... and ?resolution=...: an operator's lists, through indexes (CONTRACT section 6)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.conftest import ApiClient


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write a second after the last, so 'most recently updated' is unambiguous."""
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    ticks = itertools.count()

    def now() -> str:
        return (start + timedelta(seconds=next(ticks))).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    monkeypatch.setattr("dispute_gateway.store.utc_now", now)


def dispute(provider: str, n: int) -> Any:
    from dispute_gateway.models import Dispute, Source
    from dispute_gateway.providers import provider_spec

    fields = (
        {"trxid": f"T-{n}", "user_email": ["ops@example.com"]}
        if provider == "iimmpact"
        else {"deal_id": f"D-{n}", "new_amount": "10", "evidence": [{"key": f"repay/D-{n}/f/a.pdf"}]}
    )
    return Dispute.from_request(provider_spec(provider).request.model_validate(fields), Source.SQS)


def failed(store: Any, provider: str, n: int) -> str:
    from dispute_gateway.models import Status

    claim = store.claim(dispute(provider, n), lease_seconds=60)
    return str(store.finish(claim, Status.FAILED, error="provider unavailable").dispute_id)


def submitting(store: Any, provider: str, n: int) -> str:
    return str(store.claim(dispute(provider, n), lease_seconds=60).dispute_id)


def submitted_open(store: Any, provider: str, n: int) -> str:
    from dispute_gateway.models import Resolution, Status

    claim = store.claim(dispute(provider, n), lease_seconds=60)
    return str(store.finish(claim, Status.SUBMITTED, resolution=Resolution.OPEN).dispute_id)


def every_page(api: ApiClient, query: dict[str, str]) -> tuple[list[str], int]:
    ids, token, pages = [], None, 0
    while True:
        answer = api.call("GET", "/disputes", query={**query, **({"next_token": token} if token else {})})
        assert answer.status == 200, answer.body
        ids += [item["dispute_id"] for item in answer.body["items"]]
        token, pages = answer.body.get("next_token"), pages + 1
        if not token:
            return ids, pages


def test_failed_disputes_newest_first_across_pages(aws, api, clock, store):
    made = [failed(store, "iimmpact", n) for n in range(5)]
    submitting(store, "iimmpact", 99)
    api.module.disputes.page_size = 2

    ids, pages = every_page(api, {"status": "failed"})

    assert ids == made[::-1]
    assert pages == 3


def test_a_failed_dispute_retried_moves_to_the_top(aws, api, clock, store):
    from dispute_gateway.models import Status

    first, second = failed(store, "iimmpact", 1), failed(store, "iimmpact", 2)
    again = store.claim(dispute("iimmpact", 1), lease_seconds=60)
    store.finish(again, Status.FAILED, error="still unavailable")

    assert every_page(api, {"status": "failed"})[0] == [first, second]


def test_stuck_submitting_and_the_provider_filter(aws, api, clock, store):
    iimmpact = submitting(store, "iimmpact", 1)
    repay = submitting(store, "repay", 2)
    failed(store, "repay", 3)

    assert every_page(api, {"status": "submitting"})[0] == [repay, iimmpact]
    assert every_page(api, {"status": "submitting", "provider": "iimmpact"})[0] == [iimmpact]


def test_received_lists_what_the_api_filed_and_no_worker_took(aws, api, clock, store):
    filed = api.call("POST", "/disputes", body={"provider": "iimmpact", "trxid": "T-9"}).body["dispute_id"]
    submitting(store, "iimmpact", 1)

    assert every_page(api, {"status": "received"})[0] == [filed]


def test_resolution_open_lists_the_disputes_waiting_for_a_decision(aws, api, clock, store):
    from dispute_gateway.models import Resolution

    waiting = [submitted_open(store, "repay", n) for n in range(3)]
    decided = store.get(waiting[0])
    store.resolve(decided, Resolution.WON, state="completed", amount="10")

    assert every_page(api, {"resolution": "open"})[0] == [waiting[2], waiting[1]]
    assert every_page(api, {"resolution": "won"})[0] == [waiting[0]]
    assert every_page(api, {"resolution": "lost"})[0] == []


def test_filters_combine(aws, api, clock, store):
    submitted_open(store, "repay", 1)
    failed(store, "repay", 1 + 1)
    reference = store.get(submitted_open(store, "repay", 3)).reference

    assert len(every_page(api, {"reference": reference, "resolution": "open"})[0]) == 1
    assert every_page(api, {"reference": reference, "status": "failed"})[0] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "stuck"}, "status"),
        ({"status": ""}, "status"),
        ({"resolution": "maybe"}, "resolution"),
        ({"status": "failed", "provider": "acme"}, "provider"),
    ],
)
def test_a_bad_value_is_refused_naming_the_parameter(aws, api, query, field):
    answer = api.call("GET", "/disputes", query=query)

    assert answer.status == 422
    assert [problem["field"] for problem in answer.body["errors"]] == [field]


def test_no_filter_is_no_list_naming_each_parameter_that_would_make_one(aws, api):
    for query in ({}, {"provider": "repay"}):
        answer = api.call("GET", "/disputes", query=query)
        assert answer.status == 404 and answer.body["message"] == "no such list"
        assert [problem["field"] for problem in answer.body["errors"]] == ["reference", "status", "resolution"]


def test_a_token_from_one_list_does_not_page_another(aws, api, clock, store):
    for n in range(3):
        failed(store, "iimmpact", n)
        submitting(store, "iimmpact", 10 + n)
    api.module.disputes.page_size = 1
    token = api.call("GET", "/disputes", query={"status": "failed"}).body["next_token"]

    for other in ({"status": "submitting"}, {"resolution": "open"}, {"reference": "T-1"}):
        answer = api.call("GET", "/disputes", query={**other, "next_token": token})
        assert answer.status == 404 and answer.body["errors"][0]["field"] == "next_token"


def test_lists_query_an_index_and_never_scan(aws, api, clock, store):
    failed(store, "iimmpact", 1)
    calls: list[tuple[str, str]] = []
    dynamodb = api.module.disputes._store._client  # the API's own client, as built at cold start
    dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.*",
        lambda model, params, **_: calls.append((model.name, params.get("IndexName", ""))),
    )

    for query in ({"status": "failed"}, {"resolution": "open"}, {"reference": "T-1"}):
        assert api.call("GET", "/disputes", query=query).status == 200

    assert calls == [("Query", "status-index"), ("Query", "resolution-index"), ("Query", "reference-index")]
