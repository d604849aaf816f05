"""Cold start of each function: the CPU time of a process importing its handler against its floor's.

The floor is what any handler of that function pays anyway: `import boto3` plus creating the
AWS clients the function uses (plus `import requests` for the functions that call a provider).
Each run is a fresh interpreter; handler and floor run in turn (handler, floor, handler, floor
...), and the figure is the median of the per-pair ratios of their CPU time (user + sys, from
`os.wait4`): on a shared machine the wall time of a process says more about its neighbours than
about itself. Two other readings of the same runs are printed beside it, to show the figure is
not an artefact of one clock: the growth of `getrusage(RUSAGE_CHILDREN)` over each run, and the
child's own `time.process_time()` once its imports are done (no interpreter teardown).

The environment mimics Lambda's: function name set, tracing on (so Powertools behaves as it
would there), and no module this virtualenv has only for development that botocore imports
when it finds it (`awscrt`, pyOpenSSL); Lambda's runtime and the layer have neither.

This virtualenv holds far more distributions than a Lambda (pydantic scans them all for plugins
when it builds its first model: ~4 ms here); `--python` runs the children with another
interpreter, e.g. a virtualenv holding only boto3 and the layer's requirements, plus a `.pth`
naming `layers/dispute_gateway`.

Prints figures; not a test.

    .venv/bin/python bench/cold_start.py [--pairs N] [--function NAME ...] [--perf] [--endpoint] [--python PATH]
    .venv/bin/python bench/cold_start.py --importtime NAME [--top N]   # with and without AWS_ENDPOINT_URL
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the local stack's template reader, from a checkout
API_TARGET, WORKER_TARGET = 1.3, 1.4
# The local stack's case: every client goes to moto's server.
LOCAL_ENDPOINT = "http://127.0.0.1:5000"
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
    "EVENT_BUS_NAME": "disputes",
    "PROVIDER_QUEUE_URL_PREFIX": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/bench-",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.ap-southeast-1.amazonaws.com/123456789012/dlq",
}
# In this virtualenv for development only (aws-sam-cli, moto), in neither Lambda's runtime (boto3
# and its dependencies) nor the layer; botocore imports each when it is installed (~35 ms and
# ~22 ms of CPU, teardown included), so a child sees them as missing, as a Lambda would.
NOT_ON_LAMBDA = ("awscrt", "OpenSSL")


@dataclass(frozen=True)
class Function:
    name: str  # its folder under functions/
    floor: str  # the code of its floor
    target: float | None  # the ratio it must stay under, if any


@dataclass(frozen=True)
class Run:
    cpu: float  # os.wait4: the child's ru_utime + ru_stime, teardown included
    children_cpu: float  # the growth of getrusage(RUSAGE_CHILDREN) over the same run
    clock: float  # the child's time.process_time() after its imports: no teardown
    wall: float


def functions() -> list[Function]:
    """Every function of the template, with its floor: the clients its kind of function uses."""
    from dispute_gateway.providers import registry
    from local.aws.template import TEMPLATE, load_model

    found = []
    for function in load_model(TEMPLATE).functions.values():
        specs = [spec for spec in registry().values() if spec.secret_variable in function.environment]
        if function.http_routes:
            clients, target = ("dynamodb", "sqs", "s3"), API_TARGET
        elif function.event_sources:  # a provider's queue worker
            evidence = ("s3",) if any(spec.evidence for spec in specs) else ()
            clients, target = ("dynamodb", "sqs", "secretsmanager", *evidence), WORKER_TARGET
        elif function.schedules:  # a provider's outcome tracker
            clients, target = ("dynamodb", "secretsmanager"), None
        else:  # the table stream's event publisher
            clients, target = ("events",), None
        modules = "boto3, requests" if specs else "boto3"
        floor = f"import {modules}; [boto3.client(s) for s in {clients!r}]"
        found.append(Function(function.code_dir.name, floor, target))
    return sorted(found, key=lambda function: (function.target is None, function.name))


def base_environment(*, endpoint: str | None = None) -> dict[str, str]:
    from dispute_gateway.providers import registry

    inherited = {k: v for k, v in os.environ.items() if k.startswith(("PATH", "HOME"))}
    providers = {spec.secret_variable: spec.name for spec in registry().values()}
    return {**inherited, **ENVIRONMENT, **providers, **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {})}


def handler_code(function: str) -> str:
    return f"import sys; sys.path.insert(0, {str(ROOT / 'functions' / function)!r}); import app"


def child_code(code: str, *, dev_modules: bool) -> str:
    hide = "" if dev_modules else f"import sys; sys.modules.update(dict.fromkeys({NOT_ON_LAMBDA!r})); "
    return f"{hide}{code}; import time; print(time.process_time())"


def run(code: str, environment: dict[str, str], python: str) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen([python, "-c", code], env=environment, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors)
        assert child.stdout is not None
        output = child.stdout.read()
        child.stdout.close()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{code!r} failed:\n{errors.read().decode(errors='replace')}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Run(
        cpu=usage.ru_utime + usage.ru_stime,
        children_cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        clock=float(output.split()[-1]),
        wall=wall,
    )


def perf_task_clock(code: str, environment: dict[str, str], python: str) -> float:
    """The child's task-clock by `perf stat` (the scheduler's own count), in seconds."""
    perf = shutil.which("perf")
    if perf is None:
        raise SystemExit("--perf needs perf (linux-perf) on PATH")
    result = subprocess.run(
        [perf, "stat", "-x", ",", "-e", "task-clock", "--", python, "-c", code],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in result.stderr.splitlines() if ",task-clock" in line)
    return float(line.split(",")[0]) / 1000


def measure(
    function: Function, pairs: int, environment: dict[str, str], python: str, *, dev_modules: bool, perf: bool
) -> str:
    handler = child_code(handler_code(function.name), dev_modules=dev_modules)
    floor = child_code(function.floor, dev_modules=dev_modules)
    # Warms the OS file cache and the pycache, as a deployed image has them.
    run(handler, environment, python), run(floor, environment, python)
    runs = [(run(handler, environment, python), run(floor, environment, python)) for _ in range(pairs)]

    def ratio(reading: str) -> float:
        return statistics.median(getattr(h, reading) / getattr(f, reading) for h, f in runs)

    def ms(side: int, reading: str) -> float:
        return statistics.median(getattr(pair[side], reading) for pair in runs) * 1000

    def agreement(other: float, tolerance: float) -> str:
        return "agrees" if abs(other - main) <= tolerance else f"DIFFERS by {other - main:+.2f}x"

    main = ratio("cpu")
    quartiles = statistics.quantiles([h.cpu / f.cpu for h, f in runs], n=4) if pairs > 1 else [main] * 3
    if function.target is None:
        verdict = "no target"
    else:
        verdict = f"target {function.target}x {'met' if main <= function.target else 'MISSED'}"
    lines = [
        f"{function.name:>16}: {main:.2f}x CPU (quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}), "
        f"handler {ms(0, 'cpu'):.0f} ms vs floor {ms(1, 'cpu'):.0f} ms -> {verdict}",
        f"second way, getrusage(RUSAGE_CHILDREN) deltas: {ratio('children_cpu'):.2f}x "
        f"({agreement(ratio('children_cpu'), 0.01)})",
    ]
    if perf:
        timed = [
            (perf_task_clock(handler, environment, python), perf_task_clock(floor, environment, python))
            for _ in range(pairs)
        ]
        by_perf = statistics.median(h / f for h, f in timed)
        lines.append(f"perf stat task-clock, {pairs} more pairs: {by_perf:.2f}x ({agreement(by_perf, 0.05)})")
    lines += [
        f"imports only (the child's own clock, no teardown): {ratio('clock'):.2f}x, "
        f"{ms(0, 'clock'):.0f} vs {ms(1, 'clock'):.0f} ms",
        f"wall: {ratio('wall'):.2f}x, {ms(0, 'wall'):.0f} vs {ms(1, 'wall'):.0f} ms",
    ]
    return f"\n{'':>18}".join(lines)


def importtime_profile(
    code: str, environment: dict[str, str], python: str, runs: int
) -> dict[str, tuple[str, float, float]]:
    """Each module's (name as indented by -X importtime, self ms, cumulative ms), medians of `runs` processes."""
    samples: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for _ in range(runs):
        result = subprocess.run(
            [python, "-X", "importtime", "-c", code],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        for line in result.stderr.splitlines():
            if line.startswith("import time:") and not line.rstrip().endswith("| imported package"):
                own, cumulative, name = line.removeprefix("import time:").split("|")
                samples[name.strip()].append((name.rstrip(), int(own), int(cumulative)))
    return {
        module: (rows[0][0], statistics.median(r[1] for r in rows) / 1000, statistics.median(r[2] for r in rows) / 1000)
        for module, rows in samples.items()
        if len(rows) == runs
    }


def importtime(function: str, python: str, top: int, runs: int, *, dev_modules: bool) -> int:
    floor = next(candidate.floor for candidate in functions() if candidate.name == function)
    code = child_code(handler_code(function), dev_modules=dev_modules)
    plain = importtime_profile(code, base_environment(), python, runs)
    local = importtime_profile(code, base_environment(endpoint=LOCAL_ENDPOINT), python, runs)
    sections = (
        ("benchmark environment", plain, list(plain)),
        (f"AWS_ENDPOINT_URL={LOCAL_ENDPOINT}", local, list(local)),
        ("modules imported only with AWS_ENDPOINT_URL", local, [m for m in local if m not in plain]),
        ("modules imported only without AWS_ENDPOINT_URL", plain, [m for m in plain if m not in local]),
    )
    for title, profile, modules in sections:
        print(f"{function}, {title}: {len(modules)} modules; top {top} by cumulative import time")
        print(f"  (wall ms, medians of {runs} processes: cumulative, self)")
        for module in sorted(modules, key=lambda name: -profile[name][2])[:top]:
            name, own, cumulative = profile[module]
            print(f"  {cumulative:8.1f} {own:6.1f}  {name}")
    # What the handler imports beyond its floor, by package: where its own cost goes.
    floor_modules = importtime_profile(child_code(floor, dev_modules=dev_modules), base_environment(), python, runs)
    beyond: dict[str, list[float]] = defaultdict(list)
    for module, (_, own, _) in plain.items():
        if module not in floor_modules:
            beyond[_package(module)].append(own)
    count, total = sum(map(len, beyond.values())), sum(map(sum, beyond.values()))
    print(f"{function}, beyond its floor: {count} modules, {total:.1f} ms")
    print("  (wall ms of their own import, summed by package; `app` includes creating its clients)")
    for package, times in sorted(beyond.items(), key=lambda item: -sum(item[1]))[:top]:
        print(f"  {sum(times):8.1f} {len(times):4d}  {package}")
    return 0


def _package(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "dispute_gateway":
        return module
    return ".".join(parts[:3]) if parts[0] == "aws_lambda_powertools" else parts[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=15, help="handler/floor pairs per function (default 15)")
    parser.add_argument("--function", action="append", help="only this function (repeatable)")
    parser.add_argument("--endpoint", action="store_true", help=f"with AWS_ENDPOINT_URL={LOCAL_ENDPOINT} set")
    parser.add_argument("--perf", action="store_true", help="also measure as many pairs by `perf stat`")
    parser.add_argument("--dev-modules", action="store_true", help=f"let children import {', '.join(NOT_ON_LAMBDA)}")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the children's interpreter, e.g. a virtualenv holding only boto3 and the layer's requirements",
    )
    parser.add_argument("--importtime", metavar="FUNCTION", help="print -X importtime's top entries instead")
    parser.add_argument("--top", type=int, default=25, help="entries --importtime prints (default 25)")
    parser.add_argument("--runs", type=int, default=5, help="processes --importtime takes medians of (default 5)")
    arguments = parser.parse_args()
    if arguments.importtime:
        return importtime(
            arguments.importtime, arguments.python, arguments.top, arguments.runs, dev_modules=arguments.dev_modules
        )
    environment = base_environment(endpoint=LOCAL_ENDPOINT if arguments.endpoint else None)
    print(
        f"{arguments.pairs} interleaved pairs per function; median of per-pair ratios, handler / floor"
        + (f"; AWS_ENDPOINT_URL={LOCAL_ENDPOINT}" if arguments.endpoint else "")
        + ("; with the development-only modules" if arguments.dev_modules else "")
        + (f"; children run {arguments.python}" if arguments.python != sys.executable else "")
    )
    for function in functions():
        if not arguments.function or function.name in arguments.function:
            options = {"dev_modules": arguments.dev_modules, "perf": arguments.perf}
            print(measure(function, arguments.pairs, environment, arguments.python, **options), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
