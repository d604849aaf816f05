"""The operator console's routes over moto: its page (public) and the /ops routes behind the user
pool's JWT authorizer, whose claims API Gateway passes in requestContext.authorizer.jwt. The group
is checked on every call: a viewer reads, only an operator retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.integration.conftest import ApiClient, failed_dispute, waiting

# As API Gateway passes them: every value a string, a list claim written "[a b]".
VIEWER = {"sub": "0b6c", "username": "vera", "cognito:groups": "[dispute-viewers]", "token_use": "access"}
OPERATOR = {"sub": "9f1e", "username": "otto", "cognito:groups": "[dispute-operators]", "token_use": "access"}
NOBODY = {"sub": "77aa", "username": "nina", "token_use": "access"}
REPAY = {
    "provider": "repay",
    "deal_id": "D-77",
    "new_amount": "1000.50",
    "evidence": [{"key": "repay/D-77/case1/receipt.pdf", "content_type": "application/pdf"}],
}
PDF = b"%PDF-1.4 a receipt"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
ERROR_SHAPE = {"message", "errors", "correlation_id"}


def ops(api: ApiClient, claims: dict[str, str], method: str, route: str, path: str | None = None, **kw: Any) -> Any:
    return api.call(method, route, path, jwt_claims=claims, **kw)


def detail(api: ApiClient, claims: dict[str, str], dispute_id: str) -> Any:
    route = "/ops/disputes/{dispute_id}"
    return ops(api, claims, "GET", route, f"/ops/disputes/{dispute_id}", path_parameters={"dispute_id": dispute_id})


def ops_retry(api: ApiClient, claims: dict[str, str], dispute_id: str) -> Any:
    route, path = "/ops/disputes/{dispute_id}/retry", f"/ops/disputes/{dispute_id}/retry"
    return ops(api, claims, "POST", route, path, path_parameters={"dispute_id": dispute_id})


def filed(api: ApiClient, body: dict[str, Any]) -> str:
    answer = api.call("POST", "/disputes", body=body)
    assert answer.status == 202, answer.body
    return str(answer.body["dispute_id"])


# -- who may do what ------------------------------------------------------------------------------
def test_me_says_who_is_signed_in_and_what_they_may_do(api):
    assert ops(api, VIEWER, "GET", "/ops/me").body == {
        "username": "vera",
        "groups": ["dispute-viewers"],
        "may_read": True,
        "may_retry": False,
        "providers": ["iimmpact", "repay"],
    }
    assert ops(api, OPERATOR, "GET", "/ops/me").body["may_retry"] is True
    assert ops(api, NOBODY, "GET", "/ops/me").body == {
        "username": "nina",
        "groups": [],
        "may_read": False,
        "may_retry": False,
        "providers": ["iimmpact", "repay"],
    }


@pytest.mark.parametrize(
    ("method", "route", "path"),
    [
        ("GET", "/ops/overview", None),
        ("GET", "/ops/disputes", None),
        ("GET", "/ops/disputes/{dispute_id}", "/ops/disputes/5f0c7a8e-6a43-4c1e-9f55-3f1f0d6b2a11"),
        ("POST", "/ops/disputes/{dispute_id}/retry", "/ops/disputes/5f0c7a8e-6a43-4c1e-9f55-3f1f0d6b2a11/retry"),
    ],
)
def test_someone_in_neither_group_gets_403_everywhere(api, method, route, path):
    parameters = {"dispute_id": "5f0c7a8e-6a43-4c1e-9f55-3f1f0d6b2a11"} if "{" in route else None
    query = {"status": "failed"} if route == "/ops/disputes" else None
    answer = ops(api, NOBODY, method, route, path, path_parameters=parameters, query=query)
    assert answer.status == 403
    assert set(answer.body) == ERROR_SHAPE
    assert "that needs membership of dispute-" in answer.body["message"]
    assert "(yours: none)" in answer.body["message"]


def test_a_viewers_retry_is_403_even_for_a_failed_dispute(aws, api, feed, iimmpact_sandbox):
    dispute_id = failed_dispute(aws, feed, iimmpact_sandbox, {"trxid": "T-VIEWER"})

    answer = ops_retry(api, VIEWER, dispute_id)

    assert answer.status == 403
    assert answer.body["message"] == (
        "vera may not retry disputes: that needs membership of dispute-operators (yours: dispute-viewers)"
    )
    assert aws.record(dispute_id)["status"] == "failed"
    assert "retried" not in json.dumps(aws.record(dispute_id)["history"])
    assert waiting(aws.iimmpact_queue_url) == 0


def test_an_operators_retry_moves_the_message_and_names_them(aws, api, feed, iimmpact_sandbox):
    dispute_id = failed_dispute(aws, feed, iimmpact_sandbox, {"trxid": "T-OPERATOR"})
    assert detail(api, OPERATOR, dispute_id).body["retryable"] is True

    answer = ops_retry(api, OPERATOR, dispute_id)

    assert answer.status == 202
    assert answer.body["retried_by"] == "otto (console)"
    assert waiting(aws.iimmpact_queue_url) == 1
    shown = detail(api, VIEWER, dispute_id).body
    assert shown["retryable"] is False and shown["retried_by"] == "otto (console)"
    assert shown["dispute"]["history"][-1]["message"] == "retried by otto (console)"
    assert ops_retry(api, OPERATOR, dispute_id).status == 409


# -- what it shows --------------------------------------------------------------------------------
def test_a_dispute_with_its_history_and_links_to_its_evidence(aws, api):
    aws.put_evidence("repay/D-77/case1/receipt.pdf", PDF, "application/pdf")
    aws.put_evidence("repay/D-77/case1/photo.png", PNG, "text/html")  # declared wrongly: shown as an image
    aws.put_evidence("repay/D-770/case1/other.pdf", PDF, "application/pdf")  # another deal
    dispute_id = filed(api, REPAY)

    answer = detail(api, VIEWER, dispute_id)

    assert answer.status == 200
    shown = answer.body
    assert shown["dispute"]["dispute_id"] == dispute_id and shown["dispute"]["reference"] == "D-77"
    assert [entry["status"] for entry in shown["dispute"]["history"]] == ["received"]
    assert shown["retryable"] is False
    links = {link["filename"]: link for link in shown["evidence"]}
    assert set(links) == {"receipt.pdf", "photo.png"}
    assert links["receipt.pdf"]["folder"] == "case1" and links["receipt.pdf"]["size"] == len(PDF)
    got = requests.get(links["receipt.pdf"]["url"], timeout=10)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == 'inline; filename="receipt.pdf"'
    image = requests.get(links["photo.png"]["url"], timeout=10)
    assert image.content == PNG and image.headers["content-type"] == "image/png"
    assert links["photo.png"]["expires_in"] == 300


def test_a_dispute_of_a_provider_without_evidence_has_none(api):
    dispute_id = filed(api, {"provider": "iimmpact", "trxid": "T-1"})
    assert detail(api, VIEWER, dispute_id).body["evidence"] == []


def test_an_unknown_dispute_is_404_and_a_malformed_id_422(api):
    answer = detail(api, VIEWER, "5f0c7a8e-6a43-4c1e-9f55-3f1f0d6b2a11")
    assert answer.status == 404 and set(answer.body) == ERROR_SHAPE
    answer = detail(api, VIEWER, "nope")
    assert answer.status == 422 and answer.body["errors"][0]["field"] == "dispute_id"


def test_lists_page_newest_first_with_the_pages_limit(api, store):
    ids = [filed(api, {"provider": "iimmpact", "trxid": f"T-{n}"}) for n in range(5)]

    first = ops(api, VIEWER, "GET", "/ops/disputes", query={"status": "received", "limit": "3"})
    second = ops(
        api,
        VIEWER,
        "GET",
        "/ops/disputes",
        query={"status": "received", "limit": "3", "next_token": first.body["next_token"]},
    )

    assert [item["dispute_id"] for item in first.body["items"]] == ids[::-1][:3]
    assert [item["dispute_id"] for item in second.body["items"]] == ids[::-1][3:]
    answer = ops(api, VIEWER, "GET", "/ops/disputes", query={"status": "received", "limit": "51"})
    assert answer.status == 422 and answer.body["errors"][0]["field"] == "limit"
    assert ops(api, VIEWER, "GET", "/ops/disputes").status == 404  # no list of every dispute: no scan


def test_overview_counts_through_the_indexes_and_draws_the_days(aws, api):
    for n in range(3):
        filed(api, {"provider": "iimmpact", "trxid": f"T-{n}"})
    filed(api, REPAY)
    client = api.module.console._stats._client
    selects: list[Any] = []
    client.meta.events.register("before-parameter-build.dynamodb.Query", lambda params, **_: selects.append(params))
    client.meta.events.register("before-call.dynamodb.Scan", lambda **_: pytest.fail("a scan"))

    answer = ops(api, VIEWER, "GET", "/ops/overview")

    assert answer.status == 200
    body = answer.body
    assert body["status"] == {"received": 4, "submitting": 0, "submitted": 0, "rejected": 0, "failed": 0}
    assert body["resolution"] == {"open": 0, "won": 0, "lost": 0, "untracked": 0}
    assert sum(1 for params in selects if params.get("Select") == "COUNT") == 9
    today = datetime.now(UTC).date()
    assert body["days"][0] == (today - timedelta(days=29)).isoformat() and body["days"][-1] == today.isoformat()
    assert body["filed"]["iimmpact"]["received"][-1] == 3 and body["filed"]["repay"]["received"][-1] == 1
    assert sum(body["filed"]["iimmpact"]["won"]) == 0 and body["partial"] is False

    only = ops(api, VIEWER, "GET", "/ops/overview", query={"provider": "repay"}).body
    assert only["status"]["received"] == 1 and set(only["filed"]) == {"repay"}
    unknown = ops(api, VIEWER, "GET", "/ops/overview", query={"provider": "null"})
    assert unknown.status == 422
    assert unknown.body["errors"] == [{"field": "provider", "message": "must be one of: iimmpact, repay"}]


# -- the page --------------------------------------------------------------------------------------
def test_the_page_is_public_static_and_keeps_to_itself(api):
    from local.runtime.http_api import api_gateway_event

    event = api_gateway_event("GET", "/console", "/console", authorization="NONE")
    answer = api.send(event)

    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "<html" in answer.body and "dispute_id" not in answer.body
    missing = api.send(api_gateway_event("GET", "/console/{name}", "/console/nothing.js", authorization="NONE"))
    assert missing.status == 404


def test_config_says_where_to_sign_in(aws, monkeypatch):
    from tests.conftest import load_function

    monkeypatch.setenv("CONSOLE_AUTH_URL", "https://ops.auth.ap-southeast-1.amazoncognito.com")
    monkeypatch.setenv("CONSOLE_CLIENT_ID", "client123")
    for name, value in {
        "DISPUTES_TABLE": aws.table,
        "EVIDENCE_BUCKET": aws.evidence_bucket,
        "IIMMPACT_QUEUE_URL": aws.iimmpact_queue_url,
        "REPAY_QUEUE_URL": aws.repay_queue_url,
    }.items():
        monkeypatch.setenv(name, value)
    api = ApiClient(load_function("api"))
    from local.runtime.http_api import api_gateway_event

    answer = api.send(api_gateway_event("GET", "/console/{name}", "/console/config.json", authorization="NONE"))

    assert answer.body == {
        "sign_in": {
            "authorize_url": "https://ops.auth.ap-southeast-1.amazoncognito.com/oauth2/authorize",
            "token_url": "https://ops.auth.ap-southeast-1.amazoncognito.com/oauth2/token",
            "logout_url": "https://ops.auth.ap-southeast-1.amazoncognito.com/logout",
            "client_id": "client123",
            "scope": "openid",
        }
    }
    assert (
        "connect-src 'self' https://ops.auth.ap-southeast-1.amazoncognito.com"
        in answer.headers["content-security-policy"]
    )


def test_config_without_sign_in_says_what_to_do(api):
    from local.runtime.http_api import api_gateway_event

    answer = api.send(api_gateway_event("GET", "/console/{name}", "/console/config.json", authorization="NONE"))
    assert answer.body["sign_in"] is None and "ConsoleCallbackUrl" in answer.body["message"]
