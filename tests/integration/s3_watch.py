"""What a worker asks S3, seen from its own S3 client (the one its cold start made) through
botocore's event hooks: the calls it makes, and each GetObject's body, wrapped to see what is read
from it and whether it is closed. S3 errors are played by the same hooks."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ResponseStreamingError

S3Fault = Callable[[], tuple[AWSResponse, dict[str, Any]]]


class WatchedBody:
    """An S3 body that tells how much was read from it and whether it was closed."""

    def __init__(self, body: Any, break_after: int | None = None) -> None:
        self._body = body
        self._break_after = break_after
        self.bytes_read = 0
        self.closed = False

    def read(self, amount: int | None = None) -> bytes:
        if self._break_after is not None and self.bytes_read >= self._break_after:
            raise ResponseStreamingError(error="connection reset by S3")
        data = bytes(self._body.read(amount))
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self.closed = True
        self._body.close()

    def __enter__(self) -> WatchedBody:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class S3Watch:
    """The worker's S3 calls in order, its GetObject parameters and bodies; `faults[n]` plays the
    n-th GetObject (from 1) instead of S3, `break_after[n]` breaks its body off after that many bytes."""

    def __init__(self, app: ModuleType) -> None:
        self.calls: list[str] = []
        self.gets: list[dict[str, Any]] = []
        self.bodies: list[WatchedBody] = []
        self.faults: dict[int, S3Fault] = {}
        self.break_after: dict[int, int] = {}
        # The worker's own client, as its cold start made it: hooks on it see only its calls.
        events = app.worker.provider._evidence._s3.meta.events
        events.register("before-parameter-build.s3.GetObject", self._get_parameters)
        events.register("before-call.s3", self._call)
        events.register("after-call.s3.GetObject", self._watch_body)

    def _get_parameters(self, params: dict[str, Any], **_: Any) -> None:
        self.gets.append(dict(params))

    def _call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.calls.append(model.name)
        fault = self.faults.get(len(self.gets)) if model.name == "GetObject" else None
        return fault() if fault else None

    def _watch_body(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Body" in parsed:
            parsed["Body"] = WatchedBody(parsed["Body"], self.break_after.get(len(self.gets)))
            self.bodies.append(parsed["Body"])
