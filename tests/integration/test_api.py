"""The HTTP API handler over moto: every route and answer of contract section 6."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import AwsResources
from tests.integration.conftest import ApiClient

IIMMPACT = {"provider": "iimmpact", "trxid": "T-1001", "user_email": ["buyer@example.com"]}
REPAY = {
    "provider": "repay",
    "deal_id": "D-77",
    "new_amount": 1000.5,
    "evidence": [{"key": "repay/D-77/case1/receipt.pdf", "content_type": "application/pdf"}],
}


def queued(aws: AwsResources, queue_url: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def post(api: ApiClient, body: Any, key: str | None = None) -> Any:
    return api.call("POST", "/disputes", body=body, headers={"idempotency-key": key} if key else None)


# -- POST /disputes ---------------------------------------------------------------------------
def test_filing_records_queues_and_answers_202_with_location(aws, api):
    answer = post(api, IIMMPACT, key="k-1")

    assert answer.status == 202
    assert answer.body["provider"] == "iimmpact" and answer.body["status"] == "received"
    assert answer.headers["location"] == f"/disputes/{answer.body['dispute_id']}"
    record = aws.record(answer.body["dispute_id"])
    assert record["source"] == "api" and record["reference"] == "T-1001"
    assert queued(aws, aws.iimmpact_queue_url) == [
        {**{k: v for k, v in IIMMPACT.items() if k != "provider"}, "idempotency_key": "k-1"}
    ]


def test_repay_command_goes_to_the_repay_queue_with_a_plain_amount(aws, api):
    assert post(api, REPAY).status == 202
    [message] = queued(aws, aws.repay_queue_url)
    assert message["new_amount"] == "1000.5" and message["deal_id"] == "D-77"
    assert queued(aws, aws.iimmpact_queue_url) == []


def test_api_and_queue_name_the_same_dispute(aws, api):
    """The worker derives the same dispute_id from the queued body as the API did."""
    from dispute_gateway.models import Dispute, Source
    from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest

    answer = post(api, IIMMPACT)
    [message] = queued(aws, aws.iimmpact_queue_url)
    worker_view = Dispute.from_request(IimmpactReportRequest.model_validate(message), Source.SQS)
    assert worker_view.dispute_id == answer.body["dispute_id"]


def test_repeat_answers_200_and_queues_nothing_new(aws, api):
    first = post(api, IIMMPACT, key="k-1")
    queued(aws, aws.iimmpact_queue_url)

    again = post(api, {**IIMMPACT, "user_email": ["BUYER@example.com"]}, key="k-1")

    assert again.status == 200
    assert again.body == first.body
    assert queued(aws, aws.iimmpact_queue_url) == []


def test_same_key_for_another_request_is_409_and_files_nothing(aws, api):
    post(api, IIMMPACT, key="k-1")
    answer = post(api, {**IIMMPACT, "trxid": "T-2"}, key="k-1")
    assert answer.status == 409
    assert len(aws.records()) == 1


def test_send_failure_after_the_record_is_5xx_and_the_retry_completes_the_job(aws, api, monkeypatch):
    service = api.module.disputes
    real_sqs = service._sqs

    class BrokenSqs:
        def send_message(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessage")

    monkeypatch.setattr(service, "_sqs", BrokenSqs())
    failed = post(api, IIMMPACT, key="k-9")
    assert failed.status == 503
    assert "Idempotency-Key" in failed.body["message"]
    assert [r["status"] for r in aws.records()] == ["received"]

    monkeypatch.setattr(service, "_sqs", real_sqs)
    retried = post(api, IIMMPACT, key="k-9")
    assert retried.status == 202
    assert len(aws.records()) == 1
    assert len(queued(aws, aws.iimmpact_queue_url)) == 1
    assert post(api, IIMMPACT, key="k-9").status == 200


def test_the_header_key_wins_over_the_body_key(aws, api):
    """The schema cannot tie a header to a body field, so the server accepts both and says which wins."""
    answer = post(api, {**IIMMPACT, "idempotency_key": "a"}, key="b")
    assert answer.status == 202
    assert post(api, {**IIMMPACT, "idempotency_key": "c"}, key="b").body == answer.body
    assert queued(aws, aws.iimmpact_queue_url)[0]["idempotency_key"] == "b"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"trxid": "T-1"}, ["provider"]),
        ({"provider": "paypal", "trxid": "T-1"}, ["provider"]),
        ({"provider": "iimmpact"}, ["refid", "trxid"]),
        ({}, ["provider"]),
        (
            {"provider": "iimmpact", "trxid": "T-1", "user_email": ["nope", "also-nope"]},
            ["user_email.0", "user_email.1"],
        ),
        # Every offending field, the missing reference included, in one answer.
        ({"provider": "iimmpact", "user_email": ["not-an-email"]}, ["user_email.0", "refid", "trxid"]),
        ({"provider": "iimmpact", "trxid": " T-1"}, ["trxid"]),
        ({"provider": "iimmpact", "trxid": 5, "extra": 1}, ["trxid", "extra"]),
        ({"provider": "repay", "deal_id": "D-1", "new_amount": "1e3", "evidence": []}, ["new_amount", "evidence"]),
        ([1, 2], ["body"]),
    ],
)
def test_invalid_body_is_4xx_naming_every_offending_field(aws, api, body, fields):
    answer = post(api, body)
    assert 400 <= answer.status < 500
    assert sorted(p["field"] for p in answer.body["errors"]) == sorted(fields)
    assert "nope" not in json.dumps(answer.body)
    assert aws.records() == []


@pytest.mark.parametrize("raw", ["{not json", "", "null", '{"provider": "iimmpact", "trxid": "\\ud800"}'])
def test_malformed_body_is_4xx_never_5xx(aws, api, raw):
    answer = api.call("POST", "/disputes", raw_body=raw)
    assert 400 <= answer.status < 500, answer.body


def test_huge_body_is_refused_cleanly(aws, api):
    body = {"provider": "iimmpact", "trxid": "T-1", "user_email": ["a@example.com"] * 5000}
    answer = api.call("POST", "/disputes", raw_body=json.dumps(body))
    assert answer.status == 422


@pytest.mark.parametrize("path", ["/disputes", "/evidence-uploads"])
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",  # curl -d without -H
        "multipart/form-data; boundary=x",
        "application/json-patch+json",
        "application/json; charset=iso-8859-1",
    ],
)
def test_a_body_that_is_not_json_is_415_naming_the_type_to_send(aws, api, path, content_type):
    answer = api.call("POST", path, raw_body=json.dumps(IIMMPACT), headers={"content-type": content_type})
    assert answer.status == 415, answer.body
    assert "application/json" in answer.body["message"]
    assert answer.body["errors"] == [{"field": "body", "message": answer.body["message"]}]
    assert aws.records() == []


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=UTF-8"])
def test_json_is_taken_whatever_the_case_of_its_type(aws, api, content_type):
    answer = api.call("POST", "/disputes", raw_body=json.dumps(IIMMPACT), headers={"content-type": content_type})
    assert answer.status == 202


@pytest.mark.parametrize(
    "raw", [b"\xff", '{"provider":"iimmpact","trxid":"T-\xe9"}'.encode("latin-1")], ids=["0xff", "latin-1-json"]
)
def test_a_body_that_is_not_utf8_is_400(aws, api, raw):
    from local.runtime.http_api import api_gateway_event

    event = api_gateway_event("POST", "/disputes", "/disputes", body=raw, headers={"content-type": "application/json"})
    assert event["isBase64Encoded"]  # how API Gateway passes bytes that are not UTF-8
    answer = api.send(event)
    assert answer.status == 400
    assert answer.body["errors"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("DELETE", "/disputes", "GET, POST"), ("PUT", "/disputes/x", "GET"), ("GET", "/evidence-uploads", "POST")],
)
def test_another_method_on_a_known_path_is_405_with_allow(aws, api, method, path, allow):
    answer = api.call(method, path)
    assert answer.status == 405
    assert answer.headers["allow"] == allow


def test_an_error_names_the_request_by_the_id_its_log_lines_carry(aws, api, monkeypatch, log_output):
    from local.runtime.http_api import api_gateway_event

    unknown_page = api_gateway_event("GET", "/disputes", "/disputes", query={"reference": "T-1", "next_token": "x"})
    assert api.send(unknown_page).body == {
        "message": "no such page",
        "errors": [{"field": "next_token", "message": "is not a token this API gave"}],
        "correlation_id": unknown_page["requestContext"]["requestId"],
    }

    def explode(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.module.disputes, "listed", explode)
    failing = api_gateway_event("GET", "/disputes", "/disputes", query={"reference": "T-1"})
    answer = api.send(failing)
    [logged] = [json.loads(line) for line in log_output.getvalue().splitlines() if '"Unexpected error"' in line]
    assert answer.body["correlation_id"] == logged["correlation_id"] == failing["requestContext"]["requestId"]


# -- GET /disputes/{dispute_id} and GET /disputes ------------------------------------------------
def test_get_returns_the_record_and_404_when_unknown(aws, api):
    dispute_id = post(api, IIMMPACT).body["dispute_id"]

    found = api.call(
        "GET", "/disputes/{dispute_id}", f"/disputes/{dispute_id}", path_parameters={"dispute_id": dispute_id}
    )
    assert found.status == 200
    assert found.body["dispute_id"] == dispute_id and found.body["status"] == "received"
    assert "request_fingerprint" not in found.body and "lease_token" not in found.body

    unknown_id = "00000000-0000-0000-0000-000000000000"
    missing = api.call("GET", "/disputes/{dispute_id}", f"/disputes/{unknown_id}")
    assert missing.status == 404
    assert set(missing.body) == {"message", "errors", "correlation_id"}  # no "dispute_id": null
    not_an_id = api.call("GET", "/disputes/{dispute_id}", "/disputes/nope")
    assert not_an_id.status == 422 and not_an_id.body["errors"][0]["field"] == "dispute_id"


def test_list_by_reference_pages_through_the_index(aws, api, store):
    from dispute_gateway.models import InvalidDispute, Source

    # A transaction has one live dispute at a time: four refused ones, then the live one.
    for n in range(4):
        store.create_rejected(InvalidDispute.from_message("iimmpact", "T-1001", Source.SQS, {"n": n}, "refused", None))
    post(api, IIMMPACT)
    post(api, {**IIMMPACT, "trxid": "OTHER"})
    api.module.disputes.page_size = 2

    seen, token, pages = [], None, 0
    while True:
        query = {"reference": "T-1001", **({"next_token": token} if token else {})}
        page = api.call("GET", "/disputes", query=query)
        assert page.status == 200
        seen += [item["dispute_id"] for item in page.body["items"]]
        token, pages = page.body.get("next_token"), pages + 1
        if not token:
            break
    assert len(seen) == len(set(seen)) == 5
    filtered = api.call("GET", "/disputes", query={"reference": "T-1001", "provider": "repay"})
    assert filtered.body["items"] == []


def test_list_refuses_a_foreign_or_forged_token(aws, api):
    unknown = api.call("GET", "/disputes", query={"reference": "T-1", "next_token": "garbage!"})
    assert unknown.status == 404 and unknown.body["errors"][0]["field"] == "next_token"
    bad_provider = api.call("GET", "/disputes", query={"reference": "T-1", "provider": "x"})
    assert bad_provider.status == 422 and bad_provider.body["errors"][0]["field"] == "provider"


# -- POST /evidence-uploads ----------------------------------------------------------------------
UPLOAD = {
    "deal_id": "D-77",
    "files": [
        {"filename": "Квитанция №1.pdf", "content_type": "application/pdf", "size": 48213},
        {"filename": "photo.png", "content_type": "image/png", "size": 1000},
    ],
}


def test_evidence_upload_answers_one_confined_presigned_post_per_file_and_the_manifest(aws, api):
    answer = api.call("POST", "/evidence-uploads", body=UPLOAD)

    assert answer.status == 201
    folder = answer.body["folder"]
    assert folder.startswith("repay/D-77/") and folder.endswith("/")
    assert [f["key"] for f in answer.body["files"]] == [f"{folder}Kvitantsiya_No1.pdf", f"{folder}photo.png"]
    assert answer.body["manifest"]["key"] == f"{folder}dispute.json"
    first = answer.body["files"][0]
    policy = json.loads(__import__("base64").b64decode(first["fields"]["policy"]))
    assert ["content-length-range", 48213, 48213] in policy["conditions"]
    assert {"Content-Type": "application/pdf"} in policy["conditions"]
    assert {"key": first["key"]} in policy["conditions"]
    assert answer.body["expires_in"] <= 900


def test_each_upload_gets_a_new_folder(aws, api):
    first = api.call("POST", "/evidence-uploads", body=UPLOAD).body["folder"]
    assert api.call("POST", "/evidence-uploads", body=UPLOAD).body["folder"] != first


@pytest.mark.parametrize(
    ("files", "field"),
    [
        ([{"filename": "a.txt", "content_type": "text/plain", "size": 5}], "files.0.content_type"),
        ([{"filename": "a.pdf", "content_type": "application/pdf", "size": 0}], "files.0.size"),
        ([{"filename": "a.pdf", "content_type": "application/pdf", "size": 26214401}], "files.0.size"),
        ([{"filename": "a/b.pdf", "content_type": "application/pdf", "size": 5}], "files.0.filename"),
        ([], "files"),
    ],
)
def test_evidence_upload_enforces_the_workers_rules_first(aws, api, files, field):
    answer = api.call("POST", "/evidence-uploads", body={"deal_id": "D-77", "files": files})
    assert answer.status == 422
    assert field in [p["field"] for p in answer.body["errors"]]


def test_unexpected_error_is_a_generic_500_with_a_correlation_id(aws, api, monkeypatch, log_output):
    def explode(*_: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.module.disputes, "get", explode)
    some_id = "00000000-0000-0000-0000-000000000000"
    answer = api.call("GET", "/disputes/{dispute_id}", f"/disputes/{some_id}")
    assert answer.status == 500
    assert answer.body["correlation_id"]
    assert "secret internals" not in json.dumps(answer.body)
    assert "secret internals" in log_output.getvalue()


def test_answers_never_show_an_email_the_caller_did_not_send(aws, api):
    from dispute_gateway.models import Dispute, Source, Status
    from dispute_gateway.providers.iimmpact.models import IimmpactReportRequest
    from dispute_gateway.store import dispute_store

    dispute = Dispute.from_request(IimmpactReportRequest.model_validate({"trxid": "REFUNDED-1"}), Source.SQS)
    store = dispute_store(aws.table)
    refusal = "Sorry, refunded. Please contact us at support@iimmpact.com if you need further assistance."
    store.finish(
        store.claim(dispute, lease_seconds=60),
        Status.REJECTED,
        error=f"IIMMPACT answered Failed: {refusal}",
        provider_message=refusal,
        provider_response={"data": {"status": "Failed", "message": refusal}},
    )

    path = f"/disputes/{dispute.dispute_id}"
    found = api.call("GET", "/disputes/{dispute_id}", path, path_parameters={"dispute_id": dispute.dispute_id})
    listed = api.call("GET", "/disputes", query={"reference": "REFUNDED-1"})

    assert found.status == 200 and "contact us at" in found.body["provider_message"]
    assert "support@iimmpact.com" not in json.dumps(found.body) + json.dumps(listed.body)
    assert aws.record(dispute.dispute_id)["provider_message"] == refusal  # stored as received


JARGON = ("pattern", "List should", "Input should", "String should", "after validation", "Value error")


@pytest.mark.parametrize(
    ("method", "route", "path", "body", "query"),
    [
        ("POST", "/disputes", None, {"provider": "iimmpact", "trxid": " T-1", "user_email": []}, None),
        ("POST", "/disputes", None, {"provider": "repay", "deal_id": "../x", "new_amount": "-5", "evidence": []}, None),
        ("POST", "/disputes", None, {"provider": "nobody"}, None),
        ("POST", "/evidence-uploads", None, {"deal_id": "../x", "files": []}, None),
        ("POST", "/evidence-uploads", None, {"provider": {}, "reference": [], "files": {}}, None),
        ("GET", "/disputes/{dispute_id}", "/disputes/NOT-AN-ID", None, None),
        ("GET", "/disputes", None, None, {"status": "lost-in-space"}),
        ("GET", "/disputes", None, None, {"reference": ""}),
    ],
)
def test_every_refusal_is_in_plain_words(api, method, route, path, body, query):
    answer = api.call(method, route, path, body=body, query=query)
    assert 400 <= answer.status < 500, answer.body
    for problem in answer.body["errors"]:
        assert not any(word in problem["message"] for word in JARGON), problem


def test_a_negative_amount_is_refused_for_its_sign(api):
    answer = api.call("POST", "/disputes", body={**REPAY, "new_amount": "-5"})
    assert {"field": "new_amount", "message": "must be greater than 0"} in answer.body["errors"]


def test_evidence_uploads_take_a_provider_and_a_reference_by_either_name(aws, api):
    files = [{"filename": "a.pdf", "content_type": "application/pdf", "size": 5}]
    by_deal = api.call("POST", "/evidence-uploads", body={"deal_id": "D-1", "files": files})
    by_reference = api.call("POST", "/evidence-uploads", body={"provider": "repay", "reference": "D-1", "files": files})
    for answer in (by_deal, by_reference):
        assert answer.status == 201, answer.body
        assert (answer.body["provider"], answer.body["reference"]) == ("repay", "D-1")
        assert answer.body["folder"].startswith("repay/D-1/")
    wrong = api.call("POST", "/evidence-uploads", body={"provider": "iimmpact", "reference": "T-1", "files": files})
    assert wrong.status == 422 and wrong.body["errors"][0]["field"] == "provider"
    for given in ({}, [], 1, None):
        odd = api.call("POST", "/evidence-uploads", body={"provider": given, "reference": "D-1", "files": files})
        assert odd.status == 422 and odd.body["errors"][0]["field"] == "provider", (given, odd.body)
