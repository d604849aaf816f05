"""Running a function in-process: its handler loaded from the template's CodeUri and Handler,
a Lambda-like context, and SQS events shaped as Lambda delivers them.

All functions share this one process. A function's environment is applied only while its
module is imported (its cold start, when the functions read their configuration) and removed
afterwards, so two functions never see each other's variables at import. The limits: code
that reads os.environ after its cold start sees the process environment, and modules
functions share (the layer's package) are imported once, under the first function's
environment.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]
_import_lock = threading.Lock()
log = logging.getLogger(__name__)


class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_seconds: float, memory_mb: int, region: str, account: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """A loaded function: call `invoke` as Lambda would (the time-out is reported, not enforced).

    One invocation at a time: on Lambda concurrent invocations each get their own execution
    environment, here they would share the handler module's state (Powertools' resolver keeps
    the current event on the app, the logger its appended keys)."""

    name: str
    handler: Handler
    timeout_seconds: float
    memory_mb: int
    region: str
    account: str
    _busy: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._busy:
            context = LocalLambdaContext(self.name, self.timeout_seconds, self.memory_mb, self.region, self.account)
            return self.handler(event, context)


def let_finish(thread: threading.Thread, timeout: float, what: str) -> None:
    """Wait up to `timeout` seconds for `thread`, told to stop, to finish the invocation under
    way; one still busy then is left behind (a daemon), and said so."""
    thread.join(timeout)
    if thread.is_alive():
        log.warning("%s still busy after %.0f s; left behind", what, timeout)


@contextlib.contextmanager
def applied_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` set in os.environ for the duration, then the previous values put back."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_handler(code_dir: Path, handler: str, environment: Mapping[str, str], module_prefix: str) -> Handler:
    """Import `handler` ("module.function", module dotted from `code_dir`) afresh, as a cold start does."""
    module_path, _, attribute = handler.rpartition(".")
    if not module_path or not attribute:
        raise ValueError(f"handler {handler!r} is not of the form module.function")
    source = code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
    # Every function's module is `app`: a per-function name keeps them apart in sys.modules.
    module_name = f"{module_prefix}_{module_path.replace('.', '_')}"
    with _import_lock, applied_environment(environment), _on_sys_path(code_dir):
        module = _import_file(module_name, source)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise AttributeError(f"{source} has no callable {attribute!r}")
    return function


def _import_file(module_name: str, source: Path) -> ModuleType:
    sys.modules.pop(module_name, None)
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


@contextlib.contextmanager
def _on_sys_path(folder: Path) -> Iterator[None]:
    # Lambda puts the function's folder on the path, so its sibling modules import by name.
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


# -- SQS events -----------------------------------------------------------------------------
def sqs_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an SQS event, from a ReceiveMessage result, in the shape Lambda delivers."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda spells the attribute fields in camel case and sends binary values base64-encoded.
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_b64(item) for item in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _b64(value["BinaryValue"])
    return attribute


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def sqs_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def failed_message_ids(response: Any, message_ids: list[str], *, reports_item_failures: bool) -> set[str]:
    """The messages of a batch to leave on the queue, by Lambda's ReportBatchItemFailures rules.

    Without the response type the answer is ignored and the batch succeeded. With it, an
    empty or absent `batchItemFailures` means success, and an answer Lambda cannot read
    (an identifier missing, empty or not in the batch) fails the whole batch.
    """
    if not reports_item_failures or response is None:
        return set()
    if not isinstance(response, dict):
        return set(message_ids)
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return set(message_ids)
        failed.add(identifier)
    return failed
