"""A small instrument with branching logic, and a study that asks it, for the web tests.

``smoking`` has three pages:

1. ``smoker`` (yes/no); ``cigarettes`` a day, asked of smokers; ``brand``, asked of smokers of
   more than 10 a day (a chain); under the section "About you", ``age`` with a note;
2. (``new_page``) ``quit``, asked of smokers (a condition on page 1), and ``quit_how``, optional,
   asked of those who tried: the whole page is skipped for a non-smoker;
3. (``new_page``) ``mood`` on a numbered 1-10 scale, and ``remark``, an HTML label, optional.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from instruments import Instrument, Library, parse_definition
from study.extensions import db
from study.services import invitations
from study.services.studies import StudySpec, create_study, open_recruitment, set_module_pages

YES_NO = [{"value": "1", "label": "Yes"}, {"value": "2", "label": "No"}]

SMOKING: dict[str, Any] = {
    "schema": "allport.instrument/1", "id": "smoking", "version": "1.0",
    "title": "Smoking", "instructions": None, "completed_by": "trainee",
    "items": [
        {"key": "smoker", "text": "Do you smoke?", "kind": "choice", "choices": YES_NO},
        {"key": "cigarettes", "text": "How many cigarettes a day?", "kind": "integer",
         "min": 1, "max": 100, "show_if": "[smoker] = '1'"},
        {"key": "brand", "text": "Which brand?", "kind": "text",
         "show_if": "[cigarettes] > 10"},
        {"key": "age", "text": "How old are you?", "kind": "integer", "min": 18, "max": 99,
         "section": "About you", "note": "In whole years."},
        {"key": "quit", "text": "Have you tried to quit?", "kind": "choice", "choices": YES_NO,
         "show_if": "[smoker] = '1'", "new_page": True},
        {"key": "quit_how", "text": "How?", "kind": "text", "required": False,
         "show_if": "[quit] = '1'"},
        {"key": "mood", "text": "How are you today?", "new_page": True,
         "choices": {"range": [1, 10], "anchors": {1: "Very bad", 10: "Very good"}}},
        {"key": "remark", "text": "Anything <b>else</b>? <script>alert(1)</script>",
         "kind": "text", "required": False, "html": True},
    ],
}

# Two pages, the second asked of smokers only: whether a page follows the first depends on the
# answer given there, so its button says "Next page" or "Submit answers" as the answer changes.
HABITS: dict[str, Any] = {
    "schema": "allport.instrument/1", "id": "habits", "version": "1.0",
    "title": "Habits", "instructions": None, "completed_by": "trainee",
    "items": [
        {"key": "smoker", "text": "Do you smoke?", "kind": "choice", "choices": YES_NO},
        {"key": "cigarettes", "text": "How many cigarettes a day?", "kind": "integer",
         "min": 1, "max": 100, "show_if": "[smoker] = '1'", "new_page": True},
    ],
}

# A number with a fixed number of decimal places and a date within bounds (REDCap's number_1dp,
# and a date field's min and max).
MEASURES: dict[str, Any] = {
    "schema": "allport.instrument/1", "id": "measures", "version": "1.0",
    "title": "Measures", "instructions": None, "completed_by": "trainee",
    "items": [
        {"key": "weight", "text": "Your weight in kg?", "kind": "number", "min": 30,
         "max": 250, "decimals": 1},
        {"key": "visit", "text": "When was the visit?", "kind": "date",
         "earliest": "2025-01-01", "latest": "2026-12-31"},
        {"key": "level", "text": "A lab value, if you know it", "kind": "number",
         "required": False},
        {"key": "visits", "text": "How many visits, if you know?", "kind": "integer",
         "required": False},
    ],
}


AGREE = [{"value": 1, "label": "Strongly disagree"}, {"value": 2, "label": "Disagree"},
         {"value": 3, "label": "Neither"}, {"value": 4, "label": "Agree"},
         {"value": 5, "label": "Strongly agree"}]

# Every widget a REDCap field becomes, then (on its own page) a matrix group of three items.
WIDGETS: dict[str, Any] = {
    "schema": "allport.instrument/1", "id": "widgets", "version": "1.0",
    "title": "Contact", "instructions": None, "completed_by": "trainee",
    "items": [
        {"key": "intro", "text": "Please answer <i>carefully</i>.", "kind": "descriptive",
         "html": True},
        {"key": "contacts", "text": "Whom do you know with lived experience?", "kind": "checkbox",
         "choices": [{"value": "1", "label": "Family"}, {"value": "2", "label": "A friend"},
                     {"value": "3", "label": "A colleague"}]},
        {"key": "colleague_years", "text": "For how many years?", "kind": "number",
         "min": 0, "max": 40.5, "show_if": "[contacts(3)] = '1'"},
        {"key": "met_on", "text": "When did you last meet?", "kind": "date"},
        {"key": "closeness", "text": "How close are you?", "kind": "slider",
         "anchors": {0: "Distant", 100: "Close"}},
        {"key": "knows", "text": "Have you talked about it?", "kind": "yesno"},
        {"key": "m_respect", "text": "They deserve respect.", "choices": AGREE,
         "matrix": "views", "new_page": True, "section": "Your views"},
        {"key": "m_work", "text": "They can work as well as anyone.", "choices": AGREE,
         "matrix": "views"},
        {"key": "m_friend", "text": "I would be their friend.", "choices": AGREE,
         "matrix": "views"},
    ],
}


def add_instruments(app: Flask, *definitions: dict[str, Any]) -> list[Instrument]:
    """Put instruments made from ``definitions`` in ``app``'s library, beside the bundled ones."""
    library: Library = app.extensions["allport.instruments"]
    added = [parse_definition(definition) for definition in definitions]
    app.extensions["allport.instruments"] = Library([*library, *added])
    return added


def open_study(app: Flask, slug: str, first: str) -> None:
    """A recruiting study whose baseline asks ``first``, then the intergroup-anxiety scale."""
    with app.app_context():
        library = app.extensions["allport.instruments"]
        study = create_study(db.session, StudySpec(
            slug=slug, title="Branching study", consent_text="Consent.",
            instruments={"baseline": [first, "intergroup-anxiety"],
                         "post": ["intergroup-anxiety"]}), library, actor="test")
        set_module_pages(db.session, study, [("Only page", "Text", None)])
        open_recruitment(db.session, study, library, actor="test")
        db.session.commit()


def invite(app: Flask, slug: str) -> str:
    """A new trainee link to the study ``slug``."""
    from study.services.studies import get_study

    with app.app_context():
        study = get_study(db.session, slug)
        token = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")[0].token
        db.session.commit()
        return token
