"""A third provider is a plug-in: its files alone, laid over a copy of the repository, make it work.

The fixture (tests/fixtures/third_provider) holds everything "Acme" needs, where it goes: its
provider package, its function folder, its sandbox, its sample event, and its template block.
Nothing else is edited: the copy's template gets the block inserted before `Outputs:`, and the
generated OpenAPI document is generated again, as `scripts/openapi.py` does for any change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

FIXTURE = ROOT / "tests" / "fixtures" / "third_provider"
BLOCK = FIXTURE / "template-block.yaml"


def _copy_of_the_repository(destination: Path) -> None:
    # The working tree's files, as git sees them (tracked, or new and not ignored).
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listing, cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def _add_the_provider(repository: Path) -> list[str]:
    """The fixture's files where they go, and its block into the template; the paths added."""
    added = []
    for source in sorted(FIXTURE.rglob("*")):
        relative = source.relative_to(FIXTURE)
        if source.is_dir() or source == BLOCK or relative.parts[0] == "README.md":
            continue
        assert not (repository / relative).exists(), f"{relative} would overwrite a file"
        (repository / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, repository / relative)
        added.append(str(relative))
    template = repository / "template.yaml"
    text = template.read_text(encoding="utf-8")
    head, outputs = text.split("\nOutputs:\n")
    template.write_text(f"{head.rstrip()}\n\n{BLOCK.read_text(encoding='utf-8').rstrip()}\n\nOutputs:\n{outputs}")
    return added


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("with-a-third-provider")
    _copy_of_the_repository(copy)
    added = _add_the_provider(copy)
    assert len(added) == 7, added
    return copy


def _run(repository: Path, *command: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": f"{repository / 'layers' / 'dispute_gateway'}{os.pathsep}{repository}"}
    return subprocess.run(
        [sys.executable, *command], cwd=repository, env=environment, capture_output=True, text=True, timeout=500
    )


def test_the_registry_and_the_api_document_take_it_in(repository: Path) -> None:
    listed = _run(repository, "-c", "from dispute_gateway.providers import provider_names; print(provider_names())")
    assert "'acme'" in listed.stdout, listed.stderr
    assert _run(repository, "scripts/openapi.py").returncode == 0
    document = json.loads((repository / "docs" / "openapi.json").read_text())
    assert "AcmeDisputeBody" in document["components"]["schemas"]


def test_the_generic_tests_pass_with_it_unchanged(repository: Path) -> None:
    """The template, roles, alarms, dashboard, samples and the core's name check, as they are."""
    result = _run(
        repository,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/infrastructure",
        "tests/unit",
        "tests/integration/test_sample_events.py::test_every_trigger_of_every_function_has_samples",
        "--deselect",
        "tests/infrastructure/test_security_scan.py",
        "--deselect",
        "tests/unit/test_generated_docs.py",
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]


def test_a_dispute_goes_through_its_queue_and_one_through_the_api(repository: Path) -> None:
    result = _run(repository, "tests/e2e/third_provider_run.py", "acme")
    assert result.returncode == 0, result.stderr[-20000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["queue"] == "AcmeQueue"
    assert outcome["filed_status"] == 202
    records = outcome["records"]
    assert records is not None, "the disputes were not submitted in time"
    assert (records["queue"]["provider"], records["queue"]["source"], records["queue"]["attempts"]) == (
        "acme",
        "sqs",
        1,
    )
    assert (records["api"]["provider"], records["api"]["source"], records["api"]["attempts"]) == ("acme", "api", 1)
    assert outcome["provider_disputes"] == ["O-API", "O-QUEUE"]
