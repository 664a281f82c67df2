"""A trainee's journey through a branching questionnaire in Chromium, with and without
JavaScript, and the compact rating scale and matrix grid on a phone and a desktop."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.branching_study import (
    HABITS,
    SMOKING,
    WIDGETS,
    add_instruments,
    invite,
    open_study,
)
from tests.browser.live import DESKTOP, PHONE, LiveServer, OpenPage
from tests.browser.pages import check_page, serious_axe_violations
from tests.helpers import TraineeDriver

pytestmark = pytest.mark.browser

# Set to a folder to keep screenshots of the pages measured here.
SHOTS = os.environ.get("ALLPORT_SHOTS")
# Issue 14: at 360 x 740, at most three screens (2,220 px) of scrolling per 10 items.
MOST_PX_PER_10_ITEMS = 2220


def consented(server: LiveServer, slug: str) -> str:
    """A new trainee of study ``slug`` (made from its first questionnaire) who has consented."""

    def make() -> str:
        if slug not in server.app.extensions["allport.instruments"]:
            add_instruments(server.app, SMOKING, WIDGETS, HABITS)
        if slug != "demo":
            open_study(server.app, slug, slug)
        token = invite(server.app, slug)
        TraineeDriver(server.app.test_client(), token).consent()
        return token

    return server.run(make)


def item(page: Page, key: str):  # noqa: ANN201 - a Playwright locator
    return page.locator(f'[data-item="{key}"]')


def test_with_javascript_items_appear_and_disappear_as_answers_change(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(javascript=True, viewport=PHONE)
    page.goto(live_server.trainee_url(consented(live_server, "smoking")))
    assert "/q/baseline/smoking" in page.url
    expect(item(page, "cigarettes")).to_be_hidden()
    check_page(page, watch)

    page.get_by_label("Yes").check()
    expect(item(page, "cigarettes")).to_be_visible()
    page.get_by_label("How many cigarettes a day?").fill("20")
    expect(item(page, "brand")).to_be_visible()
    page.get_by_label("How many cigarettes a day?").fill("5")
    expect(item(page, "brand")).to_be_hidden()
    page.get_by_label("No").check()
    expect(item(page, "cigarettes")).to_be_hidden()
    assert page.get_by_label("How many cigarettes a day?").is_disabled()

    page.get_by_label("Yes").check()
    page.get_by_label("How many cigarettes a day?").fill("20")
    page.get_by_label("Which brand?").fill("Acme")
    page.get_by_label("How old are you?").fill("30")
    assert serious_axe_violations(page) == []
    with page.expect_navigation():
        page.get_by_role("button", name="Next page").click()
    assert page.url.endswith("?page=1")  # "Have you tried to quit?" applies to a smoker
    expect(item(page, "quit_how")).to_be_hidden()
    page.get_by_label("Yes").check()
    expect(item(page, "quit_how")).to_be_visible()
    page.get_by_label("How?").fill("Gum")
    with page.expect_navigation():
        page.get_by_role("button", name="Next page").click()
    page.get_by_label("7", exact=True).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Submit answers").click()
    assert "/q/baseline/intergroup-anxiety" in page.url
    assert watch.errors() == []


def test_with_javascript_the_button_says_whether_a_page_follows(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(javascript=True, viewport=PHONE)
    page.goto(live_server.trainee_url(consented(live_server, "habits")))
    assert "/q/baseline/habits" in page.url
    send = page.locator("form.questionnaire button[type=submit]")
    expect(send).to_have_text("Submit answers")  # the second page asks smokers only
    page.get_by_label("Yes").check()
    expect(send).to_have_text("Next page")
    page.get_by_label("No").check()
    expect(send).to_have_text("Submit answers")
    page.get_by_label("Yes").check()
    with page.expect_navigation():
        send.click()
    assert page.url.endswith("?page=1")
    check_page(page, watch)
    expect(send).to_have_text("Submit answers")
    with page.expect_navigation():
        page.get_by_role("link", name="Previous page").click()
    expect(send).to_have_text("Next page")  # as saved
    page.get_by_label("No").check()
    expect(send).to_have_text("Submit answers")
    with page.expect_navigation():
        send.click()
    assert "/q/baseline/intergroup-anxiety" in page.url  # submitted from its first page
    assert watch.errors() == []


def test_without_javascript_the_page_comes_back_with_the_questions_that_now_apply(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(javascript=False, viewport=PHONE)
    page.goto(live_server.trainee_url(consented(live_server, "smoking")))
    expect(item(page, "cigarettes")).to_be_hidden()
    page.get_by_label("Yes").check()
    page.get_by_label("How old are you?").fill("30")
    with page.expect_navigation():
        page.get_by_role("button", name="Next page").click()
    expect(page.get_by_text("1 more question applies given your answers")).to_be_visible()
    expect(item(page, "cigarettes")).to_be_visible()
    expect(page.get_by_label("How old are you?")).to_have_value("30")
    check_page(page, watch)
    page.get_by_label("How many cigarettes a day?").fill("5")
    with page.expect_navigation():
        page.get_by_role("button", name="Next page").click()
    assert page.url.endswith("?page=1")
    expect(page.get_by_text("Have you tried to quit?")).to_be_visible()


def test_the_anxiety_page_on_a_phone_is_three_screens_per_ten_items(
        live_server: LiveServer, open_page: OpenPage) -> None:
    token = consented(live_server, "demo")

    def answer_background() -> None:
        trainee = TraineeDriver(live_server.app.test_client(), token)
        trainee.open()
        assert "/q/baseline/intergroup-anxiety" in trainee.answer_page().request.path

    live_server.run(answer_background)
    page, watch = open_page(javascript=True, viewport=PHONE)
    page.goto(live_server.trainee_url(token))
    assert "/q/baseline/intergroup-anxiety" in page.url
    facts = check_page(page, watch)  # no sideways scroll, among the rest
    items = page.locator("main fieldset.question").count()
    assert items == 12
    height = page.evaluate("document.documentElement.scrollHeight")
    per_ten = height * 10 / items
    print(f"anxiety page at 360x740: {height} px for {items} items, {per_ten:.0f} px per 10")
    assert per_ten <= MOST_PX_PER_10_ITEMS
    assert facts["scrollWidth"] <= PHONE["width"]
    sizes = page.eval_on_selector_all(
        "main .option", "els => els.map(e => [e.getBoundingClientRect().width, "
                        "e.getBoundingClientRect().height])")
    assert len(sizes) == 120
    assert min(w for w, _ in sizes) >= 24 and min(h for _, h in sizes) >= 44
    assert serious_axe_violations(page) == []
    # The radios are still one group per item, each named by its whole label.
    expect(page.get_by_role("group", name="1. Apprehensive")
           .get_by_role("radio", name="10 – Extremely")).to_have_count(1)
    page.get_by_role("radio", name="10 – Extremely").first.focus()
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.value") == "9"
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "anxiety-360.png"), full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_matrix_group_reads_as_one_grid_on_a_desktop_and_as_rows_on_a_phone(
        live_server: LiveServer, open_page: OpenPage, viewport) -> None:
    page, watch = open_page(javascript=True, viewport=viewport)
    page.goto(live_server.trainee_url(consented(live_server, "widgets")))
    check_page(page, watch)
    assert serious_axe_violations(page) == []
    page.get_by_label("Family").check()
    page.get_by_label("When did you last meet?").fill("2026-03-31")
    page.get_by_label("How close are you?").fill("40")
    page.get_by_role("group", name="5. Have you talked about it?").get_by_label("No").check()
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"widgets-{viewport['width']}.png"),
                        full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Next page").click()
    check_page(page, watch)
    assert serious_axe_violations(page) == []
    head = page.locator(".matrix-head")
    radios = [page.locator(f"#q_{key}-0").bounding_box()
              for key in ("m_respect", "m_work", "m_friend")]
    if viewport is DESKTOP:
        expect(head).to_be_visible()
        # Each row's first radio sits under the header's first label, in one column.
        assert len({round(box["x"]) for box in radios if box}) == 1
        assert radios[0] and radios[0]["y"] < radios[1]["y"]
    else:
        expect(head).to_be_hidden()
        expect(page.locator(".option-text", has_text="Strongly disagree").first).to_be_visible()
    page.get_by_role("group", name="7. They can work as well as anyone.") \
        .get_by_role("radio", name="Agree", exact=True).check()
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"matrix-{viewport['width']}.png"),
                        full_page=True)


def test_a_slider_item_is_a_slider_beside_its_number_box(
        live_server: LiveServer, open_page: OpenPage) -> None:
    page, watch = open_page(javascript=True, viewport=PHONE)
    page.goto(live_server.trainee_url(consented(live_server, "widgets")))
    box = page.get_by_label("How close are you?")
    slider = item(page, "closeness").locator("input[type=range]")
    unset = re.compile(r"\bunset\b")
    expect(slider).to_have_class(unset)  # no handle until an answer is given
    # For pointers and fingers only: the box is the answer, by keyboard and screen reader.
    assert slider.get_attribute("aria-hidden") == "true"
    assert slider.get_attribute("tabindex") == "-1" and slider.get_attribute("name") is None
    track = slider.bounding_box()
    assert track is not None and track["height"] >= 24 and track["width"] >= 150
    page.mouse.click(track["x"] + track["width"] * 0.75, track["y"] + track["height"] / 2)
    assert 65 <= int(box.input_value()) <= 85
    expect(slider).not_to_have_class(unset)
    box.fill("20")
    expect(slider).to_have_value("20")
    box.fill("200")  # out of bounds: the server will say so; the slider shows no answer
    expect(slider).to_have_class(unset)
    check_page(page, watch)
    assert serious_axe_violations(page) == []
    box.fill("35")
    page.get_by_label("Family").check()
    page.get_by_label("When did you last meet?").fill("2026-03-31")
    page.get_by_role("group", name="5. Have you talked about it?").get_by_label("No").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Next page").click()
    assert page.url.endswith("?page=1")
    with page.expect_navigation():
        page.get_by_role("link", name="Previous page").click()
    expect(box).to_have_value("35")
    expect(slider).to_have_value("35")  # a saved answer shows its handle
    expect(slider).not_to_have_class(unset)
    assert watch.errors() == []

    def another_trainee() -> str:
        token = invite(live_server.app, "widgets")
        TraineeDriver(live_server.app.test_client(), token).consent()
        return token

    page, watch = open_page(javascript=False, viewport=PHONE)
    page.goto(live_server.trainee_url(live_server.run(another_trainee)))
    expect(page.get_by_label("How close are you?")).to_be_visible()
    assert page.locator("input[type=range]").count() == 0  # the number box alone


CLINICAL = Path(__file__).resolve().parents[1] / "instruments" / "data" / "redcap_clinical.csv"


def test_an_imported_redcap_form_is_answered_on_a_phone_with_its_skips_and_headings(
        live_server: LiveServer, open_page: OpenPage) -> None:
    """Issue 13's "done": a clinical REDCap dictionary, imported as a lab would (missing code 99,
    one section per page), answered on a phone with the skips and headings it has in REDCap."""
    from sqlalchemy import select

    from instruments import Library
    from instruments.redcap import import_redcap
    from study.extensions import db
    from study.models import Answer, AnswerStatus, Participant, Response

    imported = import_redcap(CLINICAL, form="screening", missing_codes=["99"],
                             page_per_section=True).instrument

    def make() -> str:
        library = live_server.app.extensions["allport.instruments"]
        live_server.app.extensions["allport.instruments"] = Library([*library, imported])
        open_study(live_server.app, "screening", "screening")
        token = invite(live_server.app, "screening")
        TraineeDriver(live_server.app.test_client(), token).consent()
        return token

    token = live_server.run(make)
    page, watch = open_page(javascript=True, viewport=PHONE)
    page.goto(live_server.trainee_url(token))
    assert "/q/baseline/screening" in page.url
    expect(page.get_by_role("heading", name="Part A: about you")).to_be_visible()
    assert "alert(" not in page.content()  # the label's script was cleaned away on import
    for key in ("smoker", "age", "symptoms", "fever_days"):
        expect(item(page, key)).to_be_hidden()
    item(page, "consent_given").get_by_label("Yes").check()
    expect(item(page, "smoker")).to_be_visible()
    item(page, "age").locator("input").fill("40")
    expect(item(page, "symptoms")).to_be_visible()  # [age] >= 18 and [age] < 65
    item(page, "symptoms").get_by_label("Fever").check()
    item(page, "fever_days").locator("input").fill("3")  # [symptoms(2)] = '1'
    check_page(page, watch)
    with page.expect_navigation():
        page.get_by_role("button", name="Next page").click()

    assert page.url.endswith("?page=1")  # the section "Mood over the past week" starts a page
    expect(page.get_by_role("heading", name="Mood over the past week")).to_be_visible()
    # [smoker] <> '' or ([age] <= 30 and not([weight] > 100)): no smoker answer, aged 40
    expect(item(page, "mood_2")).to_be_hidden()
    item(page, "mood_1").get_by_label("Inadequate information").check()
    assert serious_axe_violations(page) == []
    check_page(page, watch)
    # "Last words" asks only [visit_date] <> '': with no date its page is skipped altogether,
    # and this page's button submits the questionnaire (and says so).
    with page.expect_navigation():
        page.get_by_role("button", name="Submit answers").click()
    assert "/q/baseline/intergroup-anxiety" in page.url
    assert watch.errors() == []

    def stored() -> dict[str, tuple[AnswerStatus, str]]:
        with live_server.app.app_context():
            rows = db.session.execute(
                select(Answer.item_key, Answer.status, Answer.value).join(Response)
                .join(Participant).where(Response.instrument_id == "screening")).all()
            return {key: (status, value) for key, status, value in rows}

    answers = live_server.run(stored)
    assert answers["mood_1"] == (AnswerStatus.ANSWERED, "99")  # kept as given, never scored
    assert answers["fever_days"] == (AnswerStatus.ANSWERED, "3")
    assert answers["symptoms"] == (AnswerStatus.ANSWERED, "2")
    for key in ("mood_2", "comments"):
        assert answers[key] == (AnswerStatus.NOT_APPLICABLE, "")
    assert "smoker" not in answers  # asked and left blank: missing, not "not applicable"
    assert "intro" not in answers  # descriptive text has no answer
