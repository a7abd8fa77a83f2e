"""Real headless Chromium (Debian's package) driven by Playwright, against the live
server and the session's real worker (tests/live_helpers.py).

PIPELINES_CHROMIUM names the browser (default /usr/bin/chromium); Playwright never
downloads one. Every page a test opens fails the test if the browser logged a
console error or a script threw.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = os.environ.get("PIPELINES_CHROMIUM", "/usr/bin/chromium")
MISSING_CHROMIUM = (
    f"The browser tests need Chromium at {CHROMIUM}, and there is none. Install Debian's package "
    "(as root: apt-get install -y --no-install-recommends chromium; `make test` does that for you "
    "when it runs as root), or set PIPELINES_CHROMIUM=/path/to/chromium."
)
# No network chatter of the browser's own (updates, sync, first-run pages) to slow it
# down or log errors; no GPU in these machines.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


def chromium_path() -> str:
    path = Path(CHROMIUM)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(MISSING_CHROMIUM, pytrace=False)
    return str(path)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    # Playwright's sync API keeps an asyncio loop running on this thread, which Django
    # takes for an async context; the tests' ORM calls are plain synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class BrowserProblems(list[str]):
    """Console errors and uncaught exceptions of a page, in the order they came.

    A test that provokes an error on purpose (a sandboxed frame refusing a script)
    says so with `expect()`; what it expected is kept in `expected`, not reported."""

    def __init__(self) -> None:
        super().__init__()
        self._expected: list[re.Pattern[str]] = []
        self.expected: list[str] = []

    def expect(self, pattern: str) -> None:
        self._expected.append(re.compile(pattern))

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self._add(f"uncaught exception on {page.url}: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self._add(f"console error ({where}:{message.location.get('lineNumber', '?')}): {message.text}")

    def _add(self, problem: str) -> None:
        if any(pattern.search(problem) for pattern in self._expected):
            self.expected.append(problem)
        else:
            self.append(problem)


@pytest.fixture
def browser_problems() -> Iterator[BrowserProblems]:
    problems = BrowserProblems()
    yield problems
    if problems:
        pytest.fail("The browser reported problems:\n  " + "\n  ".join(problems), pytrace=False)


def open_page(browser: Browser, base_url: str, problems: BrowserProblems, viewport: dict[str, int]) -> Page:
    context = browser.new_context(base_url=base_url, viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems.watch(page)
    return page


@pytest.fixture
def page(browser, live_server, browser_problems, transactional_db) -> Iterator[Page]:
    """An anonymous page on the live server, 1280 px wide."""
    page = open_page(browser, live_server.url, browser_problems, DESKTOP)
    yield page
    page.context.close()


def log_in(page: Page, *, username: str, password: str) -> None:
    """Through the real login form, as a person would."""
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form button[type=submit]")
    if "/accounts/login/" in page.url:
        pytest.fail(f"Logging in as {username!r} did not work: still on {page.url}", pytrace=False)


@pytest.fixture
def logged_in_page(page, owner) -> Page:
    """The owner, logged in through the login form."""
    log_in(page, username="owner", password="pw-owner-123")
    return page


def scroll_widths(page: Page) -> tuple[int, int]:
    """(the document's scroll width, the window's width): a page that scrolls sideways
    has the first larger."""
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
