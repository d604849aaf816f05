"""Cold start of each function: importing its handler against its floor, as whole-process times.

The floor is what any handler of that function pays anyway: `import boto3` plus creating the
AWS clients it uses (plus `import requests` for the workers). Each measurement is a fresh
interpreter (`python -c ...`), alternated with its floor in the same run, medians reported.
The environment mimics Lambda's (function name set, tracing on) so Powertools behaves as it
would there. Prints figures; not a test.

    .venv/bin/python bench/cold_start.py [--runs N] [--importtime FUNCTION]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the local stack's template reader, from a checkout
API = "api"
API_FLOOR = "import boto3; [boto3.client(s) for s in ('dynamodb', 'sqs', 's3')]"
API_TARGET, WORKER_TARGET = 1.3, 1.5
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "ap-southeast-1",
    "AWS_REGION": "ap-southeast-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    "POWERTOOLS_SERVICE_NAME": "dispute-gateway",
    "POWERTOOLS_METRICS_NAMESPACE": "DisputeGateway",
    "DISPUTES_TABLE": "disputes",
    "EVIDENCE_BUCKET": "evidence",
    "PROVIDER_QUEUE_URL_PREFIX": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/bench-",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/dlq",
}


def functions() -> dict[str, tuple[str, float]]:
    """Each function folder -> (its floor's code, its target): the API, then every provider's worker,
    found in the template as the function that reads the provider's secret."""
    from dispute_gateway.providers import registry
    from local.aws.template import TEMPLATE, load_model

    found = {API: (API_FLOOR, API_TARGET)}
    model = load_model(TEMPLATE)
    for spec in registry().values():
        for function in model.functions.values():
            if spec.secret_variable in function.environment:
                clients = ("dynamodb", "sqs", "secretsmanager", *(("s3",) if spec.evidence else ()))
                floor = f"import boto3, requests; [boto3.client(s) for s in {clients!r}]"
                found[function.code_dir.name] = (floor, WORKER_TARGET)
    return found


def environment_of_providers() -> dict[str, str]:
    from dispute_gateway.providers import registry

    return {spec.secret_variable: spec.name for spec in registry().values()}


def wall_time(code: str, environment: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=environment, check=True, cwd=ROOT)
    return time.perf_counter() - started


def handler_code(function: str) -> str:
    return f"import sys; sys.path.insert(0, {str(ROOT / 'functions' / function)!r}); import app"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--importtime", metavar="FUNCTION", help="print -X importtime's top entries instead")
    arguments = parser.parse_args()
    inherited = {k: v for k, v in os.environ.items() if k.startswith(("PATH", "HOME"))}
    environment = {**inherited, **ENVIRONMENT, **environment_of_providers()}
    if arguments.importtime:
        return importtime(arguments.importtime, environment)
    for function, (floor_code, target) in functions().items():
        handler, floor = [], []
        wall_time(handler_code(function), environment)  # warm the OS file cache, as a provisioned image is
        for _ in range(arguments.runs):
            handler.append(wall_time(handler_code(function), environment))
            floor.append(wall_time(floor_code, environment))
        ratio = statistics.median(handler) / statistics.median(floor)
        verdict = "ok" if ratio <= target else f"over the {target}x target"
        print(
            f"{function:>16}: handler {statistics.median(handler) * 1000:.0f} ms, "
            f"floor {statistics.median(floor) * 1000:.0f} ms -> {ratio:.2f}x ({verdict})"
        )
    return 0


def importtime(function: str, environment: dict[str, str]) -> int:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", handler_code(function)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    rows = [line.split("|") for line in result.stderr.splitlines() if line.startswith("import time:")][1:]
    top = sorted(rows, key=lambda row: int(row[1]), reverse=True)[:25]
    for _self_us, cumulative_us, name in top:
        print(f"{int(cumulative_us) / 1000:8.1f} ms  {name.rstrip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
