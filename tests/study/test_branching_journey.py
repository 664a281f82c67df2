"""A trainee's questionnaire with branching logic, through the test client with CSRF on.

The server decides which items are asked (the script only mirrors it), so everything here works
as a browser without JavaScript would: items not asked are stored as not applicable, a page with
nothing asked is skipped, and an item made applicable by the page's own answers brings the page
back with it shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from instruments import parse_definition
from study.extensions import db
from study.models import Answer, Response, ResponseStatus
from study.services.pages import applicable, pages
from tests.branching_study import (
    HABITS,
    MEASURES,
    SMOKING,
    WIDGETS,
    add_instruments,
    invite,
    open_study,
)
from tests.helpers import TraineeDriver, csrf_from

URL = "/t/{token}/q/baseline/smoking"


class Trainee:
    """One trainee on a questionnaire: pages fetched and posted by number."""

    def __init__(self, app: Flask, client: FlaskClient, token: str,
                 instrument: str = "smoking") -> None:
        self.app, self.client, self.token = app, client, token
        self.instrument = instrument
        self.url = URL.format(token=token).replace("smoking", instrument)

    def get(self, page: int | None = None) -> TestResponse:
        query = "" if page is None else f"?page={page}"
        return self.client.get(self.url + query)

    def post(self, page: int, answers: dict[str, Any], *, shown: str | None = None,
             csrf: str | None = None) -> TestResponse:
        html = self.get(page).get_data(as_text=True)
        data = {"csrf_token": csrf or csrf_from(html), **answers}
        if shown is not None:
            data["shown"] = shown
        return self.client.post(f"{self.url}?page={page}", data=data)

    def rows(self) -> dict[str, tuple[str, str]]:
        """Item key -> (status, value) of every answer row stored."""
        with self.app.app_context():
            return {a.item_key: (a.status.value, a.value) for a in db.session.scalars(
                select(Answer).join(Response).where(Response.instrument_id == self.instrument))}

    def submitted(self) -> bool:
        with self.app.app_context():
            return db.session.scalars(select(Response.status).where(
                Response.instrument_id == self.instrument)).one() is ResponseStatus.SUBMITTED


def start(app: Flask, instrument: str) -> Trainee:
    add_instruments(app, SMOKING, WIDGETS, HABITS, MEASURES)
    open_study(app, instrument, instrument)
    client = app.test_client()
    token = invite(app, instrument)
    TraineeDriver(client, token).consent()
    return Trainee(app, client, token, instrument)


@pytest.fixture
def trainee(make_app) -> Iterator[Trainee]:
    yield start(make_app(), "smoking")


@pytest.fixture
def widgets(make_app) -> Iterator[Trainee]:
    yield start(make_app(), "widgets")


@pytest.fixture
def habits(make_app) -> Iterator[Trainee]:
    yield start(make_app(), "habits")


def button(html: str) -> str:
    """The label of the page's submit button."""
    match = re.search(r'<button type="submit"[^>]*>([^<]+)</button>', html)
    assert match, "no submit button"
    return match.group(1)


def later_pages(html: str) -> Any:
    """What the page tells the script of the pages after it that may be skipped (or None)."""
    match = re.search(r"data-later='([^']*)'", html)
    return None if match is None else json.loads(unescape(match.group(1)))


def item_tag(html: str, key: str) -> str:
    """The opening tag of item ``key``'s wrapper."""
    match = re.search(rf'<div class="item[^"]*" data-item="{key}"[^>]*>', html)
    assert match, f"no item {key}"
    return match.group(0)


def is_hidden(html: str, key: str) -> bool:
    return item_tag(html, key).endswith(" hidden>")


def location(response: TestResponse) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response.headers["Location"]


# --- pages and conditions, without the web ------------------------------------------------------


def test_pages_follow_page_size_and_new_page() -> None:
    instrument = parse_definition({**SMOKING, "page_size": 2})
    keys = [[item.key for item in page] for page in pages(instrument)]
    assert keys == [["smoker", "cigarettes"], ["brand", "age"], ["quit", "quit_how"],
                    ["mood", "remark"]]


def test_a_chain_of_conditions_resolves_and_a_hidden_answer_counts_as_unanswered() -> None:
    instrument = parse_definition(SMOKING)
    asked = applicable(instrument, {"smoker": "2", "cigarettes": "20", "quit": "1"})
    # cigarettes is not asked, so brand (cigarettes > 10) is not either, whatever was posted.
    assert {key for key, on in asked.items() if not on} == {"cigarettes", "brand", "quit",
                                                             "quit_how"}
    asked = applicable(instrument, {"smoker": "1", "cigarettes": "20", "quit": "1"})
    assert all(asked.values())


# --- the page --------------------------------------------------------------------------------


def test_the_page_hides_items_not_asked_and_shows_sections_and_notes(trainee: Trainee) -> None:
    html = trainee.get().get_data(as_text=True)
    assert not is_hidden(html, "smoker")
    assert is_hidden(html, "cigarettes") and is_hidden(html, "brand")
    assert """data-show-if='["=", "smoker", null, "1"]'""" in item_tag(html, "cigarettes")
    assert '<input type="hidden" name="shown" value="smoker age">' in html
    assert re.search(r'<section class="section" data-section-items="age">\s*<h2>About you</h2>',
                     html)
    assert 'aria-describedby="q_age-hint"' in html
    assert '<p class="hint" id="q_age-hint">In whole years.</p>' in html
    assert '<script src="/static/branching.js" defer></script>' in html


def test_items_not_asked_are_stored_as_not_applicable_and_a_page_of_them_skipped(
        trainee: Trainee) -> None:
    response = trainee.post(0, {"q_smoker": "2", "q_age": "30", "q_cigarettes": "40"},
                            shown="smoker age")
    assert location(response).endswith("?page=2")  # page 1 asks smokers only
    assert trainee.rows() == {"smoker": ("answered", "2"), "age": ("answered", "30"),
                              "cigarettes": ("not_applicable", ""),
                              "brand": ("not_applicable", "")}
    html = trainee.get(2).get_data(as_text=True)
    assert "Page 3 of 3" in html
    assert f'href="{trainee.url}?page=0">Previous page' in html  # back over the skipped page
    assert "How are you today?" in trainee.get(1).get_data(as_text=True)  # skipped forward too

    location(trainee.post(2, {"q_mood": "7"}))
    assert trainee.submitted()
    rows = trainee.rows()
    assert rows["quit"] == rows["quit_how"] == ("not_applicable", "")
    assert rows["mood"] == ("answered", "7")
    assert "remark" not in rows  # optional and left blank: missing, not "not applicable"


def test_a_chain_on_one_page_and_the_posted_answer_of_an_item_not_asked_is_discarded(
        trainee: Trainee) -> None:
    everything = "smoker cigarettes brand age"
    response = trainee.post(0, {"q_smoker": "1", "q_cigarettes": "5", "q_brand": "Acme",
                                "q_age": "30"}, shown=everything)
    assert location(response).endswith("?page=1")
    assert trainee.rows()["brand"] == ("not_applicable", "")

    # More than 10 a day: brand is asked, and required.
    response = trainee.post(0, {"q_smoker": "1", "q_cigarettes": "20", "q_age": "30"},
                            shown=everything)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="q_brand-error"><span class="visually-hidden">Error:</span> '
                     r'Please answer this question\.', html)
    assert 'value="20"' in html and not is_hidden(html, "brand")


def test_without_javascript_newly_asked_questions_come_back_on_the_page(trainee: Trainee) -> None:
    response = trainee.post(0, {"q_smoker": "1", "q_age": "30"}, shown="smoker age")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1 more question applies given your answers" in html
    assert not is_hidden(html, "cigarettes") and is_hidden(html, "brand")
    assert "q_cigarettes-error" not in html
    assert 'value="30"' in html  # other answers kept
    assert '<input type="hidden" name="shown" value="smoker cigarettes age">' in html
    assert trainee.rows() == {}

    response = trainee.post(0, {"q_smoker": "1", "q_cigarettes": "20", "q_age": "30"},
                            shown="smoker cigarettes age")
    assert response.status_code == 200
    assert "1 more question applies" in response.get_data(as_text=True)
    response = trainee.post(0, {"q_smoker": "1", "q_cigarettes": "20", "q_brand": "Acme",
                                "q_age": "30"}, shown="smoker cigarettes brand age")
    assert location(response).endswith("?page=1")


def test_a_condition_on_an_earlier_page_is_decided_before_the_page_is_shown(
        trainee: Trainee) -> None:
    trainee.post(0, {"q_smoker": "1", "q_cigarettes": "5", "q_age": "30"},
                 shown="smoker cigarettes age")
    html = trainee.get(1).get_data(as_text=True)
    assert not is_hidden(html, "quit") and is_hidden(html, "quit_how")
    assert """data-answers='{"smoker": "1"}'""" in html  # what the script reads from page 1


def test_an_answer_cleared_is_cleared(trainee: Trainee) -> None:
    trainee.post(0, {"q_smoker": "1", "q_cigarettes": "5", "q_age": "30"},
                 shown="smoker cigarettes age")
    trainee.post(1, {"q_quit": "1", "q_quit_how": "Gum"}, shown="quit quit_how")
    assert trainee.rows()["quit_how"] == ("answered", "Gum")
    location(trainee.post(1, {"q_quit": "1", "q_quit_how": ""}, shown="quit quit_how"))
    assert "quit_how" not in trainee.rows()
    # No longer trying to quit: quit_how is not applicable now.
    location(trainee.post(1, {"q_quit": "2"}, shown="quit"))
    assert trainee.rows()["quit_how"] == ("not_applicable", "")


def test_the_final_submit_sends_the_trainee_back_to_a_question_that_now_applies(
        trainee: Trainee) -> None:
    trainee.post(0, {"q_smoker": "2", "q_age": "30"}, shown="smoker age")
    # Back on page 1, now a smoker: page 2 ("quit") applies, but the trainee goes to the last
    # page by its address and submits.
    trainee.post(0, {"q_smoker": "1", "q_cigarettes": "5", "q_age": "30"},
                 shown="smoker cigarettes age")
    response = trainee.post(2, {"q_mood": "4"})
    assert location(response).endswith("?page=1")
    assert not trainee.submitted()
    html = trainee.client.get(location(response)).get_data(as_text=True)
    assert "Some questions that apply given your answers are not answered yet" in html
    assert "Have you tried to quit?" in html
    assert trainee.rows()["mood"] == ("answered", "4")  # the last page's answers are kept

    location(trainee.post(1, {"q_quit": "2"}, shown="quit"))
    location(trainee.post(2, {"q_mood": "4"}))
    assert trainee.submitted()


def test_the_button_says_whether_a_page_follows_given_the_answers(habits: Trainee) -> None:
    # Nothing answered yet: page 2 asks smokers only, so as things stand this page is the last.
    html = habits.get().get_data(as_text=True)
    assert button(html) == "Submit answers"
    assert later_pages(html) == [[["cigarettes", ["=", "smoker", None, "1"]]]]
    assert 'data-answers=' in html and "branching.js" in html  # the script changes the label

    assert location(habits.post(0, {"q_smoker": "1"})).endswith("?page=1")  # a smoker goes on
    assert button(habits.get(0).get_data(as_text=True)) == "Next page"  # as saved
    html = habits.get(1).get_data(as_text=True)
    assert button(html) == "Submit answers" and later_pages(html) is None  # the last page

    location(habits.post(0, {"q_smoker": "2"}))  # no longer a smoker: submitted from page 1
    assert habits.submitted()
    assert habits.rows() == {"smoker": ("answered", "2"),
                             "cigarettes": ("not_applicable", "")}


def test_a_page_that_always_follows_makes_the_button_next_page(trainee: Trainee) -> None:
    # Page 2 of "smoking" asks smokers only, page 3 everyone: page 1 is never the last.
    html = trainee.get(0).get_data(as_text=True)
    assert button(html) == "Next page" and later_pages(html) is None
    assert button(trainee.get(2).get_data(as_text=True)) == "Submit answers"


def test_an_expired_form_comes_back_with_the_answers_kept(trainee: Trainee) -> None:
    response = trainee.post(0, {"q_smoker": "1", "q_cigarettes": "12", "q_age": "30"},
                            shown="smoker cigarettes age", csrf="expired-or-forged")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "send it again" in html
    assert re.search(r'name="q_smoker" value="1" checked', html)
    assert 'value="12"' in html
    assert trainee.rows() == {}


def test_html_labels_are_markup_and_numbered_scales_compact(trainee: Trainee) -> None:
    trainee.post(0, {"q_smoker": "2", "q_age": "30"}, shown="smoker age")
    html = trainee.get(2).get_data(as_text=True)
    assert "Anything <b>else</b>?" in html and "alert(1)" not in html
    # One row of numbered segments; each radio's name keeps its label, the ends shown once.
    assert ('<span class="point-number">1</span><span class="visually-hidden"> – Very bad'
            '</span>') in html
    assert '<span class="point-number">5</span></label>' in html
    assert '<p class="scale-ends" aria-hidden="true"><span>1 – Very bad</span>' in html
    # An error about an HTML label quotes its words, not its markup.
    response = trainee.post(2, {"q_mood": "4", "q_remark": "x" * 501})
    assert response.status_code == 422
    assert "Anything else?" in response.get_data(as_text=True)


# --- the widgets of REDCap's field types -------------------------------------------------------


def error_beside(html: str, name: str) -> str:
    match = re.search(rf'id="{name}-error"><span class="visually-hidden">Error:</span> ([^<]+)<',
                      html)
    assert match, f"no error beside {name}"
    return match.group(1).strip()


def test_each_widget_says_what_is_wrong_beside_it_and_keeps_the_other_answers(
        widgets: Trainee) -> None:
    html = widgets.get().get_data(as_text=True)
    assert '<div class="descriptive">Please answer <i>carefully</i>.</div>' in html
    assert 'name="q_intro"' not in html
    assert 'type="checkbox"' in html and 'type="date"' in html
    assert 'inputmode="decimal"' in html
    assert re.search(r'<input[^>]*id="q_closeness"[^>]*max="100"[^>]*min="0"', html)
    assert "<span>0 – Distant</span><span>100 – Close</span>" in html

    response = widgets.post(0, {"q_met_on": "31/03/2026", "q_closeness": "150", "q_knows": "1"},
                            shown="intro contacts met_on closeness knows")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_beside(html, "q_contacts") == "Please tick at least one answer."
    assert error_beside(html, "q_met_on").startswith("Please enter a date as year-month-day")
    assert error_beside(html, "q_closeness") == "Please enter a whole number from 0 to 100."
    assert re.search(r'name="q_knows" value="1" checked', html)

    response = widgets.post(0, {"q_contacts": ["1", "3"], "q_colleague_years": "a few",
                                "q_met_on": "2026-03-31", "q_closeness": "40", "q_knows": "1"},
                            shown="intro contacts colleague_years met_on closeness knows")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_beside(html, "q_colleague_years") == "Please enter a number from 0 to 40.5."
    assert 'value="2026-03-31"' in html and 'value="40"' in html
    assert re.search(r'name="q_contacts" value="3" checked', html)
    assert widgets.rows() == {}

    response = widgets.post(0, {"q_contacts": ["3", "1"], "q_colleague_years": "2.5",
                                "q_met_on": "2026-03-31", "q_closeness": "40", "q_knows": "0"},
                            shown="intro contacts colleague_years met_on closeness knows")
    assert location(response).endswith("?page=1")
    assert widgets.rows() == {
        "contacts": ("answered", "1,3"), "colleague_years": ("answered", "2.5"),
        "met_on": ("answered", "2026-03-31"), "closeness": ("answered", "40"),
        "knows": ("answered", "0")}  # the descriptive text has no row
    html = widgets.get(0).get_data(as_text=True)
    assert re.search(r'name="q_contacts" value="1" checked', html)


def test_decimal_places_and_date_bounds_are_checked_beside_the_field(make_app) -> None:
    measures = start(make_app(), "measures")
    html = measures.get().get_data(as_text=True)
    # The browser's date picker offers only the days within the bounds.
    assert re.search(r'<input[^>]*id="q_visit"[^>]*max="2026-12-31"[^>]*min="2025-01-01"', html)

    response = measures.post(0, {"q_weight": "72", "q_visit": "2024-12-31"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_beside(html, "q_weight") == (
        "Please enter the number with 1 decimal place, such as 30.0.")
    assert error_beside(html, "q_visit") == (
        "Please enter a date from 1 January 2025 to 31 December 2026.")
    assert 'value="72"' in html and 'value="2024-12-31"' in html  # kept to be mended

    response = measures.post(0, {"q_weight": "72.25", "q_visit": "2027-01-01"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert error_beside(html, "q_weight").startswith("Please enter the number with 1 decimal")
    assert error_beside(html, "q_visit").startswith("Please enter a date from 1 January 2025")
    assert measures.rows() == {}

    # A number too large to hold (it would become infinity) is refused like any other text,
    # and an item without bounds says what it takes.
    for level, visits in (("9" * 400, "9" * 400), ("a few", "a few")):
        response = measures.post(0, {"q_weight": "72.5", "q_visit": "2026-12-31",
                                     "q_level": level, "q_visits": visits})
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert error_beside(html, "q_level") == "Please enter a number, such as 12 or 2.5."
        assert error_beside(html, "q_visits") == "Please enter a whole number, such as 3."
    assert 'value="72.5"' in html and 'value="2026-12-31"' in html

    location(measures.post(0, {"q_weight": "72.5", "q_visit": "2026-12-31"}))
    assert measures.submitted()
    assert measures.rows() == {"weight": ("answered", "72.5"),
                               "visit": ("answered", "2026-12-31")}


def test_a_checkbox_condition_and_a_ticked_box_unticked(widgets: Trainee) -> None:
    answers = {"q_contacts": ["1"], "q_colleague_years": "3", "q_met_on": "2026-03-31",
               "q_closeness": "40", "q_knows": "0"}
    location(widgets.post(0, answers, shown="intro contacts met_on closeness knows"))
    assert widgets.rows()["colleague_years"] == ("not_applicable", "")


def test_a_matrix_group_is_one_grid_with_its_header_row(widgets: Trainee) -> None:
    location(widgets.post(0, {"q_contacts": ["1"], "q_met_on": "2026-03-31",
                              "q_closeness": "40", "q_knows": "0"}))
    html = widgets.get(1).get_data(as_text=True)
    assert html.count('<div class="matrix points-5">') == 1
    assert ('<div class="matrix-head" aria-hidden="true"><span>Strongly disagree</span>'
            in html)
    assert html.count('class="question layout-segments"') == 3
    assert '<span class="option-text">Strongly disagree</span>' in html
