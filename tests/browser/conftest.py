"""A real browser against a real server: Debian's Chromium, driven by Playwright, on loopback.

Playwright never downloads a browser here (`playwright install` is not used): the tests
launch the Chromium that Debian packages at /usr/bin/chromium. Without it they skip, except
under CI=true, where a missing browser must fail the run rather than hide the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from django.db import connections
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from apps.accounts.models import User
from config.env import env

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
# Long enough for a loaded 2-core machine, short enough that a missing element fails fast.
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        if env.bool("CI", default=False):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    # Playwright's sync API keeps an event loop running in this thread, so Django takes every
    # ORM call from the test body (and the transactional teardown) for one made from async
    # code. The calls are plain blocking ones; allow them, for as long as the browser runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # Module scope, not session: the running loop must not outlive these tests, or
        # async_to_sync in later tests would refuse to run in this thread.
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            expect.set_options(timeout=TIMEOUT_MS)
            yield launched
            launched.close()


@pytest.fixture
def new_page(browser: Browser, live_server) -> Iterator[Callable[[], Page]]:
    """Opens pages in fresh browser contexts (own cookies: one signed-in person each)."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


def sign_in(page: Page, user: User, *, next_path: str = "/") -> Page:
    """Signs in through the login form, by keyboard only: the username field has the focus."""
    page.goto(next_path)
    expect(page).to_have_title("Sign in · Approval inbox")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(user.get_username())
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"({user.get_username()})")).to_be_visible()
    # The page's scripts (its keyboard shortcuts, the live inbox) run by the load event: a key
    # pressed before then would reach no handler, and the faster the server, the likelier.
    page.wait_for_load_state("load")
    return page


def beside_the_browser(call: Callable[[], T]) -> T:
    """Runs `call` in a thread of its own and returns its result.

    For services whose after-commit work reaches the channel layer through async_to_sync
    (a new task's notification), which refuses to run in the thread where Playwright's
    event loop runs. Plain reads and refresh_from_db are fine in the test body.
    """

    def run() -> T:
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


# The live inbox's tests run the browser against real Daphne servers (tests/live/servers.py).
from tests.api.conftest import key_for  # noqa: E402, F401 (fixture)
from tests.live.servers import _daphne_pair, live_servers  # noqa: E402, F401 (fixtures)
