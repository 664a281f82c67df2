"""A trainee's questionnaire with branching logic, through the test client with CSRF on.

The server decides which items are asked (the script only mirrors it), so everything here works
as a browser without JavaScript would: items not asked are stored as not applicable, a page with
nothing asked is skipped, and an item made applicable by the page's own answers brings the page
back with it shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from instruments import parse_definition
from study.extensions import db
from study.models import Answer, Response, ResponseStatus
from study.services.pages import applicable, pages
from tests.branching_study import SMOKING, add_instruments, invite, open_study
from tests.helpers import TraineeDriver, csrf_from

URL = "/t/{token}/q/baseline/smoking"


class Trainee:
    """One trainee on the smoking questionnaire: pages fetched and posted by number."""

    def __init__(self, app: Flask, client: FlaskClient, token: str) -> None:
        self.app, self.client, self.token = app, client, token
        self.url = URL.format(token=token)

    def get(self, page: int | None = None) -> TestResponse:
        query = "" if page is None else f"?page={page}"
        return self.client.get(self.url + query)

    def post(self, page: int, answers: dict[str, str], *, shown: str | None = None,
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
                select(Answer).join(Response).where(Response.instrument_id == "smoking"))}

    def submitted(self) -> bool:
        with self.app.app_context():
            return db.session.scalars(select(Response.status).where(
                Response.instrument_id == "smoking")).one() is ResponseStatus.SUBMITTED


@pytest.fixture
def trainee(make_app) -> Iterator[Trainee]:
    app = make_app()
    add_instruments(app, SMOKING)
    open_study(app, "smoking", "smoking")
    client = app.test_client()
    token = invite(app, "smoking")
    TraineeDriver(client, token).consent()
    yield Trainee(app, client, token)


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
