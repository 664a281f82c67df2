"""The pages of a study's design in a real browser (DESIGN §11): copying a study, and editing
its draft analysis plan, on a 360 px phone, with axe-core and no console error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.live import DESKTOP, PHONE, LiveServer, OpenPage
from tests.browser.pages import PageWatch, check_page, serious_axe_violations, sign_in

pytestmark = pytest.mark.browser
# Set to a folder to keep a screenshot of each page at 360 px and 1280 px.
SCREENSHOTS = os.environ.get("ALLPORT_SCREENSHOTS")


def test_copy_and_plan_pages_pass_axe_on_a_phone(live_server: LiveServer,
                                                 open_page: OpenPage) -> None:
    problems: list[str] = []
    page, watch = open_page(viewport=PHONE)

    def audit(name: str, page: Page = page, watch: PageWatch = watch) -> None:
        check_page(page, watch)
        problems.extend(serious_axe_violations(page))
        if SCREENSHOTS:
            for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
                page.set_viewport_size(size)
                page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}-{label}.png"),
                                full_page=True)
            page.set_viewport_size(PHONE)

    sign_in(page, live_server.url, live_server.accounts.coordinator)
    page.goto(live_server.url + "/coordinator/demo/plan/edit")
    expect(page.locator("h2#frozen-title")).to_be_visible()  # the demo is recruiting
    audit("plan-frozen")
    page.goto(live_server.url + "/coordinator/demo/")
    page.click("main a:has-text('Copy this study')")
    audit("copy")
    page.fill("#slug", "Not a slug")
    page.click("main button[type=submit]")
    expect(page.locator("#slug-error")).to_be_visible()
    audit("copy-422")
    page.fill("#slug", "demo-2027")
    page.click("main button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Copied as the draft study")
    audit("copy-done")
    page.goto(live_server.url + "/coordinator/demo-2027/plan")
    page.click("main a:has-text('Edit the draft plan')")
    audit("plan-edit")
    page.fill("#alpha", "2")
    page.click("main button[type=submit]")
    expect(page.locator("#alpha-error")).to_be_visible()
    expect(page.locator("#reason-error")).to_be_visible()
    audit("plan-edit-422")
    page.fill("#alpha", "0.01")
    page.fill("#reason", "A stricter α, agreed with the steering committee.")
    page.click("main button[type=submit]")
    expect(page.locator("main")).to_contain_text("The draft plan is saved")
    audit("plan-saved")
    assert not problems, "\n".join(problems)
