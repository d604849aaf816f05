"""README's "Repository layout" names every top-level entry of the repository and every module of the
shared package, and nothing that is not there: a file added without a word in the README fails here."""

from __future__ import annotations

import fnmatch
import re
import subprocess

from tests.conftest import ROOT

PACKAGE = ROOT / "layers" / "dispute_gateway" / "dispute_gateway"
PACKAGE_PREFIX = "dispute_gateway/"


def _layout_paths() -> list[str]:
    """The first column of the layout block: the paths (or patterns) it describes."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Repository layout\n", 1)[1]
    block = section.split("```", 2)[1]
    paths: list[str] = []
    for line in block.splitlines():
        # A line that starts deep in is a description going on from the line above.
        if not line.strip() or line.startswith("    "):
            continue
        column = re.split(r"\s{2,}", line.strip())[0]
        paths += [path.strip() for path in column.split(", ")]
    return paths


def _top_level_entries() -> set[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listed = b""  # not a git checkout (a copy of the tree): what is there, less what git ignores
    if listed:
        return {name.split("/", 1)[0] for name in listed.decode().split("\0") if name}
    ignored = [
        line.strip().rstrip("/")
        for line in (ROOT / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return {
        entry.name
        for entry in ROOT.iterdir()
        if entry.name != ".git" and not any(fnmatch.fnmatch(entry.name, pattern) for pattern in ignored)
    }


def _package_modules() -> set[str]:
    return {
        entry.name
        for entry in PACKAGE.iterdir()
        if (entry.suffix == ".py" and entry.name != "__init__.py") or (entry / "__init__.py").exists()
    }


def _covered(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def _first_parts(paths: list[str]) -> tuple[list[str], list[str]]:
    """The top-level names the layout's paths start with, and the shared package's (its lines start
    with `dispute_gateway/`)."""
    modules = [path.removeprefix(PACKAGE_PREFIX).split("/", 1)[0] for path in paths if path.startswith(PACKAGE_PREFIX)]
    top = [path.split("/", 1)[0] for path in paths if not path.startswith(PACKAGE_PREFIX)]
    return top, modules


def test_the_layout_names_every_top_level_entry_and_every_module_of_the_shared_package() -> None:
    top, modules = _first_parts(_layout_paths())
    assert sorted(entry for entry in _top_level_entries() if not _covered(entry, top)) == []
    assert sorted(module for module in _package_modules() if not _covered(module, modules)) == []


def test_the_layout_names_nothing_that_is_not_there() -> None:
    top, modules = _first_parts(_layout_paths())
    entries, package = _top_level_entries(), _package_modules()
    assert [pattern for pattern in top if not _covered_by(pattern, entries)] == []
    assert [pattern for pattern in modules if not _covered_by(pattern, package)] == []


def _covered_by(pattern: str, names: set[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for name in names)


def test_the_layout_is_read_as_intended() -> None:
    """The reading itself: two paths on a line, a folder, a pattern, a module, a description's
    second line left out."""
    paths = _layout_paths()
    assert {"template.yaml", "samconfig.toml", ".ci/", "requirements-*.in", "dispute_gateway/config.py"} <= set(paths)
    assert not any(path.startswith("outcome tracker") for path in paths)
