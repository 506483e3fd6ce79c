"""Fixtures for the browser tests: the real stack on free ports, Debian's Chromium, pages.

Every test here drives web/ as served by the emulator's hosting, in headless Chromium through
Playwright's sync API. Without /usr/bin/chromium (apt-get install chromium) they are skipped.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from stack import Ports, Stack
from stack.procs import PYTHON, ROOT

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the test modules import it too: leave them out and say why in the header
    sync_playwright = None
    collect_ignore_glob = ["test_*.py"]
else:
    from tests.web.pages import DESKTOP

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OWNER = {"Authorization": "Bearer owner"}
DEMO_TICKETS = 2000
SEED = "7"


def pytest_report_header(config):
    if sync_playwright is None:
        return "tests/web: not collected, the playwright package is missing (pip install -r requirements-dev.txt)"
    return None


def pytest_collection_modifyitems(config, items):
    if not CHROMIUM.exists():
        reason = f"Debian's Chromium is missing at {CHROMIUM} (apt-get install -y chromium)"
        here = Path(__file__).parent
        for item in items:
            if here in item.path.parents:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The shipped model bundle, or one trained on seeded demo data when none is committed."""
    shipped = ROOT / "model"
    if (shipped / "current.json").exists():
        return shipped
    work = tmp_path_factory.mktemp("model")
    data = work / "demo.jsonl"
    for args in (["demo-data", "--n", str(DEMO_TICKETS), "--seed", SEED, "--out", str(data), "--quiet"],
                 ["train", "--data", str(data), "--out", str(work / "bundle"), "--seed", SEED, "--quiet"]):
        subprocess.run([PYTHON, "-m", "training", *args], cwd=ROOT, check=True, capture_output=True, timeout=300)
    return work / "bundle"


@pytest.fixture(scope="session")
def stack(model_dir, tmp_path_factory):
    """The whole pipeline (database + hosting, functions, helpdesk) on free ports."""
    running = Stack(ports=Ports.free(), data_dir=tmp_path_factory.mktemp("stack"), model_dir=model_dir,
                    min_backoff_s=0.2, max_attempts=5).start()
    yield running
    running.stop()


class Database:
    """The database over REST as the admin (another process than the browser)."""

    def __init__(self, url: str, namespace: str):
        self.url, self.namespace = url, namespace

    def _call(self, method: str, path: str, value=None):
        response = requests.request(method, f"{self.url}/{path.strip('/')}.json", params={"ns": self.namespace},
                                    json=value, headers=OWNER, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, path: str):
        return self._call("GET", path)

    def put(self, path: str, value):
        return self._call("PUT", path, value)

    def patch(self, path: str, value: dict):
        return self._call("PATCH", path, value)

    def push(self, path: str, value) -> str:
        return self._call("POST", path, value)["name"]

    def delete(self, path: str):
        return self._call("DELETE", path)


@pytest.fixture(scope="session")
def db(stack) -> Database:
    """Admin access to the stack's database."""
    return Database(stack.urls["database"], stack.namespace)


class Accounts:
    """The Auth emulator's admin endpoint: accounts with passwords and custom claims."""

    def __init__(self, url: str, project: str):
        self.url = f"{url}/emulator/v1/projects/{project}/accounts"

    def create(self, email: str, password: str, claims: dict | None = None) -> str:
        """Create a password account (e-mail made unique per call) and return its e-mail."""
        local, domain = email.split("@", 1)
        unique = f"{local}+{uuid.uuid4().hex[:8]}@{domain}"
        body = {"email": unique, "password": password, "customClaims": claims or {}}
        requests.post(self.url, json=body, headers=OWNER, timeout=10).raise_for_status()
        return unique


@pytest.fixture(scope="session")
def accounts(stack) -> Accounts:
    """Admin access to the stack's Auth emulator."""
    return Accounts(stack.urls["database"], stack.project)


@pytest.fixture(scope="session")
def site(stack) -> str:
    """The hosting URL that serves web/ (ends with a slash)."""
    return stack.urls["hosting"]


@pytest.fixture(scope="package")
def browser():
    """Headless Debian Chromium, closed when the tests leave this folder: Playwright's sync API runs an event loop in
    the main thread while it is open, and a test elsewhere that calls asyncio.run() in the same process (the same
    pytest-xdist worker) would find it running."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """Open pages in fresh contexts; any uncaught script error or dialog fails the test."""
    contexts, errors = [], []

    def open_page(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"uncaught error: {exc}"))
        page.on("dialog", lambda dialog: (errors.append(f"unexpected dialog: {dialog.message}"), dialog.dismiss()))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, errors


@pytest.fixture
def page(new_page):
    """One desktop-sized page."""
    return new_page()
