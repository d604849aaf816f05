"""The hashed locks (`make lock`) are current, and the check that says so (`make lock-check`,
scripts/lock.py --check) notices a changed input, a hand edit, and a package the layer must not ship."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "lock.py"


def load_lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


lock = load_lock()


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--root", str(root)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The locks and their inputs, as committed, in a folder of their own."""
    for each in lock.LOCKS:
        for relative in [each.path, *lock.inputs(ROOT, each)]:
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / relative, tmp_path / relative)
    return tmp_path


def test_the_committed_locks_are_current() -> None:
    result = check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_copy_of_them_passes(copy: Path) -> None:
    result = check(copy)
    assert result.returncode == 0, result.stderr


def test_a_changed_input_makes_its_lock_and_those_built_on_it_stale(copy: Path) -> None:
    with (copy / lock.LAYER.source).open("a", encoding="utf-8") as source:
        source.write("tzdata>=2024.1\n")
    result = check(copy)
    assert result.returncode == 1
    stale = [line.split()[0] for line in result.stderr.splitlines() if " is stale: " in line]
    assert stale == [lock.LAYER.path, lock.DEVELOPMENT.path]  # the dev lock reads the layer's input
    assert "Run `make lock`" in result.stderr


def test_a_hand_edited_pin_is_noticed(copy: Path) -> None:
    path = copy / "requirements-dev.txt"
    text = path.read_text(encoding="utf-8")
    pinned = next(line for line in text.splitlines() if line.startswith("pytest=="))
    path.write_text(text.replace(pinned, "pytest==8.0.0 \\"), encoding="utf-8")
    result = check(copy)
    assert result.returncode == 1
    assert "requirements-dev.txt was edited by hand" in result.stderr


def test_the_layer_refuses_the_sdk_even_when_regenerated(copy: Path) -> None:
    path = copy / lock.LAYER.path
    path.write_text(path.read_text(encoding="utf-8") + "botocore==1.35.0 \\\n    --hash=sha256:00\n", encoding="utf-8")
    lock.stamp(copy, lock.LAYER)  # as `make lock` would write it
    result = check(copy)
    assert result.returncode == 1
    assert "puts in the layer botocore==1.35.0 (the Lambda runtime provides it)" in result.stderr


def test_the_tests_run_the_versions_the_layer_ships() -> None:
    layer = lock.pins(ROOT, lock.LAYER)
    development = lock.pins(ROOT, lock.DEVELOPMENT)
    assert {name: development.get(name) for name in layer} == layer
