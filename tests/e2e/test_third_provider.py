"""A third provider is a plug-in: its files alone, laid over a copy of the repository, make it work.

The fixture (tests/fixtures/third_provider) holds everything "Acme" needs, where it goes: its
provider package (spec, models, client, OAuth2 tokens, outcomes), its function folder, its sandbox
(with its demo cases), its sample events, its own tests, and its template block. Acme takes
evidence (by upload and manifest, within its own limits, sent in base64), authenticates with a
token fetched at run time, and tells outcomes when polled: every capability a provider can have.

Nothing else is edited: the copy's template gets the block inserted before `Outputs:`, and the
generated OpenAPI document is generated again, as `scripts/openapi.py` does for any change; the
test checks that no other file of the copy differs from the repository's. Then, in the copy: the
generic tests (infrastructure, unit, the samples' folders), Acme's own tests, the type check, the
OpenAPI fuzz test and `make demo`'s program, which files Acme's disputes through every route.
About a minute and a half on a 2-core machine, most of it the fuzz test.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

FIXTURE = ROOT / "tests" / "fixtures" / "third_provider"
BLOCK = FIXTURE / "template-block.yaml"
TEMPLATE = "template.yaml"
GENERATED = "docs/openapi.json"
# What README's "Adding a provider" says a provider that takes evidence is, besides its template block.
PROVIDER_FILES = [
    "events/acme_dispute/sqs-dispute.json",
    "events/acme_dispute/sqs-eventbridge-object-created.json",
    "functions/acme_dispute/app.py",
    "functions/acme_dispute/requirements.txt",
    "layers/dispute_gateway/dispute_gateway/providers/acme/__init__.py",
    "layers/dispute_gateway/dispute_gateway/providers/acme/client.py",
    "layers/dispute_gateway/dispute_gateway/providers/acme/models.py",
    "layers/dispute_gateway/dispute_gateway/providers/acme/outcomes.py",
    "layers/dispute_gateway/dispute_gateway/providers/acme/tokens.py",
    "tests/integration/test_acme_provider.py",
    "tests/sandboxes/acme.py",
]


def _copy_of_the_repository(destination: Path) -> None:
    # The working tree's files, as git sees them (tracked, or new and not ignored).
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listing, cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def _with_the_block(template: str) -> str:
    head, outputs = template.split("\nOutputs:\n")
    return f"{head.rstrip()}\n\n{BLOCK.read_text(encoding='utf-8').rstrip()}\n\nOutputs:\n{outputs}"


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
    template = repository / TEMPLATE
    template.write_text(_with_the_block(template.read_text(encoding="utf-8")), encoding="utf-8")
    return added


def _differing(repository: Path) -> set[str]:
    """The copy's files that are new or differ from the repository's."""
    return {
        str(path.relative_to(repository))
        for path in repository.rglob("*")
        if path.is_file()
        and (
            not (ROOT / path.relative_to(repository)).is_file()
            or (ROOT / path.relative_to(repository)).read_bytes() != path.read_bytes()
        )
    }


def _run(repository: Path, *command: str, timeout: int = 800) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": f"{repository / 'layers' / 'dispute_gateway'}{os.pathsep}{repository}"}
    return subprocess.run(
        [sys.executable, *command], cwd=repository, env=environment, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("with-a-third-provider")
    _copy_of_the_repository(copy)
    assert sorted(_add_the_provider(copy)) == PROVIDER_FILES
    generated = _run(copy, "scripts/openapi.py")
    assert generated.returncode == 0, generated.stderr
    return copy


def test_it_touches_no_core_file(repository: Path) -> None:
    """Its own files, one template block, and the document generated from the registry: nothing else."""
    assert _differing(repository) == {*PROVIDER_FILES, TEMPLATE, GENERATED}
    assert (repository / TEMPLATE).read_text(encoding="utf-8") == _with_the_block((ROOT / TEMPLATE).read_text())


def test_the_readme_lists_what_it_touched() -> None:
    """Each file of Acme's, named as README's "Adding a provider" names a provider's files."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Adding a provider")[1].split("\n## ")[0]
    listed = set(re.findall(r"`([^`\s]+)`", section))
    for path in PROVIDER_FILES:
        generic = path.replace("acme_dispute", "<name>_<verb>").replace("acme", "<name>")
        assert any(fnmatch.fnmatchcase(generic, pattern) for pattern in listed), f"README does not list {generic}"
    assert {TEMPLATE, GENERATED} <= listed


def test_the_registry_and_the_api_document_take_it_in(repository: Path) -> None:
    probe = "from dispute_gateway.providers import evidence_providers; print(sorted(evidence_providers()))"
    listed = _run(repository, "-c", probe)
    assert "'acme'" in listed.stdout, listed.stderr
    schemas = json.loads((repository / GENERATED).read_text())["components"]["schemas"]
    assert {"AcmeDisputeBody", "AcmeEvidenceUploadBody"} <= set(schemas)


def test_the_generic_tests_its_own_and_the_type_check_pass_with_it(repository: Path) -> None:
    """The template, roles, rules, alarms, dashboard, samples, the core's name check and Acme's own
    tests, as they are."""
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
        "tests/integration/test_acme_provider.py",
        "--deselect",
        "tests/infrastructure/test_security_scan.py",
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    typed = _run(repository, "-m", "mypy")
    assert typed.returncode == 0, typed.stdout[-5000:]


def test_the_api_keeps_the_word_of_its_document(repository: Path) -> None:
    result = _run(repository, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e/test_openapi_fuzz.py")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]


def test_the_demo_files_its_disputes_through_every_route(repository: Path) -> None:
    result = _run(repository, "-m", "local.demo", timeout=300)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"^\S+\s+O-\S+\s+acme\s", line)]
    assert sorted((row[1], row[3], row[4], row[6]) for row in rows) == [
        ("O-77", "sqs", "submitted/won", "ok"),
        ("O-78", "s3", "submitted/lost", "ok"),
        ("O-API", "api", "submitted/open", "ok"),
    ]
