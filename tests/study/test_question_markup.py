"""A questionnaire page keeps the markup of its questions (issue 14), never showing another's.

``study.trainee.questions.question_markup`` keeps each question's markup by what decides it: the
item, its number, whether it is asked, its place in a matrix and the option chosen. These tests
compare pages served from what was kept, after other trainees' pages filled it, with the same
pages rendered afresh (the cache is off while templates reload, as in development).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import Markup

from study.trainee import views as trainee_views
from study.trainee.questions import MarkupCache
from tests.branching_study import SMOKING, WIDGETS, YES_NO, add_instruments, invite, open_study
from tests.helpers import TraineeDriver, csrf_from


@contextmanager
def rendered_afresh(app: Flask) -> Iterator[None]:
    app.jinja_env.auto_reload = True
    try:
        yield
    finally:
        app.jinja_env.auto_reload = False


def kept(app: Flask) -> int:
    cache = app.extensions.get("allport.question_markup")
    return 0 if cache is None else len(cache)


def new_trainee(app: Flask, slug: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = invite(app, slug)
    TraineeDriver(client, token).consent()
    return client, f"/t/{token}/q/baseline/{slug}"


def post(client: FlaskClient, url: str, page: int, answers: dict[str, str]) -> int:
    html = client.get(f"{url}?page={page}").get_data(as_text=True)
    return client.post(f"{url}?page={page}",
                       data={"csrf_token": csrf_from(html), **answers}).status_code


def page_html(client: FlaskClient, url: str) -> str:
    """The page at ``url``, its CSRF token (signed with the time) left out."""
    response = client.get(url)
    assert response.status_code == 200
    return re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+', r"\1",
                  response.get_data(as_text=True))


def test_pages_from_kept_markup_are_the_pages_rendered_afresh(make_app) -> None:
    app = make_app()
    add_instruments(app, SMOKING, WIDGETS)
    open_study(app, "smoking", "smoking")
    open_study(app, "widgets", "widgets")
    # Trainees in different states of the same pages: a smoker of 20 a day on page 0 again,
    # a non-smoker, one with nothing answered; on the scale page, different choices.
    smoker, smoker_url = new_trainee(app, "smoking")
    assert post(smoker, smoker_url, 0, {"q_smoker": "1", "q_cigarettes": "20",
                                        "q_brand": "Any", "q_age": "30"}) == 303
    assert post(smoker, smoker_url, 1, {"q_quit": "1", "q_quit_how": "Gum"}) == 303
    other, other_url = new_trainee(app, "smoking")
    assert post(other, other_url, 0, {"q_smoker": "2", "q_age": "41"}) == 303
    fresh, fresh_url = new_trainee(app, "smoking")
    grid, grid_url = new_trainee(app, "widgets")
    assert post(grid, grid_url, 0, {"q_contacts": "1", "q_met_on": "2026-01-02",
                                    "q_closeness": "40", "q_knows": "1"}) == 303
    pages = [(smoker, f"{smoker_url}?page=0"), (smoker, f"{smoker_url}?page=1"),
             (other, f"{other_url}?page=0"), (other, f"{other_url}?page=2"),
             (fresh, f"{fresh_url}?page=0"), (grid, f"{grid_url}?page=0"),
             (grid, f"{grid_url}?page=1")]
    served = {url: page_html(client, url) for client, url in pages}  # fills the cache
    assert kept(app) > 10
    for client, url in reversed(pages):  # now served from it, in another order
        again = page_html(client, url)
        with rendered_afresh(app):
            afresh = page_html(client, url)
        assert again == afresh == served[url], url
    # What differs between trainees is there: the smoker's choices, the non-smoker's hidden items.
    assert re.search(r'name="q_smoker" value="1" checked', served[f"{smoker_url}?page=0"])
    assert 'value="20"' in served[f"{smoker_url}?page=0"]
    assert re.search(r'data-item="cigarettes"[^>]* hidden>', served[f"{other_url}?page=0"])
    assert "checked" not in served[f"{fresh_url}?page=0"]
    assert re.search(r'name="q_knows" value="1" checked', served[f"{grid_url}?page=0"])


def test_a_chosen_option_and_an_error_are_never_shown_to_the_next_trainee(make_app) -> None:
    app = make_app()
    add_instruments(app, SMOKING, WIDGETS)
    open_study(app, "smoking", "smoking")
    first, first_url = new_trainee(app, "smoking")
    second, second_url = new_trainee(app, "smoking")
    for client, url in ((first, first_url), (second, second_url)):
        assert post(client, url, 0, {"q_smoker": "2", "q_age": "30"}) == 303
    # The first trainee posts the scale page with an answer the scale has not (an error beside
    # it), then with 7 chosen and a remark too long (7 shown chosen, the remark's error).
    html = first.get(f"{first_url}?page=2").get_data(as_text=True)
    response = first.post(f"{first_url}?page=2", data={
        "csrf_token": csrf_from(html), "q_mood": "11"})
    assert response.status_code == 422
    assert "Please choose one of the answers shown." in response.get_data(as_text=True)
    response = first.post(f"{first_url}?page=2", data={
        "csrf_token": csrf_from(html), "q_mood": "7", "q_remark": "typed by the first " * 40})
    assert response.status_code == 422
    assert re.search(r'name="q_mood" value="7" checked', response.get_data(as_text=True))
    # The second trainee sees the same page as it is: nothing chosen, no error, no remark.
    second_page = page_html(second, f"{second_url}?page=2")
    assert "checked" not in second_page and 'aria-invalid' not in second_page
    assert "Please choose" not in second_page and "typed by the first" not in second_page
    assert kept(app) > 0


# A choice asked on the page of the answer it depends on, optional: shown unanswered or hidden,
# nothing chosen either way.
QUITTING = {
    "schema": "allport.instrument/1", "id": "quitting", "version": "1.0", "title": "Quitting",
    "instructions": None, "completed_by": "trainee",
    "items": [
        {"key": "smoker", "text": "Do you smoke?", "kind": "choice", "choices": YES_NO},
        {"key": "tried", "text": "Have you tried to stop?", "kind": "choice",
         "choices": YES_NO, "required": False, "show_if": "[smoker] = '1'"},
        {"key": "mood", "text": "How are you today?", "new_page": True,
         "choices": {"range": [1, 10]}},
    ],
}


def test_a_question_hidden_and_the_same_question_shown_are_kept_apart(make_app) -> None:
    app = make_app()
    add_instruments(app, QUITTING)
    open_study(app, "quitting", "quitting")
    smoker, smoker_url = new_trainee(app, "quitting")
    assert post(smoker, smoker_url, 0, {"q_smoker": "1", "shown": "smoker tried"}) == 303
    newcomer, newcomer_url = new_trainee(app, "quitting")
    assert re.search(r'data-item="tried"[^>]* hidden>', page_html(newcomer, newcomer_url))
    shown = page_html(smoker, f"{smoker_url}?page=0")
    assert re.search(r'data-item="tried"[^>]*>', shown)
    assert not re.search(r'data-item="tried"[^>]* hidden>', shown)


def test_a_page_whose_questions_are_all_kept_binds_no_form(make_app, monkeypatch) -> None:
    app = make_app()
    add_instruments(app, QUITTING, SMOKING)
    open_study(app, "quitting", "quitting")
    open_study(app, "smoking", "smoking")
    bound: list[str] = []
    questionnaire_form = trainee_views.questionnaire_form

    def counted(items, **kwargs):
        bound.append(items[0].key)
        return questionnaire_form(items, **kwargs)

    monkeypatch.setattr(trainee_views, "questionnaire_form", counted)
    smoker, url = new_trainee(app, "quitting")
    assert post(smoker, url, 0, {"q_smoker": "1", "q_tried": "2", "shown": "smoker tried"}) == 303
    bound.clear()
    first = page_html(smoker, f"{url}?page=0")  # this state's markup is not kept yet
    second = page_html(smoker, f"{url}?page=0")
    assert bound == ["smoker"]  # the second view bound no form
    with rendered_afresh(app):
        assert page_html(smoker, f"{url}?page=0") == first == second
    assert re.search(r'name="q_tried" value="2" checked', second)
    # A page with a field typed into is bound every time.
    typist, typed_url = new_trainee(app, "smoking")
    bound.clear()
    page_html(typist, typed_url)
    page_html(typist, typed_url)
    assert len(bound) == 2


def test_kept_markup_is_bounded_and_the_least_recently_used_goes_first() -> None:
    cache = MarkupCache(size=2)
    renders: list[str] = []

    def render(text: str) -> Callable[[], Markup]:
        def go() -> Markup:
            renders.append(text)
            return Markup(text)
        return go

    assert cache.get("a", render("A")) == "A"
    assert cache.get("b", render("B")) == "B"
    assert cache.get("a", render("A again")) == "A"  # kept: not rendered again; now the newest
    assert cache.get("c", render("C")) == "C"  # "b" goes
    assert cache.get("b", render("B again")) == "B again"
    assert renders == ["A", "B", "C", "B again"] and len(cache) == 2
    # All or nothing: the markup of every question of a page, or None when one is not kept.
    assert cache.get_all({"x": "c", "y": "a"}) is None
    assert cache.get_all({"y": "b", "x": "c"}) == {"x": "C", "y": "B again"}  # "c" newest
    assert cache.get("a", render("A at last")) == "A at last"  # "b" goes, not "c"
    assert cache.get("c", render("C again")) == "C"
