"""The operator console, end to end in Chromium: sign in as each kind of user through the played
managed login, filter and page the list, open a dispute's timeline and evidence, retry a failed
dispute as an operator and watch it become submitted; a viewer has no retry and is refused one
sent by hand; a signed-out browser gets no data."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from dispute_gateway.table_items import to_item
from local import samples
from local.providers import wiring
from local.stack import LocalStack, wait_for
from tests.browser.conftest import keep_for_docs
from tests.sandboxes.iimmpact import Fault, IimmpactSandbox
from tests.sandboxes.repay import RepaySandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
expect = pytest.importorskip("playwright.sync_api").expect

POOL, CLIENT = "ConsoleUserPool", "ConsoleClient"
FAILED = 12
PDF = samples.pdf("Receipt D-1001 paid 1000")
PNG = samples.png(32, 24, (30, 120, 200))
# The first delivery is the last: a 503 fails a dispute at once and SQS dead-letters its message.
ONE_DELIVERY = {"RetryBaseDelaySeconds": 1, "RetryMaxDelaySeconds": 1, "MaxReceiveCount": 1}


class Console:
    """The stack the browser talks to, its users, and what was filed before the tests."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.url = f"{stack.api_url}/console"
        self.users = {
            "vera": stack.add_user(POOL, "vera", ["dispute-viewers"]),
            "otto": stack.add_user(POOL, "otto", ["dispute-operators"]),
            "nina": stack.add_user(POOL, "nina", []),
        }
        self.failed: list[str] = []
        self.evidence_dispute = ""

    def token(self, username: str) -> str:
        return str(self.stack.tokens(POOL, CLIENT, username, self.users[username])["AccessToken"])

    def file(self, body: dict[str, Any]) -> str:
        answer = requests.post(f"{self.stack.api_url}/disputes", json=body, timeout=30)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["dispute_id"])

    def record(self, dispute_id: str) -> dict[str, Any]:
        return dict(requests.get(f"{self.stack.api_url}/disputes/{dispute_id}", timeout=30).json())


@pytest.fixture(scope="module")
def console() -> Iterator[Console]:
    with (
        IimmpactSandbox() as iimmpact,
        RepaySandbox() as repay,
        LocalStack(
            providers=[wiring(iimmpact), wiring(repay)],
            http_port=0,
            parameter_overrides=ONE_DELIVERY,
            visibility_timeout_override=1,
            batching_window_override=0,
        ) as stack,
    ):
        console = Console(stack)
        _seed(console, iimmpact)
        yield console


@pytest.fixture(autouse=True)
def embedded_aws(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack outlives a test, whose own fixtures clear the endpoint and the clients' caches: the
    functions' AWS calls during the test must still reach the embedded AWS."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", console.stack.endpoint_url)


def _seed(console: Console, iimmpact: IimmpactSandbox) -> None:
    stack = console.stack
    iimmpact.inject(*[Fault(status=503) for _ in range(FAILED)])
    console.failed = [console.file({"provider": "iimmpact", "trxid": f"T-FAIL-{n:02d}"}) for n in range(1, FAILED + 1)]
    s3, bucket = stack.client("s3"), stack.ref("EvidenceBucket")
    s3.put_object(Bucket=bucket, Key="repay/D-1001/case1/receipt.pdf", Body=PDF, ContentType="application/pdf")
    s3.put_object(Bucket=bucket, Key="repay/D-1001/case1/photo.png", Body=PNG, ContentType="image/png")
    evidence = [{"key": f"repay/D-1001/case1/{name}"} for name in ("receipt.pdf", "photo.png")]
    console.evidence_dispute = console.file(
        {"provider": "repay", "deal_id": "D-1001", "new_amount": "990.50", "evidence": evidence}
    )
    for n in range(1, 4):
        console.file({"provider": "iimmpact", "trxid": f"T-OK-{n}"})
    _earlier_days(console)
    dead_letters = stack.ref(stack.model.queues[stack.provider_queue("iimmpact")].dead_letter_queue or "")

    def settled() -> bool:
        waiting = stack.client("sqs").get_queue_attributes(
            QueueUrl=dead_letters, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        repay_done = console.record(console.evidence_dispute)["status"] == "submitted"
        return int(waiting) == FAILED and repay_done

    assert wait_for(settled, timeout=60), "the seeded disputes did not settle"


def _earlier_days(console: Console) -> None:
    """Disputes of earlier days, which the stack cannot make in seconds: written as their workers
    would have left them, for the picture of the last 30 days."""
    table, dynamodb = console.stack.ref("DisputesTable"), console.stack.client("dynamodb")
    outcomes = [("submitted", "won"), ("submitted", "lost"), ("submitted", "open"), ("submitted", "untracked")]
    outcomes += [("rejected", None)]
    now = datetime.now(UTC)
    for day in range(1, 30):
        for n in range((day * 7) % 5 + 1):
            status, resolution = outcomes[(day + n) % len(outcomes)]
            created = (now - timedelta(days=day, hours=n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            provider = "repay" if n % 2 else "iimmpact"
            record = {
                "dispute_id": str(uuid.uuid4()),
                "provider": provider,
                "reference": f"{'D' if provider == 'repay' else 'T'}-PAST-{day}-{n}",
                "source": "sqs",
                "status": status,
                "attempts": 1,
                "created_at": created,
                "updated_at": created,
                "request_fingerprint": uuid.uuid4().hex,
                "history": [{"at": created, "status": status, "attempts": 1}],
                **({"resolution": resolution} if resolution else {}),
            }
            dynamodb.put_item(TableName=table, Item=to_item(record))


def sign_in(page: Any, console: Console, username: str) -> None:
    page.goto(console.url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(console.users[username])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who-name")).to_have_text(username)


def rows(page: Any) -> Any:
    return page.locator("#disputes-body tr")


# -- signed out ---------------------------------------------------------------------------------
def test_a_signed_out_browser_gets_no_data(page, console):
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))

    page.goto(console.url)

    expect(page.get_by_role("heading", name="Sign in to see disputes")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#list-view")).to_be_hidden()
    assert not [url for url in seen if "/ops/" in url]
    assert all(url.startswith(console.stack.api_url) for url in seen), seen  # nothing third-party
    answer = page.evaluate(
        "async (url) => { const r = await fetch(url); return [r.status, await r.text()]; }",
        f"{console.stack.api_url}/ops/overview?provider=repay",
    )
    assert answer == [401, json.dumps({"message": "Unauthorized"})]
    headers = requests.get(console.url, timeout=10).headers
    assert "script-src 'self'" in headers["content-security-policy"]


def test_someone_in_no_group_sees_why_and_nothing_else(page, console):
    sign_in(page, console, "nina")
    expect(page.locator("#signed-out-message")).to_contain_text("nina is in no group that may read disputes")
    expect(page.locator("#list-view")).to_be_hidden()


# -- a viewer -----------------------------------------------------------------------------------
def test_a_viewer_filters_and_pages_the_list(page, console):
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    sign_in(page, console, "vera")

    expect(page.locator("#list-caption")).to_have_text("Disputes with status failed, most recently updated first")
    expect(rows(page)).to_have_count(FAILED)
    expect(page.get_by_role("link", name=f"{FAILED} failed: list them")).to_be_visible()
    expect(page.locator("figure.chart-figure")).to_have_count(2)

    page.get_by_label("Per page", exact=True).select_option("10")
    page.get_by_role("button", name="Show").click()
    expect(rows(page)).to_have_count(10)
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#page-number")).to_have_text("Page 2")
    expect(rows(page)).to_have_count(FAILED - 10)
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(rows(page)).to_have_count(10)
    # Most recently updated first.
    updated = rows(page).locator("td:nth-child(7)").all_inner_texts()
    assert updated == sorted(updated, reverse=True)

    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Resolution", exact=True).select_option("open")
    page.get_by_label("Provider", exact=True).select_option("repay")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#list-caption")).to_contain_text("resolution open, provider repay")
    expect(rows(page).locator("td").nth(2)).to_have_text("D-1001")

    page.get_by_label("Resolution", exact=True).select_option("")
    page.get_by_label("Provider", exact=True).select_option("")
    page.get_by_label("Reference", exact=True).fill("T-FAIL-03")
    page.get_by_label("Reference", exact=True).press("Enter")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).locator("td").nth(3)).to_have_text("failed")
    assert all(url.startswith((console.stack.api_url, console.stack.sign_in_url)) for url in seen)


def test_a_viewer_opens_a_dispute_its_timeline_and_its_evidence(page, console):
    sign_in(page, console, "vera")
    page.goto(f"{console.url}#/?reference=D-1001")
    page.get_by_role("link", name=f"Dispute {console.evidence_dispute}").click()

    expect(page.get_by_role("heading", name=f"Dispute {console.evidence_dispute}")).to_be_visible()
    timeline = page.locator("#timeline li")
    expect(timeline).to_have_count(3)
    expect(timeline.first).to_contain_text("submitted · open")
    expect(timeline.last).to_contain_text("received")
    expect(page.locator("#provider-answer")).to_contain_text('"payload"')
    expect(page.get_by_role("button", name="Copy the dispute id")).to_be_visible()
    expect(page.get_by_role("button", name="Retry…")).to_have_count(0)

    with page.expect_popup() as opened, page.context.expect_event("response", lambda r: "photo.png" in r.url) as got:
        page.get_by_role("link", name="photo.png").click()
    assert got.value.body() == PNG and got.value.headers["content-type"] == "image/png"
    opened.value.close()
    pdf_link = page.get_by_role("link", name="receipt.pdf").get_attribute("href")
    answer = page.context.request.get(pdf_link)
    assert answer.body() == PDF
    assert answer.headers["content-disposition"] == 'inline; filename="receipt.pdf"'


def test_a_viewer_has_no_retry_and_is_refused_one_sent_by_hand(page, console):
    target = console.failed[-1]
    sign_in(page, console, "vera")
    page.goto(f"{console.url}#/disputes/{target}")

    expect(page.locator("#detail-fields")).to_contain_text("failed")
    expect(page.get_by_role("button", name="Retry…")).to_have_count(0)
    answer = page.evaluate(
        """async ([url, token]) => {
             const r = await fetch(url, {method: "POST", headers: {Authorization: `Bearer ${token}`}});
             return [r.status, (await r.json()).message];
           }""",
        [f"{console.stack.api_url}/ops/disputes/{target}/retry", console.token("vera")],
    )
    assert answer == [
        403,
        "vera may not retry disputes: that needs membership of dispute-operators (yours: dispute-viewers)",
    ]
    assert console.record(target)["status"] == "failed"


# -- an operator --------------------------------------------------------------------------------
def test_an_operator_retries_a_failed_dispute_and_watches_it_submitted(page, console):
    target = console.failed[0]
    sign_in(page, console, "otto")
    page.goto(f"{console.url}#/disputes/{target}")
    expect(page.locator("#detail-fields")).to_contain_text("failed")

    page.get_by_role("button", name="Retry…").click()
    dialog = page.get_by_role("dialog", name="Retry this dispute?")
    expect(dialog).to_contain_text("dead-letter queue back to its queue")
    dialog.get_by_role("button", name="Retry it").click()

    expect(page.locator("#toast")).to_contain_text("Retry started")
    started = time.monotonic()
    expect(page.locator("#detail-fields .badge").first).to_have_text("submitted", timeout=30_000)
    watched = time.monotonic() - started
    expect(page.locator("#timeline")).to_contain_text("retried by otto (console)")
    expect(page.get_by_role("button", name="Retry…")).to_have_count(0)
    assert console.record(target)["attempts"] == 2
    keep_for_docs(page, "dispute")
    assert watched < 30


def test_an_operators_list_at_a_glance(page, console):
    sign_in(page, console, "otto")
    expect(page.locator("#who-role")).to_have_text("operator")
    expect(page.locator("figure.chart-figure svg rect").first).to_be_visible()
    expect(rows(page).first).to_be_visible()
    assert re.search(r"\d+ disputes in 30 days", page.locator("figure.chart-figure figcaption").first.inner_text())
    keep_for_docs(page, "list")
