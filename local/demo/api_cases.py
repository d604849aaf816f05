"""The demo's disputes filed over the HTTP API, on a real port as a client would: POST /disputes,
then GET it back and list it by reference.

One with evidence first uploads it the way the API offers: `POST /evidence-uploads` presigns one S3
POST per file (against the embedded AWS), the files go straight to S3, and the dispute names the
keys it was given. The API has more to check than a queued dispute (the answer's status and
Location, the record as the API shows it, the listing of the transaction), so each check that
fails is kept as a problem of the case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from local.demo.cases import Case, Records, ended, file_bytes
from local.demo.report import Row, row_from_record
from local.runtime.http_server import HttpApiClient
from local.stack import LocalStack
from tests.sandboxes.server import DemoCase

_UPLOAD_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Evidence:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ApiCase:
    reference: str
    provider: str
    expected: str
    request: dict[str, Any]
    idempotency_key: str
    evidence: tuple[Evidence, ...] = ()
    route: str = "api"
    dispute_id: str | None = None
    record: dict[str, Any] | None = None  # GET /disputes/{dispute_id}, once settled
    problems: list[str] = field(default_factory=list)
    _api: HttpApiClient | None = None

    def decide(self, records: Records, sandboxes: Mapping[str, Any]) -> None:
        pass  # the provider leaves it open: the tracker shows its state

    def file(self, stack: LocalStack) -> None:
        self._api = api = HttpApiClient(stack.api_url)
        request = {"provider": self.provider, **self.request}
        if self.evidence:
            keys = self._upload(api)
            if keys is None:
                return
            request["evidence"] = keys
        status, headers, body = api.call("POST", "/disputes", request, {"Idempotency-Key": self.idempotency_key})
        if status != 202 or not isinstance(body, dict) or "dispute_id" not in body:
            self.problems.append(f"POST /disputes answered {status}: {body}")
            return
        self.dispute_id = str(body["dispute_id"])
        if headers.get("location") != f"/disputes/{self.dispute_id}":
            self.problems.append(f"POST /disputes gave Location {headers.get('location')!r}")

    def _upload(self, api: HttpApiClient) -> list[dict[str, str]] | None:
        """Each file through its presigned POST; the keys to name in the dispute, or None on failure."""
        declared = [
            {"filename": item.filename, "content_type": item.content_type, "size": len(item.data)}
            for item in self.evidence
        ]
        asked = {"provider": self.provider, "reference": self.reference, "files": declared}
        status, _, body = api.call("POST", "/evidence-uploads", asked)
        if status != 201 or not isinstance(body, dict):
            self.problems.append(f"POST /evidence-uploads answered {status}: {body}")
            return None
        keys = []
        for upload, evidence in zip(body["files"], self.evidence, strict=True):
            form = {"file": (upload["filename"], evidence.data, evidence.content_type)}
            answer = requests.post(upload["url"], data=upload["fields"], files=form, timeout=_UPLOAD_TIMEOUT_SECONDS)
            if answer.status_code not in (200, 201, 204):
                self.problems.append(f"presigned upload of {upload['filename']} answered {answer.status_code}")
                return None
            keys.append({"key": upload["key"], "content_type": evidence.content_type})
        return keys

    def settled(self, stack: LocalStack, records: Records) -> bool:
        if self.dispute_id is None or self.record is not None:
            return True
        assert self._api is not None
        status, _, body = self._api.call("GET", f"/disputes/{self.dispute_id}")
        if status == 200 and isinstance(body, dict) and ended(body, self.expected):
            self.record = body
            self._check_listing(self._api)
        return self.record is not None

    def _check_listing(self, api: HttpApiClient) -> None:
        status, _, body = api.call("GET", "/disputes", query={"reference": self.reference})
        items = body.get("items") if isinstance(body, dict) else None
        if status != 200 or not isinstance(items, list) or self.dispute_id not in {i.get("dispute_id") for i in items}:
            self.problems.append(f"GET /disputes?reference={self.reference} answered {status}: {body}")

    def row(self, records: Records) -> Row:
        problems = list(self.problems)
        if self.dispute_id is not None and self.record is None:
            problems.append("GET /disputes/{dispute_id} never showed it settled")
        record = self.record or records.get(self.reference)
        return row_from_record(self.reference, self.provider, self.route, self.expected, record, problems)

    def detail(self, records: Records) -> dict[str, Any] | None:
        return self.record or records.get(self.reference)


def api_case(provider: str, case: DemoCase[Any]) -> Case:
    """A case filed over the HTTP API (`api`), its evidence uploaded through the presigned POSTs."""
    evidence = tuple(Evidence(item.filename, item.content_type, file_bytes(item)) for item in case.evidence)
    key = case.idempotency_key or f"demo-{provider}-{case.reference}"
    return ApiCase(case.reference, provider, case.expected, dict(case.request), key, evidence)
