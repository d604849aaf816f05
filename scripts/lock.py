"""Generates the hashed lock files from their hand-edited inputs (`make lock`), or with --check
fails when one is stale: its inputs changed, or it was edited by hand, since `make lock` wrote it.

    .venv/bin/python scripts/lock.py [--upgrade | --upgrade-package NAME ...]   # make lock, lock-upgrade
    python3 scripts/lock.py --check                                             # make lock-check

Each lock records, in a comment line, the sha256 of its inputs (its .in file, every file that one
names with -r or -c, and the resolver's options) and of its own requirements; --check recomputes
both, offline, in milliseconds. Regenerating keeps every pin the inputs still allow (uv takes the
existing lock as its preferences); --upgrade moves every pin to the newest release allowed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "make lock"
# uv reads no pip configuration: the index is named so that every machine resolves against PyPI.
COMMON = ("--generate-hashes", "--index-url", "https://pypi.org/simple", "--custom-compile-command", COMMAND)
# The development and tool environments run on whatever Python >= 3.11 scripts/find-python finds.
ANY_PYTHON = ("--universal", "--python-version", "3.11")
DIGEST_PREFIX = "# make lock-check: "
DIGESTS = re.compile(
    "^" + re.escape(DIGEST_PREFIX) + r"inputs sha256=(?P<inputs>\w+) requirements sha256=(?P<requirements>\w+)$",
    re.MULTILINE,
)
REFERENCE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)")
# What the shared layer never ships: the Lambda runtime provides the SDK, and no handler needs the
# rest. A runtime dependency that pulls one in is refused, to be replaced or kept out of the layer.
NOT_IN_LAYER = {
    "boto3": "the Lambda runtime provides it",
    "botocore": "the Lambda runtime provides it",
    "s3transfer": "the Lambda runtime provides it",
    "awscrt": "only boto3[crt] needs it, and botocore imports it at every cold start once installed",
    "aws-xray-sdk": "Powertools' Tracer is not used (Lambda's active tracing needs no SDK)",
}


@dataclass(frozen=True)
class Lock:
    path: str  # the generated file, relative to the root
    source: str  # the hand-edited input it is generated from
    options: tuple[str, ...]  # what it is resolved for


LAYER = Lock(
    "layers/dispute_gateway/requirements.txt",
    "layers/dispute_gateway/requirements.in",
    # What `sam build` installs: the python3.13 runtime on arm64 (Amazon Linux 2023, glibc 2.34).
    ("--python-version", "3.13", "--python-platform", "aarch64-manylinux_2_34"),
)
DEVELOPMENT = Lock("requirements-dev.txt", "requirements-dev.in", ANY_PYTHON)
# In this order: the development lock is constrained to the layer's pins.
LOCKS = (
    Lock("requirements-pip.txt", "requirements-pip.in", ANY_PYTHON),
    LAYER,
    DEVELOPMENT,
    Lock("requirements-sam.txt", "requirements-sam.in", ANY_PYTHON),
    Lock("requirements-checkov.txt", "requirements-checkov.in", ANY_PYTHON),
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def content(path: Path) -> str:
    """A file's text without its digest line: a lock that is another's input counts by its pins."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith(DIGEST_PREFIX))


def inputs(root: Path, lock: Lock) -> list[str]:
    """Its source and every file named there with -r/-c, recursively (relative to the naming file)."""
    found: list[str] = []
    pending = [root / lock.source]
    while pending:
        path = pending.pop(0).resolve()
        relative = path.relative_to(root).as_posix()
        if relative not in found:
            found.append(relative)
            pending += [path.parent / m.group(1) for m in map(REFERENCE.match, content(path).splitlines()) if m]
    return found


def digest_line(root: Path, lock: Lock) -> str:
    of_inputs = hashlib.sha256(json.dumps([COMMON, lock.options]).encode())
    for relative in inputs(root, lock):
        of_inputs.update(f"\0{relative}\0{content(root / relative)}".encode())
    of_requirements = hashlib.sha256(content(root / lock.path).encode())
    return f"{DIGEST_PREFIX}inputs sha256={of_inputs.hexdigest()} requirements sha256={of_requirements.hexdigest()}"


def pins(root: Path, lock: Lock) -> dict[str, str]:
    matches = map(PIN.match, content(root / lock.path).splitlines())
    return {canonical(match.group(1)): match.group(2) for match in matches if match}


def refused(root: Path, lock: Lock) -> list[str]:
    if lock != LAYER:
        return []
    return [
        f"{name}=={version} ({NOT_IN_LAYER[name]})"
        for name, version in pins(root, lock).items()
        if name in NOT_IN_LAYER
    ]


def stamp(root: Path, lock: Lock) -> None:
    """Writes the digest line below uv's header (the comment lines the lock starts with)."""
    path = root / lock.path
    lines = content(path).splitlines(keepends=True)
    header = next((number for number, line in enumerate(lines) if not line.startswith("#")), len(lines))
    lines.insert(header, digest_line(root, lock) + "\n")
    path.write_text("".join(lines), encoding="utf-8")


def problems(root: Path) -> list[str]:
    found = []
    for lock in LOCKS:
        if not (root / lock.path).exists():
            found.append(f"{lock.path} is missing")
            continue
        recorded = DIGESTS.search((root / lock.path).read_text(encoding="utf-8"))
        expected = DIGESTS.search(digest_line(root, lock))
        assert expected is not None
        if recorded is None:
            found.append(f"{lock.path} has no digest line: `{COMMAND}` did not write it")
        elif recorded["inputs"] != expected["inputs"]:
            found.append(f"{lock.path} is stale: {', '.join(inputs(root, lock))} changed since it was generated")
        elif recorded["requirements"] != expected["requirements"]:
            found.append(f"{lock.path} was edited by hand since it was generated")
        found += [f"{lock.path} puts in the layer {reason}" for reason in refused(root, lock)]
    return found


def generate(root: Path, uv: str, options: list[str]) -> int:
    for lock in LOCKS:
        command = [uv, "pip", "compile", lock.source, "-o", lock.path, "--quiet", *COMMON, *lock.options, *options]
        # The command is this file's constants and the caller's options: no outside input.
        if subprocess.run(command, cwd=root, check=False).returncode != 0:  # noqa: S603
            print(f"{lock.path}: uv could not resolve {lock.source} (see above)", file=sys.stderr)
            return 1
        stamp(root, lock)
        if reasons := refused(root, lock):
            print(f"{lock.path} puts in the layer " + "; ".join(reasons), file=sys.stderr)
            return 1
        print(f"wrote {lock.path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when a lock is stale (offline)")
    parser.add_argument("--upgrade", action="store_true", help="move every pin to the newest release allowed")
    parser.add_argument("--upgrade-package", action="append", default=[], metavar="NAME", help="move one's pin")
    parser.add_argument("--uv", default=str(Path(sys.executable).parent / "uv"), help="default: beside this Python")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # for the tests
    args = parser.parse_args()
    root = args.root.resolve()
    if args.check:
        if found := problems(root):
            sources = ", ".join(lock.source for lock in LOCKS)
            print("\n".join(found) + f"\nRun `{COMMAND}` (it regenerates the locks from {sources}).", file=sys.stderr)
            return 1
        return 0
    options = ["--upgrade"] if args.upgrade else []
    for name in args.upgrade_package:
        options += ["--upgrade-package", name]
    return generate(root, args.uv, options)


if __name__ == "__main__":
    sys.exit(main())
