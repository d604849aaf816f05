"""The core never names a provider: adding one touches only its own files (README, "Adding a provider")."""

from __future__ import annotations

import re

from dispute_gateway.providers import provider_names
from tests.conftest import ROOT

PACKAGE = ROOT / "layers" / "dispute_gateway" / "dispute_gateway"
# The core: the shared package outside providers/, the API, and the local stack's engine and
# programs, the demo included (its cases are the sandboxes'); the API's sample events excepted.
CORE = [
    *(path for path in PACKAGE.rglob("*.py") if "providers" not in path.relative_to(PACKAGE).parts[:-1]),
    *(ROOT / "functions" / "api").rglob("*.py"),
    *(path for path in (ROOT / "local").rglob("*.py") if path.name != "api_samples.py"),
]


def test_no_core_file_names_a_provider() -> None:
    names = re.compile("|".join(provider_names()), re.IGNORECASE)
    naming = {
        str(path.relative_to(ROOT)): sorted({match.group(0).lower() for match in names.finditer(path.read_text())})
        for path in CORE
        if names.search(path.read_text())
    }
    assert naming == {}
