"""A coordinator sets a study up from nothing in the browser, opens it, and invites trainees.

Every set-up page (and its 422 re-render) is checked as DESIGN §11 asks: the basics of
``check_page`` at 360 px and axe-core with no serious or critical violation.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.live import DESKTOP, PHONE, LiveServer, OpenPage
from tests.browser.pages import PageWatch, check_page, serious_axe_violations, sign_in

pytestmark = pytest.mark.browser

SLUG = "equals-2027"
# A folder to keep a 360 px and a 1280 px screenshot of every page checked (to look at them).
SCREENSHOTS = os.environ.get("ALLPORT_SCREENSHOTS")


def screenshot(page: Page, number: int) -> None:
    if not SCREENSHOTS:
        return
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "-", page.url.split("/coordinator/")[-1].lower()).strip("-")
    for label, size in (("360", PHONE), ("1280", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=folder / f"{number:02d}-{name or 'index'}-{label}.png",
                        full_page=True)
    page.set_viewport_size(PHONE)


def tick(page: Page, legend: str, title: str) -> None:
    """Tick ``title`` in the time point whose legend starts with ``legend``."""
    group = page.locator("fieldset", has=page.locator(f"legend:text-matches('^{legend}')"))
    group.locator("li", has_text=title).locator("input[type=checkbox]").check()


def submit(page: Page, label: str) -> None:
    with page.expect_navigation():
        page.click(f"main button:has-text('{label}')")


def test_a_coordinator_sets_up_a_study_from_nothing_and_a_trainee_reaches_baseline(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(viewport=PHONE)
    problems: list[str] = []

    shots = iter(range(100))

    def audit(page: Page, watch: PageWatch) -> None:
        check_page(page, watch)
        problems.extend(serious_axe_violations(page))
        screenshot(page, next(shots))

    sign_in(page, live_server.url, live_server.accounts.coordinator)
    page.goto(live_server.url + "/coordinator/")
    with page.expect_navigation():
        page.click("main a:has-text('New study')")
    audit(page, watch)
    submit(page, "Create the study")  # nothing typed
    expect(page.locator("#slug-error")).to_be_visible()
    audit(page, watch)
    page.fill("#title", "Meeting as equals 2027")
    page.fill("#slug", SLUG)
    page.fill("#protocol_number", "P-2027-01")
    page.fill("#ethics_approval_number", "REC 27/0042")
    submit(page, "Create the study")
    assert page.url.endswith(f"/coordinator/{SLUG}/setup/")
    expect(page.locator("h1")).to_have_text("Set-up check list")
    expect(page.locator(".checklist li")).not_to_have_count(0)
    audit(page, watch)

    base = f"{live_server.url}/coordinator/{SLUG}/setup"
    page.goto(f"{base}/details")
    audit(page, watch)
    page.fill("#description", "A two-arm study of equal-status contact.")
    submit(page, "Save the details")
    expect(page.locator(".flash-success")).to_be_visible()

    page.goto(f"{base}/questionnaires")
    audit(page, watch)
    tick(page, "Before", "About you")
    tick(page, "Before", "Intergroup Anxiety")
    tick(page, "After", "Intergroup Anxiety")
    submit(page, "Save the questionnaires")
    expect(page.locator(".flash-success")).to_be_visible()

    page.goto(f"{base}/arms")
    audit(page, watch)
    page.fill("#education_name", "Online module")
    page.fill("#education_description", "Work through a **short** module.")
    page.fill("#contact_name", "Meet a peer specialist")
    page.fill("#contact_description", "One session with a *certified* peer.")
    page.fill("#block_sizes", "3")
    submit(page, "Save the arms")  # 3 is no multiple of 1 + 1
    expect(page.locator("#block_sizes-error")).to_contain_text("not a positive multiple")
    expect(page.locator("#contact_name")).to_have_value("Meet a peer specialist")
    audit(page, watch)
    page.fill("#block_sizes", "2,4")
    page.fill("#strata_factors", "background.profession")
    submit(page, "Save the arms")
    expect(page.locator(".flash-success")).to_be_visible()

    page.goto(f"{base}/module")
    audit(page, watch)
    page.fill("#title", "What stigma is")
    page.fill("#body", "Stigma has **three** parts.\n\n- stereotypes\n- prejudice")
    page.fill("#video_url", "javascript:alert(1)")
    submit(page, "Add the page")
    expect(page.locator("#video_url-error")).to_be_visible()
    audit(page, watch)
    page.fill("#video_url", "https://video.example.org/stigma")
    submit(page, "Add the page")
    with page.expect_navigation():
        page.click("main .setup-pages a:has-text('What stigma is')")
    audit(page, watch)  # editing a page

    page.goto(f"{base}/consent")
    audit(page, watch)
    page.fill("#text", "You are invited to take part.\n\n**Taking part** is voluntary.")
    page.check("#data_kept-0")
    submit(page, "Save as version 1")
    expect(page.locator(".flash-success")).to_contain_text("Version 1")
    audit(page, watch)

    page.goto(f"{base}/schedule")
    audit(page, watch)
    page.fill("#intervention_period_days", "21")
    page.fill("#post_window_days", "30")
    submit(page, "Save the schedule")
    expect(page.locator(".flash-success")).to_be_visible()

    page.goto(f"{base}/")
    expect(page.locator("#problems-title")).to_have_text("Ready to open")
    audit(page, watch)
    submit(page, "Open recruitment")
    expect(page.locator(".flash-success")).to_contain_text("Recruitment is open")
    audit(page, watch)  # recruiting: the close form
    page.goto(f"{base}/arms")
    expect(page.locator("main button:has-text('Save the arms')")).to_have_count(0)
    audit(page, watch)  # read-only

    page.goto(f"{live_server.url}/coordinator/{SLUG}/invitations")
    page.fill("#count", "2")
    submit(page, "Create invitations")
    links = page.locator("#links-box").input_value().split()
    assert len(links) == 2

    trainee, trainee_watch = open_page(javascript=False, viewport=PHONE)
    trainee.goto(links[0])
    with trainee.expect_navigation():
        trainee.click("main a:has-text('Read the study information')")
    expect(trainee.locator(".document strong")).to_have_text("Taking part")
    check_page(trainee, trainee_watch)
    trainee.check("#choice-0")
    with trainee.expect_navigation():
        trainee.click("main button:has-text('Continue')")
    assert "/q/baseline/" in trainee.url
    check_page(trainee, trainee_watch)
    assert not problems, "\n".join(problems)
