"""Every page in a real browser (DESIGN §11): by keyboard, without JavaScript, on a 360 px phone,
with landmarks, labels, visible focus, no console error, and no serious axe-core violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.live import DESKTOP, PHONE, LiveServer, OpenPage
from tests.browser.pages import (
    PageWatch,
    check_page,
    fill_by_keyboard,
    focused,
    press_link,
    serious_axe_violations,
    sign_in,
    tab_to,
)
from tests.helpers import TraineeDriver, csrf_from

pytestmark = pytest.mark.browser


def allocated_trainees(server: LiveServer, arms: set[str], limit: int = 12) -> dict[str, str]:
    """Bring new trainees through consent and baseline (test client) until every arm in ``arms``
    has one; return arm -> token."""
    tokens = server.invite(limit)

    def walk() -> dict[str, str]:
        found: dict[str, str] = {}
        client = server.app.test_client()
        for token in tokens:
            trainee = TraineeDriver(client, token)
            trainee.consent()
            page = trainee.answer_until_not_questionnaire()
            arm = "education" if page.request.path.endswith("/education") else "contact"
            found.setdefault(arm, token)
            if arms <= found.keys():
                return found
        raise AssertionError(f"no trainee allocated to {arms - found.keys()} in {limit} tries")

    return server.run(walk)


def book_first_session(server: LiveServer, token: str) -> None:
    def book() -> None:
        client = server.app.test_client()
        html = client.get(f"/t/{token}/sessions").get_data(as_text=True)
        session_id = re.search(r'name="session_id" id="session_id-0" value="(\d+)"', html)
        assert session_id, "no bookable session"
        response = client.post(f"/t/{token}/sessions", data={
            "csrf_token": csrf_from(html), "session_id": session_id.group(1)},
            follow_redirects=True)
        assert "Your place is booked" in response.get_data(as_text=True)

    server.run(book)


# (a) The whole trainee journey by keyboard, without JavaScript, on a 360 px phone -------------


def test_trainee_journey_by_keyboard_without_javascript_on_a_phone(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(javascript=False, viewport=PHONE)
    token = live_server.invite()[0]

    page.goto(live_server.trainee_url(token))
    assert page.url.endswith("/welcome")
    check_page(page, watch)
    press_link(page, "Read the study information")

    assert page.url.endswith("/consent")
    check_page(page, watch)
    first = tab_to(page, lambda e: e["type"] == "radio")
    assert first["id"] == "choice-0"
    page.keyboard.press("Space")  # "Yes, I agree to take part"
    assert tab_to(page, lambda e: e["tag"] == "BUTTON")["text"] == "Continue"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    questionnaire_pages = []
    while "/q/baseline/" in page.url:
        facts = check_page(page, watch)
        assert facts["h1"] == 1
        option_heights = page.eval_on_selector_all(
            "main .option", "els => els.map(e => e.getBoundingClientRect().height)")
        assert option_heights and min(option_heights) >= 44, (
            f"{page.url}: radio options smaller than 44 px: {min(option_heights or [0])}")
        questionnaire_pages.append(page.url)
        fill_by_keyboard(page)
        assert len(questionnaire_pages) <= 6, "the baseline never ended"
    instruments = {url.split("/q/baseline/")[1].split("?")[0] for url in questionnaire_pages}
    assert len(instruments) == 3, instruments

    # The allocated page; then the other arm's, with a trainee brought there by the test client.
    check_page(page, watch)
    arm = "education" if page.url.endswith("/education") else "contact"
    other = "contact" if arm == "education" else "education"
    other_token = allocated_trainees(live_server, {other})[other]
    for step in (arm, other):
        if step == other:
            page.goto(live_server.trainee_url(other_token))
        if step == "education":
            education_by_keyboard(page, watch)
        else:
            contact_by_keyboard(page, watch)


def education_by_keyboard(page: Page, watch: PageWatch) -> None:
    """The education module page by page, then the post questionnaires, to the thank-you page."""
    assert page.url.endswith("/education")
    check_page(page, watch)
    expect(page.locator("h1")).to_have_text("Education module")
    press_link(page, "Start the module")
    while "/education/" in page.url:
        check_page(page, watch)
        fill_by_keyboard(page)  # the module page's one button: next page / finished
    while "/q/post/" in page.url:
        check_page(page, watch)
        fill_by_keyboard(page)
    assert page.url.endswith("/status")
    expect(page.locator("h1")).to_have_text("Thank you")
    check_page(page, watch)


def contact_by_keyboard(page: Page, watch: PageWatch) -> None:
    """Choose a contact session with the arrow key and book it with Enter."""
    assert page.url.endswith("/sessions")
    check_page(page, watch)
    expect(page.locator("h1")).to_have_text("Contact session with a peer specialist")
    fill_by_keyboard(page)
    expect(page.locator(".flash-success")).to_contain_text("Your place is booked")
    expect(page.locator(".booked")).to_be_visible()
    check_page(page, watch)


# (b) + (c) axe-core and the console on every trainee page ------------------------------------


def test_trainee_pages_pass_axe_and_log_no_console_errors(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(javascript=True, viewport=PHONE)
    problems: list[str] = []

    def audit(*, wide_too: bool = False) -> None:
        check_page(page, watch)
        problems.extend(serious_axe_violations(page))
        if wide_too:  # rating scales switch to one row per item on wide screens
            page.set_viewport_size(DESKTOP)
            check_page(page, watch)
            problems.extend(serious_axe_violations(page))
            page.set_viewport_size(PHONE)

    token = live_server.invite()[0]
    page.goto(live_server.trainee_url(token))
    audit()  # welcome
    page.click("main a.button")
    audit()  # consent
    page.click("main button[type=submit]")
    assert page.locator(".error-summary").is_visible()
    audit()  # consent, re-rendered with an error
    page.check("#choice-0")
    page.click("main button[type=submit]")

    first = True
    while "/q/baseline/" in page.url:
        audit(wide_too=True)
        if first:  # one error re-render of a questionnaire page
            page.click("main button[type=submit]")
            assert page.locator(".error-summary").is_visible()
            audit(wide_too=True)
            first = False
        for group in page.eval_on_selector_all(
                "main input[type=radio]", "els => [...new Set(els.map(e => e.name))]"):
            page.check(f"input[name='{group}'] >> nth=0")
        for number in page.locator("main input[type=number]").all():
            number.fill("2")
        page.click("main button[type=submit]")

    tokens = allocated_trainees(live_server, {"education", "contact"})
    tokens[page.url.rsplit("/", 1)[-1]] = token  # this trainee's own arm page
    audit()

    page.goto(live_server.trainee_url(tokens["education"], "/education"))
    audit()
    page.goto(live_server.trainee_url(tokens["education"], "/education/0"))
    audit()

    page.goto(live_server.trainee_url(tokens["contact"], "/sessions"))
    audit()
    page.click("main button[type=submit]")  # no session chosen
    audit()
    page.check("#session_id-0")
    page.click("main button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    audit()  # booked

    page.goto(live_server.trainee_url(tokens["contact"], "/withdraw"))
    audit()
    page.click("main button.danger")  # without ticking the box
    audit()
    page.check("#confirm")
    page.click("main button.danger")
    audit()  # "You have withdrawn"

    assert not problems, "\n".join(problems)


def test_staff_pages_pass_axe_and_log_no_console_errors_on_a_phone(
        live_server: LiveServer, open_page: OpenPage) -> None:
    contact = allocated_trainees(live_server, {"contact"})["contact"]
    book_first_session(live_server, contact)
    problems: list[str] = []

    def audit(page: Page, watch) -> None:
        check_page(page, watch)
        problems.extend(serious_axe_violations(page))

    page, watch = open_page(viewport=PHONE)
    page.goto(live_server.url + "/")
    audit(page, watch)
    page.goto(live_server.url + "/login")
    audit(page, watch)
    page.click("main button[type=submit]")
    assert page.locator(".error-summary").is_visible()
    audit(page, watch)
    page.goto(live_server.url + "/nothing-here")
    audit(page, watch)

    sign_in(page, live_server.url, live_server.accounts.coordinator)
    audit(page, watch)  # the coordinator's studies
    page.goto(live_server.url + "/coordinator/demo/")
    audit(page, watch)
    page.click("main table a >> nth=0")  # a trainee's page: history and actions
    audit(page, watch)
    page.click("main button:has-text('Withdraw this trainee')")  # no reason given
    expect(page.locator(".field-error")).to_contain_text("Say how the trainee asked")
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/sessions")
    audit(page, watch)
    page.click("main a:has-text('Roster and attendance') >> nth=0")
    expect(page.locator(".roster li")).to_have_count(1)
    audit(page, watch)
    page.fill(".roster input[type=number]", "30")  # minutes, but neither attended nor not
    page.click("main button:has-text('Save attendance')")
    expect(page.locator(".roster .field-error")).to_contain_text("Choose attended")
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/sessions")
    page.click("main a:has-text('Edit') >> nth=0")  # change a session
    audit(page, watch)
    page.fill("#capacity", "0")
    page.click("main button:has-text('Save and notify')")
    expect(page.locator(".field-error")).to_contain_text("Enter a number of places")
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/facilitators")  # the registry, a lapse flagged
    audit(page, watch)
    page.click("main button:has-text('Add the facilitator')")  # nothing typed
    expect(page.locator(".field-error").first).to_contain_text("Enter the facilitator's name")
    audit(page, watch)
    page.click("main table a:has-text('Edit') >> nth=0")
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/invitations")
    audit(page, watch)
    page.fill("#count", "3")
    page.click("main button[type=submit]")
    expect(page.locator("#links-box")).to_be_visible()
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/plan")
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/reminders")
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/audit")
    audit(page, watch)
    page.fill("#code", "not a code")
    page.click("main button:has-text('Show events')")
    expect(page.locator("#code-error")).to_be_visible()
    audit(page, watch)  # the 422 re-render with the error beside the field
    page.goto(live_server.url + "/coordinator/demo/cohorts")
    audit(page, watch)
    page.fill("#name", "Spring 2027")
    page.fill("#starts_on", "2027-05-01")
    page.fill("#ends_on", "2027-04-01")
    page.click("main form.narrow button[type=submit]")
    expect(page.locator("#ends_on-error")).to_contain_text("cannot end before it starts")
    audit(page, watch)
    page.click("main table a >> nth=0")  # a cohort's page
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/invitations/emails")
    audit(page, watch)
    page.fill("#emails", "email,cohort\nnot-an-email,Autumn 2026\n")
    page.click("main form.narrow button[type=submit]")
    expect(page.locator("#problems-title")).to_be_visible()
    audit(page, watch)
    page.fill("#emails", "email,cohort\nbrowser-trainee@example.org,Autumn 2026\n")
    page.click("main form.narrow button[type=submit]")
    expect(page.locator("#outbox-title")).to_be_visible()
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/invited")
    audit(page, watch)
    page.goto(live_server.url + "/coordinator/demo/fidelity")
    audit(page, watch)
    page.click("main a:has-text('Supervision') >> nth=0")
    audit(page, watch)
    page.click("main form.narrow button[type=submit]")  # no date, no supervisor, no measure
    expect(page.locator(".error-summary")).to_be_visible()
    audit(page, watch)

    page, watch = open_page(viewport=PHONE)
    sign_in(page, live_server.url, live_server.accounts.researcher)
    audit(page, watch)
    page.goto(live_server.url + "/researcher/demo/")
    audit(page, watch)
    page.goto(live_server.url + "/researcher/demo/analysis")
    audit(page, watch)
    page.goto(live_server.url + "/researcher/demo/plan")
    audit(page, watch)

    page, watch = open_page(viewport=PHONE)
    sign_in(page, live_server.url, live_server.accounts.admin)
    page.goto(live_server.url + "/admin/")
    audit(page, watch)
    page.goto(live_server.url + "/admin/audit")
    audit(page, watch)
    page.goto(live_server.url + "/admin/studies/demo")
    audit(page, watch)
    page.click("main form[action$='/unblind'] button[type=submit]")  # empty reason, no slug
    audit(page, watch)  # the 422 re-render with the errors beside the fields
    page.goto(live_server.url + "/admin/")
    page.click("main a:has-text('researcher@allport.example')")  # a staff account's page
    audit(page, watch)
    page.fill("#password-password", "short")
    page.click("main form[action$='/password'] button[type=submit]")  # not typed twice
    expect(page.locator("#password-confirm-error")).to_be_visible()
    audit(page, watch)  # the 422 re-render with the errors beside the fields
    page.select_option("#role-role", "coordinator")
    page.click("main form[action$='/roles'] button[type=submit]")  # no study chosen
    expect(page.locator("#role-study-error")).to_be_visible()
    audit(page, watch)
    page.click("main button:has-text('Deactivate this account')")
    expect(page.locator(".flash-success")).to_be_visible()
    audit(page, watch)  # deactivated, with the Reactivate button

    assert not problems, "\n".join(problems)


# (e) Errors are announced beside the field and summarised at the top --------------------------


def test_error_rerender_announces_errors_beside_the_field_and_in_the_summary(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(javascript=False, viewport=PHONE)
    token = live_server.invite()[0]
    page.goto(live_server.trainee_url(token, "/consent"))
    response = None
    with page.expect_navigation() as navigation:
        page.click("main button[type=submit]")
    response = navigation.value
    assert response is not None and response.status == 422

    message = "Please choose whether you agree to take part."
    summary = page.locator(".error-summary")
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.locator("h2")).to_have_text("Please check this answer")
    expect(summary.locator("a")).to_have_text(f"Do you agree to take part in this study? {message}")
    group = page.get_by_role("group", name="Do you agree to take part in this study?")
    expect(group).to_have_accessible_description(f"Error: {message}")
    expect(group.locator(".field-error")).to_contain_text(message)
    for radio in group.get_by_role("radio").all():
        expect(radio).to_have_attribute("aria-invalid", "true")
    # The summary's link takes the keyboard to the question.
    summary.locator("a").focus()
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "choice-0"
    check_page(page, watch)

    # A questionnaire page: a number out of range keeps the answer and explains, beside the field.
    page.check("#choice-0")
    with page.expect_navigation():
        page.click("main button[type=submit]")
    page.fill("#q_training_year", "42")
    page.check("#q_profession-1")
    with page.expect_navigation() as navigation:
        page.click("main button[type=submit]")
    assert navigation.value is not None and navigation.value.status == 422
    year = page.get_by_role("spinbutton", name="Which year of your training are you in?")
    expect(year).to_have_value("42")
    expect(year).to_have_attribute("aria-invalid", "true")
    expect(year).to_have_accessible_description("Error: Please enter a whole number from 1 to 10.")
    expect(page.locator("#q_profession-1")).to_be_checked()
    links = page.locator(".error-summary a")
    expect(links).to_have_count(2)  # training year and prior contact; profession was answered
    expect(links.nth(0)).to_have_attribute("href", "#q_training_year")
    expect(links.nth(0)).to_contain_text("Please enter a whole number from 1 to 10.")
    expect(links.nth(1)).to_have_attribute("href", "#q_prior_contact-0")
    expect(links.nth(1)).to_contain_text("Please answer this question.")
    check_page(page, watch)


# Keyboard focus, skip link, tap targets and the rating-scale layout ----------------------------


def test_skip_link_and_keyboard_focus_are_visible(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(javascript=False, viewport=PHONE)
    token = live_server.invite()[0]
    page.goto(live_server.trainee_url(token, "/welcome"))

    skip = page.locator(".skip-link")
    assert not _in_viewport(page, ".skip-link"), "the skip link shows before it has focus"
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    assert _in_viewport(page, ".skip-link"), "the focused skip link is off screen"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    button = tab_to(page, lambda e: e["text"] == "Read the study information")
    assert button["inMain"], "Tab after the skip link did not continue inside <main>"
    assert _focus_ring(page), "the focused button shows no focus indicator"
    page.goto(live_server.trainee_url(token, "/consent"))
    tab_to(page, lambda e: e["type"] == "radio")
    ring = page.eval_on_selector(
        "main .option:has(input:focus)",
        "el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).boxShadow")
    assert not ring.startswith("none") or ring.split(" ", 1)[1] != "none", ring

    for asset in ("/static/allport.css", "/static/favicon.svg"):
        response = page.request.get(live_server.url + asset)
        assert response.status == 200, asset
    check_page(page, watch)


def _in_viewport(page: Page, selector: str) -> bool:
    return page.eval_on_selector(selector, """el => { const r = el.getBoundingClientRect();
        return r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth; }""")


def _focus_ring(page: Page) -> bool:
    return page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
               || s.boxShadow !== 'none'; }""")


def test_rating_scales_are_one_row_of_numbered_segments_on_phones_and_wide_screens(
        live_server: LiveServer, open_page: OpenPage) -> None:
    """A 10-point scale is one row on every screen (issue 14): tall enough to tap on a phone."""
    token = live_server.invite()[0]

    def answer_background() -> str:
        trainee = TraineeDriver(live_server.app.test_client(), token)
        trainee.consent()
        return trainee.answer_page().request.path  # background done: the 10-point scale is next

    assert "/q/baseline/intergroup-anxiety" in live_server.run(answer_background)

    page, watch = open_page(javascript=False, viewport=PHONE)
    page.goto(live_server.trainee_url(token))
    first_item = "main fieldset.layout-compact >> nth=0"
    for viewport, least_width in ((PHONE, 24), (DESKTOP, 44)):
        page.set_viewport_size(viewport)
        boxes = _option_boxes(page, first_item)
        assert len(boxes) == 10
        assert len({round(b["y"]) for b in boxes}) == 1, f"{viewport}: the scale is not one row"
        xs = [b["x"] for b in boxes]
        assert xs == sorted(xs), f"{viewport}: the scale does not run left to right"
        assert all(b["height"] >= 44 and b["width"] >= least_width for b in boxes)
        check_page(page, watch)


def _option_boxes(page: Page, fieldset: str) -> list[dict[str, float]]:
    return page.locator(fieldset).evaluate(
        "el => [...el.querySelectorAll('.option')].map(o => o.getBoundingClientRect().toJSON())")
