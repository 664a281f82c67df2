"""The real app on a localhost port, driven by the system's Chromium through Playwright.

One browser serves every test in this package; each test gets its own app, database (the suite's
``make_app``), demo study, server thread and fresh browser contexts.

Playwright's sync API keeps an asyncio loop "running" in the main thread for as long as it is
started, and Flask will not run the async app-context teardown that flask-sqlalchemy-lite
registers inside a running loop. So everything that pushes an app context here (creating the
app, seeding, inviting, the test client) runs on a separate "backstage" thread, and the browser
is package-scoped so that it stops before the rest of the suite runs in this process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from werkzeug.serving import make_server

from tests.browser.live import PHONE, LiveServer
from tests.browser.pages import PageWatch
from tests.helpers import Demo, DemoSnapshot

CHROMIUM = os.environ.get("ALLPORT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium`, or set "
                    "ALLPORT_CHROMIUM to a Chromium binary (Playwright cannot download one here).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(make_app: Callable[..., Flask],
                seeded_snapshot: DemoSnapshot) -> Iterator[LiveServer]:
    backstage = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backstage")

    def build() -> Demo:
        return seeded_snapshot.restore(make_app())

    demo = backstage.submit(build).result()
    app, accounts = demo.app, demo.accounts
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, accounts, backstage)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        backstage.shutdown(wait=True)


@pytest.fixture
def open_page(chromium: Browser) -> Iterator[Callable[..., tuple[Page, PageWatch]]]:
    """``open_page(javascript=True, viewport=PHONE)``: a page in a fresh context, watched."""
    contexts = []

    def factory(*, javascript: bool = True, viewport: ViewportSize | None = None
                ) -> tuple[Page, PageWatch]:
        context = chromium.new_context(java_script_enabled=javascript,
                                       viewport=viewport or PHONE)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        return page, PageWatch(page)

    yield factory
    for context in contexts:
        context.close()
