"""The operator console in a real browser: Debian's Chromium, driven by Playwright, against the local
stack (HTTP API, its JWT authorizer, the played managed login, the workers and the sandboxes).

One browser for the package and one stack for the module keep the run short. Each test's page gets
a fresh browser context (so a fresh sign-in: tokens live in the page's memory only) and leaves a
screenshot in tests/browser/screenshots/ (ignored by git). With CONSOLE_DOCS_SCREENSHOTS=1 the
screenshots the README shows are written to docs/ too.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# No sandbox (a container's root), no GPU, and nothing that reaches out: this machine may have no
# internet, and Playwright's own browser download is never used.
CHROMIUM_ARGUMENTS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).with_name("screenshots")
DOCS = Path(__file__).resolve().parents[2] / "docs"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


# Scoped to this package, not the session: Playwright's synchronous API holds an event loop in the
# main thread while it runs, and the workers' batch processing (asyncio.run) cannot start inside
# one; the tests collected after these (e2e, integration) need it gone.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGUMENTS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    yield page
    SCREENSHOTS.mkdir(exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    context.close()
    # The console's own script never fails; a 401/403/404 the test asked for is logged by Chromium.
    unexpected = [p for p in problems if "Failed to load resource" not in p]
    assert unexpected == [], unexpected


def keep_for_docs(page: Any, name: str) -> None:
    """The screenshot the README shows (docs/console-<name>.png), when CONSOLE_DOCS_SCREENSHOTS=1."""
    if os.environ.get("CONSOLE_DOCS_SCREENSHOTS") == "1":
        page.evaluate("document.getElementById('toast').classList.remove('visible')")
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"docs-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shutil.copyfile(path, DOCS / f"console-{name}.png")
