"""Checks the shared layer `sam build` made against its lock: exactly the locked distributions at
their locked versions, each a wheel for CPython 3.13 on arm64 (or pure Python), none of those the
layer must not ship. `make build` runs it.

    python3.13 scripts/check_layer.py
"""

from __future__ import annotations

import re
import sys
from email.parser import HeaderParser

from lock import LAYER, NOT_IN_LAYER, ROOT, canonical, pins

BUILT = ROOT / ".aws-sam" / "build" / "SharedLayer" / "python"
# The wheel tags the python3.13 arm64 runtime takes: pure Python, or CPython 3.13 (or the stable
# ABI) on manylinux aarch64 up to glibc 2.34 (Amazon Linux 2023).
COMPATIBLE = re.compile(r"^(py3|py2\.py3)-none-any$|^cp3\d+-(cp313|abi3|none)-(manylinux\w*_aarch64)$")


def distributions() -> dict[str, tuple[str, list[str]]]:
    """Each installed distribution: its version and its wheel tags."""
    found = {}
    for info in BUILT.glob("*.dist-info"):
        metadata = HeaderParser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        wheel = HeaderParser().parsestr((info / "WHEEL").read_text(encoding="utf-8"))
        found[canonical(metadata["Name"])] = (metadata["Version"], wheel.get_all("Tag") or [])
    return found


def main() -> int:
    if not BUILT.is_dir():
        print(f"{BUILT.relative_to(ROOT)} does not exist: run `make build`", file=sys.stderr)
        return 1
    locked = pins(ROOT, LAYER)
    built = distributions()
    problems = [f"{name} is in the layer ({NOT_IN_LAYER[name]})" for name in sorted(built.keys() & NOT_IN_LAYER.keys())]
    problems += [
        f"{name}=={locked[name]} is locked but not in the layer" for name in sorted(locked.keys() - built.keys())
    ]
    problems += [f"{name} is in the layer but not in {LAYER.path}" for name in sorted(built.keys() - locked.keys())]
    for name, (version, tags) in sorted(built.items()):
        if name in locked and version != locked[name]:
            problems.append(f"{name}=={version} is in the layer, {locked[name]} in {LAYER.path}")
        if not any(COMPATIBLE.match(tag) for tag in tags):
            problems.append(f"{name}=={version} is a wheel for {', '.join(tags)}, not for python3.13 on arm64")
    if problems:
        print("\n".join(f"shared layer: {problem}" for problem in problems), file=sys.stderr)
        return 1
    size = sum(path.stat().st_size for path in BUILT.rglob("*") if path.is_file())
    print(f"shared layer: the {len(built)} distributions of {LAYER.path}, for python3.13 on arm64, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
