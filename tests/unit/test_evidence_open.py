"""Opening evidence: each stream gives the bytes peeked to check its file first, then the rest of
the same body; a refusal or any failure while opening closes every body already opened."""

from __future__ import annotations

import io
import random
import re

import pytest
from botocore.exceptions import ReadTimeoutError
from requests_toolbelt import MultipartEncoder
from requests_toolbelt.multipart.decoder import MultipartDecoder

from dispute_gateway.config import EvidenceSettings
from dispute_gateway.evidence import (
    SIGNATURE_BYTES,
    EvidenceBucket,
    EvidenceRejected,
    EvidenceStream,
    EvidenceUnavailable,
)
from dispute_gateway.evidence_keys import TakesEvidence
from dispute_gateway.models import EvidenceFile

DATA = b"%PDF-1.7\n" + random.Random(16).randbytes(3 * EvidenceStream.CHUNK + 123)


class Body(io.BytesIO):
    """An S3 body that returns at most `most` bytes a read, as a socket may."""

    def __init__(self, data: bytes, most: int | None = None) -> None:
        super().__init__(data)
        self._most = most

    def read(self, size: int | None = -1) -> bytes:
        return super().read(size if self._most is None or size is None or size < 0 else min(size, self._most))


def stream(data: bytes = DATA, *, size: int | None = None, most: int | None = None) -> EvidenceStream:
    return EvidenceStream(
        "repay/D-1/c/a.pdf", "a.pdf", "application/pdf", len(data) if size is None else size, "e", Body(data, most)
    )


def read_all(evidence: EvidenceStream) -> bytes:
    chunks = []
    while evidence.len:
        chunks.append(evidence.read(-1))
    return b"".join(chunks)


def test_peeking_consumes_nothing():
    evidence = stream(most=3)
    assert evidence.peek(SIGNATURE_BYTES) == DATA[:SIGNATURE_BYTES]
    assert evidence.peek(SIGNATURE_BYTES) == DATA[:SIGNATURE_BYTES]
    assert evidence.len == len(DATA)
    assert read_all(evidence) == DATA


def test_reads_are_chunked_and_len_is_what_remains():
    evidence = stream()
    evidence.peek(SIGNATURE_BYTES)
    sizes = []
    while evidence.len:
        before = evidence.len
        sizes.append(len(evidence.read(-1)))
        assert evidence.len == before - sizes[-1]
    assert max(sizes) == EvidenceStream.CHUNK and sum(sizes) == len(DATA)
    assert evidence.read(-1) == b""


def test_the_peeked_bytes_are_read_first_in_order_then_the_body():
    evidence = stream()
    evidence.peek(SIGNATURE_BYTES)
    # Like any read(size), a read may return fewer bytes: the rest of the peeked ones, here.
    reads = [evidence.read(size) for size in (5, 5, 10, 10)]
    assert reads == [DATA[:5], DATA[5:10], DATA[10:16], DATA[16:26]]


def test_a_file_shorter_than_the_bytes_checked_peeks_what_it_has():
    evidence = stream(b"\xff\xd8\xff\xe0")
    assert evidence.peek(SIGNATURE_BYTES) == b"\xff\xd8\xff\xe0"
    assert read_all(evidence) == b"\xff\xd8\xff\xe0"


@pytest.mark.parametrize("peeked", [True, False])
def test_a_body_that_ends_before_its_declared_size_is_an_error(peeked):
    evidence = stream(DATA[:100], size=len(DATA))
    if peeked:
        evidence.peek(SIGNATURE_BYTES)
    with pytest.raises(EvidenceUnavailable, match=re.escape("repay/D-1/c/a.pdf ended before its declared size")):
        read_all(evidence)


def test_a_body_shorter_than_the_bytes_peeked_is_an_error():
    with pytest.raises(EvidenceUnavailable, match="ended before its declared size"):
        stream(b"%PDF", size=100).peek(SIGNATURE_BYTES)


def test_a_read_that_fails_in_botocore_is_unavailable_evidence():
    class Broken(Body):
        def read(self, size: int | None = -1) -> bytes:
            raise ReadTimeoutError(endpoint_url="https://s3")

    evidence = EvidenceStream("repay/D-1/c/a.pdf", "a.pdf", "application/pdf", 10, "e", Broken(b""))
    with pytest.raises(EvidenceUnavailable, match=re.escape("could not read repay/D-1/c/a.pdf")):
        evidence.peek(SIGNATURE_BYTES)


def test_close_closes_the_body():
    body = Body(DATA)
    EvidenceStream("k", "a.pdf", "application/pdf", len(DATA), "e", body).close()
    assert body.closed


def test_the_multipart_encoder_sends_every_byte_peeked_ones_included():
    first, second = stream(most=1000), stream(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    for evidence in (first, second):
        evidence.peek(SIGNATURE_BYTES)
    encoder = MultipartEncoder(
        fields=[
            ("files", (first.filename, first, first.content_type)),
            ("files", ("b.png", second, "image/png")),
            ("new_amount", "10"),
        ]
    )
    declared = encoder.len
    body = b"".join(iter(lambda: encoder.read(64 * 1024), b""))
    assert len(body) == declared
    parts = MultipartDecoder(body, encoder.content_type).parts
    assert [part.content for part in parts] == [DATA, b"\x89PNG\r\n\x1a\n" + bytes(range(256)), b"10"]


# -- EvidenceBucket.open over a stand-in S3 client ----------------------------------------------
class FakeS3:
    """get_object of an in-memory bucket; `fail` maps a key to what its GetObject raises instead."""

    def __init__(self, objects: dict[str, bytes], fail: dict[str, BaseException] | None = None) -> None:
        self.objects = objects
        self.fail = fail or {}
        self.bodies: list[Body] = []
        self.gets: list[str] = []

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, object]:
        self.gets.append(Key)
        if Key in self.fail:
            raise self.fail[Key]
        self.bodies.append(Body(self.objects[Key]))
        return {"Body": self.bodies[-1], "ContentLength": len(self.objects[Key]), "ContentType": "application/pdf"}


def bucket(s3: FakeS3) -> EvidenceBucket:
    return EvidenceBucket(
        EvidenceSettings.model_validate({"DISPUTES_TABLE": "disputes", "EVIDENCE_BUCKET": "evidence"}),
        s3,
        TakesEvidence(prefix="repay/", owner="deal"),
    )


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("other/b.pdf", "other/b.pdf is not under repay/D-1/"),
        ("repay/D-2/c/b.pdf", "repay/D-2/c/b.pdf is not under repay/D-1/: a dispute's evidence must be in its own"),
        ("repay/D-1/../D-2/b.pdf", "repay/D-1/../D-2/b.pdf has '..' in its path"),
        ("repay/D-1/c/dispute.json", "repay/D-1/c/dispute.json is named dispute.json"),
    ],
)
def test_a_key_outside_the_disputes_own_folder_is_refused_before_any_s3_request(key, reason):
    """The request models refuse these first; the bucket refuses them all the same."""
    s3 = FakeS3({"repay/D-1/c/a.pdf": DATA})
    files = [EvidenceFile(key="repay/D-1/c/a.pdf"), EvidenceFile(key=key)]
    with pytest.raises(EvidenceRejected, match=re.escape(reason)):
        bucket(s3).open(files, "D-1")
    assert s3.gets == []


def test_any_failure_while_opening_closes_the_bodies_already_opened():
    s3 = FakeS3({"repay/D-1/c/a.pdf": DATA}, fail={"repay/D-1/c/b.pdf": RuntimeError("a bug")})
    with pytest.raises(RuntimeError, match="a bug"):
        bucket(s3).open([EvidenceFile(key="repay/D-1/c/a.pdf"), EvidenceFile(key="repay/D-1/c/b.pdf")], "D-1")
    assert [body.closed for body in s3.bodies] == [True]


def test_opened_streams_are_checked_named_and_unread_past_their_first_bytes():
    s3 = FakeS3({"repay/D-1/c/Квитанция.pdf": DATA, "repay/D-1/c/b.pdf": DATA[: SIGNATURE_BYTES - 1]})
    streams = bucket(s3).open([EvidenceFile(key=key) for key in s3.objects], "D-1")
    assert [(s.filename, s.content_type, s.len) for s in streams] == [
        ("Kvitantsiya.pdf", "application/pdf", len(DATA)),
        ("b.pdf", "application/pdf", SIGNATURE_BYTES - 1),
    ]
    assert [body.tell() for body in s3.bodies] == [SIGNATURE_BYTES, SIGNATURE_BYTES - 1]
    assert [read_all(s) for s in streams] == list(s3.objects.values())
