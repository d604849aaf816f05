"""Peak memory of the Repay worker for 3 x 64 MiB of evidence against a 1 MiB baseline.

Evidence is streamed from S3 to Repay, so the function's peak memory must not grow with the
evidence's size; the worker's S3 requests per evidence file are counted too, for a command and
for an upload (its dispute.json's EventBridge event: the manifest and its folder's listing are read
besides the files). Each case runs the real handler in a fresh process (its own peak RSS), with
moto's server and the Repay sandbox in processes of their own so their memory is not counted.
Prints figures; not a test.

    .venv/bin/python bench/repay_memory.py
"""

from __future__ import annotations

import collections
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
FUNCTION = "RepayDisputeFunction"
CASES = {"1 x 1 MiB (baseline)": [1], "3 x 64 MiB": [64, 64, 64], "3 x 1 MiB by upload": [1, 1, 1]}
UPLOADS = {"3 x 1 MiB by upload"}
# Streaming makes any size work; the bench raises the limits above its own files.
TABLE_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
LIMITS = {"EVIDENCE_MAX_FILE_BYTES": str(128 * MiB), "EVIDENCE_MAX_TOTAL_BYTES": str(512 * MiB)}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(json.loads(sys.argv[2]))
    from local.providers import ProviderWiring
    from local.stack import LocalStack

    sandbox, base_url = start_sandbox()
    try:
        wiring = ProviderWiring.of("repay", base_url, {"api_key": "repay_sandbox_key"})
        with LocalStack(providers=[wiring], poll=False) as stack:
            environment = {**os.environ, **stack.function_environments[FUNCTION], **LIMITS}
            bucket = stack.ref("EvidenceBucket")
            results = {
                name: run_case(stack, bucket, environment, sizes, base_url, upload=name in UPLOADS)
                for name, sizes in CASES.items()
            }
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    for name, result in results.items():
        print(
            f"{name:>22}: peak RSS {result['peak_mib']:.0f} MiB "
            f"(after cold start {result['after_import_mib']:.0f} MiB), {result['seconds']:.1f} s, "
            f"status {result['status']}, S3 requests per file {per_file(result, len(CASES[name]))}"
        )
    baseline, large = results[next(iter(CASES))]["peak_mib"], results["3 x 64 MiB"]["peak_mib"]
    print(
        f"Repay worker peak RSS, 3 x 64 MiB vs 1 MiB of evidence: {large:.0f} MiB vs {baseline:.0f} MiB "
        f"({large - baseline:+.0f} MiB for 191 MiB more evidence)"
    )
    print(f"Repay worker S3 requests per evidence file: {per_file(results['3 x 64 MiB'], len(CASES['3 x 64 MiB']))}")
    for name in UPLOADS:
        calls = results[name]["s3_calls"]
        print(f"Repay worker S3 requests for {name}: {sum(calls.values())} ({dict(sorted(calls.items()))})")
    large_case = results["3 x 64 MiB"]
    calls = large_case["repay_calls"]
    print(
        f"Repay dispute: table writes {large_case['table_writes']}, "
        f"deal GETs {calls.get('GET', 0)}, dispute POSTs {calls.get('POST', 0)}"
    )
    return 0


def per_file(result: dict[str, Any], files: int) -> str:
    """'1 (GetObject 1)': the worker's S3 requests divided by the dispute's files, by operation."""
    calls: dict[str, int] = result["s3_calls"]
    operations = ", ".join(f"{name} {count / files:g}" for name, count in sorted(calls.items()))
    return f"{sum(calls.values()) / files:g} ({operations})"


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sandboxes.repay", "--port", "0", "--no-keep-bodies"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip().split()[-1]
    return process, base_url


def run_case(
    stack: Any, bucket: str, environment: dict[str, str], sizes: list[int], base_url: str, *, upload: bool
) -> dict[str, Any]:
    deal_id = f"BENCH-{uuid.uuid4().hex[:8]}"
    keys = []
    for index, size in enumerate(sizes):
        key = f"repay/{deal_id}/bench/evidence-{index}.pdf"
        body = b"%PDF-1.4\n" + os.urandom(size * MiB - 9)
        stack.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/pdf")
        keys.append(key)
    message: dict[str, Any] = {"deal_id": deal_id, "new_amount": "1000", "evidence": [{"key": key} for key in keys]}
    if upload:
        from tests.conftest import object_created

        manifest = f"repay/{deal_id}/bench/dispute.json"
        answer = stack.client("s3").put_object(Bucket=bucket, Key=manifest, Body=b'{"new_amount": "1000"}')
        message = object_created(bucket, manifest, answer["ETag"])
    started = time.perf_counter()
    output = (
        subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(message)],
            env=environment,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    result: dict[str, Any] = json.loads(output)
    result["seconds"] = time.perf_counter() - started
    record = stack.client("dynamodb").scan(TableName=stack.ref("DisputesTable"))["Items"]
    statuses = [item["status"]["S"] for item in record if item.get("reference", {}).get("S") == deal_id]
    result["status"] = statuses[0] if statuses else "no record"
    received = requests.get(f"{base_url}/_sandbox/requests", timeout=10).json()
    result["repay_calls"] = collections.Counter(r["method"] for r in received if f"/deals/{deal_id}" in r["path"])
    return result


def child(message: dict[str, Any]) -> int:
    """One cold start and one invocation of the real handler; prints its memory as JSON."""
    sys.path.insert(0, str(ROOT / "functions" / "repay_dispute"))
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the function's JSON logs are not the figures
    import boto3

    # Clients copy the session's handlers when created: every S3 client of the cold start counts
    # its calls here (one per API call, before botocore's own retries, which moto never needs).
    s3_calls: collections.Counter[str] = collections.Counter()
    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.s3", lambda model, **_: s3_calls.update([model.name]))
    table_calls: collections.Counter[str] = collections.Counter()
    boto3.DEFAULT_SESSION.events.register("before-call.dynamodb", lambda model, **_: table_calls.update([model.name]))
    import app  # type: ignore[import-not-found]

    from tests.conftest import FakeLambdaContext, sqs_event, sqs_record

    after_import = peak_rss_mib()
    response = app.lambda_handler(sqs_event(sqs_record(json.dumps(message))), FakeLambdaContext(300_000))
    peak = peak_rss_mib()
    sys.stdout = sys.__stdout__
    print(
        json.dumps(
            {
                "after_import_mib": after_import,
                "peak_mib": peak,
                "failures": response["batchItemFailures"],
                "s3_calls": s3_calls,
                "table_writes": sum(table_calls[name] for name in TABLE_WRITES),
            }
        )
    )
    return 0


def peak_rss_mib() -> float:
    """This process's own high-water mark. (getrusage's ru_maxrss would also count the parent's
    peak, which Linux carries across fork and exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
