"""Not applicable, missing-data codes, checkboxes and descriptive text in every export (issue 13).

The demo's background questionnaire gains REDCap-style items: a yes/no question with an HTML
label, a descriptive text, and three items asked only when the answer is yes (a checkbox with a
missing-data code among its choices, a number of years, a free-text place), a rating with a
missing-data code (99), and a missing-data code among the options of ``prior_contact``. The
intergroup-anxiety scale gains a missing-data code on one item and branching logic on another.

Two trainees' submitted answers are written as the questionnaire stores them: ``yes`` answers
everything and gives missing-data codes; ``no`` is not asked the three conditional items, which
are stored as not applicable (status ``not_applicable``, value ``""``). Then the long and wide
CSV, the codebook, SPSS and Stata files, the API, the scores, the reliability and the baseline
covariates are checked.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from instruments import Library, parse_answers, parse_definition, score
from instruments.definition import to_definition
from study.extensions import db
from study.models import (
    Answer,
    AnswerStatus,
    Participant,
    Response,
    ResponseStatus,
    Timepoint,
    User,
)
from study.services import analysis_data, api_tokens, exports, report, statistical_exports
from tests.helpers import Demo

SHOWN_IF_YES = "[has_contact] = '1'"
NEW_BACKGROUND_ITEMS: list[dict[str, Any]] = [
    {"key": "has_contact", "text": "<b>Have you</b> worked with a peer&nbsp;specialist?",
     "kind": "yesno", "html": True},
    {"key": "contact_intro", "text": "The next questions are about that work.",
     "kind": "descriptive", "show_if": SHOWN_IF_YES},
    {"key": "contact_kinds", "text": "Where was it? <i>Tick all that apply</i>", "html": True,
     "kind": "checkbox", "show_if": SHOWN_IF_YES,
     "choices": [{"value": "1", "label": "In a clinic"}, {"value": "2", "label": "In teaching"},
                 {"value": "99", "label": "Inadequate information", "missing": True}]},
    {"key": "contact_years", "text": "For how many years?", "kind": "integer", "min": 0,
     "max": 60, "show_if": SHOWN_IF_YES},
    {"key": "contact_place", "text": "Which service?", "kind": "text", "required": False,
     "show_if": SHOWN_IF_YES},
    {"key": "confidence", "text": "How confident are you working with peers?", "kind": "scale",
     "choices": [{"value": 1, "label": "Not at all"}, {"value": 2, "label": "A little"},
                 {"value": 3, "label": "Very"},
                 {"value": 99, "label": "Inadequate information", "missing": True}]},
]
UNKNOWN = {"value": "unk", "label": "Inadequate information", "missing": True}
# "yes" gives missing-data codes; "no" is not asked the three items shown only after a yes.
YES = {"has_contact": "1", "contact_kinds": "1,99", "contact_years": "12",
       "contact_place": "A crisis team", "confidence": "99", "prior_contact": "unk"}
NO = {"has_contact": "0", "confidence": "2"}
NOT_ASKED_AFTER_NO = ("contact_kinds", "contact_years", "contact_place")


@dataclass(frozen=True)
class Branching:
    demo: Demo
    library: Library
    yes: str  # participant codes
    no: str
    yes_anxiety: int  # the response id of "yes"'s baseline intergroup-anxiety questionnaire


def _extended(library: Library) -> Library:
    background = to_definition(library.get("background"))
    for item in background["items"]:
        if item["key"] == "prior_contact":
            item["choices"].append(UNKNOWN)
    background["items"] += NEW_BACKGROUND_ITEMS
    anxiety = to_definition(library.get("intergroup-anxiety"))
    for item in anxiety["items"]:
        if item["key"] == "ia_apprehensive":
            item["choices"] = [{"value": v, "label": str(v)} for v in range(1, 11)] + [
                {"value": 99, "label": "Inadequate information", "missing": True}]
            item.pop("response", None)
        if item["key"] == "ia_uncertain":
            item["show_if"] = "[ia_worried] > '1'"
    changed = {"background": parse_definition(background),
               "intergroup-anxiety": parse_definition(anxiety)}
    return Library(changed.get(i.id, i) for i in library)


def _baseline(participant: Participant, instrument: str) -> Response:
    return db.session.execute(
        select(Response).join(Timepoint, Response.timepoint_id == Timepoint.id)
        .where(Response.participant_id == participant.id, Timepoint.name == "baseline",
               Response.instrument_id == instrument)).scalar_one()


def _store(response: Response, answers: dict[str, str], not_applicable: tuple[str, ...] = ()
           ) -> None:
    """Write answers as the questionnaire does, replacing any the simulation gave."""
    given = {a.item_key: a for a in db.session.scalars(response.answers.select())}
    wanted = {key: (value, AnswerStatus.ANSWERED) for key, value in answers.items()}
    wanted |= {key: ("", AnswerStatus.NOT_APPLICABLE) for key in not_applicable}
    for key, (value, status) in wanted.items():
        answer = given.get(key) or Answer(response_id=response.id, item_key=key)
        answer.value, answer.status = value, status
        db.session.add(answer)


@pytest.fixture
def branching(app: Flask, simulated_demo: Demo) -> Branching:
    with app.app_context():
        library = _extended(simulated_demo.library)
        app.extensions["allport.instruments"] = library
        allocated = db.session.scalars(
            select(Participant).join(Response, Response.participant_id == Participant.id)
            .join(Timepoint, Response.timepoint_id == Timepoint.id)
            .where(Timepoint.name == "baseline", Response.status == ResponseStatus.SUBMITTED,
                   Response.instrument_id == "intergroup-anxiety",
                   Participant.data_withdrawn.is_(False))
            .order_by(Participant.code)).all()
        yes, no = allocated[0], allocated[1]
        _store(_baseline(yes, "background"), YES)
        _store(_baseline(no, "background"), NO, NOT_ASKED_AFTER_NO)
        anxiety = _baseline(yes, "intergroup-anxiety")
        _store(anxiety, {"ia_apprehensive": "99"}, ("ia_uncertain",))
        db.session.commit()
        return Branching(simulated_demo, library, yes.code, no.code, anxiety.id)


def export(branching: Branching, name: str) -> statistical_exports.ExportFile:
    exported = statistical_exports.export_file(db.session, branching.demo.study(),
                                               branching.library, name, actor="test")
    db.session.commit()
    return exported


def read_csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def read_stat(exported: statistical_exports.ExportFile, tmp_path: Path, **options: Any
              ) -> tuple[pd.DataFrame, Any]:
    path = tmp_path / exported.filename
    path.write_bytes(exported.body)
    reader = pyreadstat.read_sav if path.suffix == ".sav" else pyreadstat.read_dta
    return reader(str(path), **options)


pytestmark = pytest.mark.usefixtures("app_context")


def test_the_long_export_gives_each_answer_its_status(branching: Branching) -> None:
    body = export(branching, "responses.csv").body
    assert body.decode().splitlines()[0] == (
        "participant,arm,time,instrument,version,item,value,status")
    rows = read_csv(body)
    background = {(r["participant"], r["item"]): (r["value"], r["status"]) for r in rows
                  if r["instrument"] == "background"}
    yes, no = branching.yes, branching.no
    assert background[yes, "has_contact"] == ("1", "answered")
    assert background[yes, "contact_kinds___1"] == ("1", "answered")
    assert background[yes, "contact_kinds___2"] == ("0", "answered")
    assert background[yes, "contact_kinds___99"] == ("1", "missing_code")
    assert background[yes, "contact_years"] == ("12", "answered")
    assert background[yes, "confidence"] == ("99", "missing_code")
    assert background[yes, "prior_contact"] == ("unk", "missing_code")
    for item in ("contact_kinds___1", "contact_kinds___2", "contact_kinds___99",
                 "contact_years", "contact_place"):
        assert background[no, item] == ("", "not_applicable"), item
    assert background[no, "confidence"] == ("2", "answered")
    # One row per choice, never the stored "1,99"; descriptive text never leaves.
    items = {r["item"] for r in rows}
    assert "contact_kinds" not in items and "contact_intro" not in items
    assert {r["status"] for r in rows} == set(exports.STATUSES)
    anxiety = {r["item"]: (r["value"], r["status"]) for r in rows
               if r["participant"] == yes and r["instrument"] == "intergroup-anxiety"
               and r["time"] == "pre"}
    assert anxiety["ia_apprehensive"] == ("99", "missing_code")
    assert anxiety["ia_uncertain"] == ("", "not_applicable")


def test_the_wide_csv_leaves_not_applicable_empty_and_spreads_a_checkbox(
        branching: Branching) -> None:
    rows = {r["participant"]: r for r in read_csv(export(branching, "wide.csv").body)}
    yes, no = rows[branching.yes], rows[branching.no]
    columns = [f"background.contact_kinds___{code}_pre" for code in ("1", "2", "99")]
    assert [yes[c] for c in columns] == ["1", "0", "1"]
    assert [no[c] for c in columns] == ["", "", ""]
    assert (yes["background.contact_years_pre"], no["background.contact_years_pre"]) == ("12", "")
    assert no["background.contact_place_pre"] == ""
    assert (yes["background.confidence_pre"], yes["background.prior_contact_pre"]) == ("99",
                                                                                       "unk")
    assert not any("contact_intro" in c or c.endswith("contact_kinds_pre") for c in yes)


def test_the_codebook_says_why_a_cell_is_empty_or_coded(branching: Branching) -> None:
    book = {r["variable"]: r for r in read_csv(export(branching, "codebook.csv").body)}
    assert list(book) == list(read_csv(export(branching, "wide.csv").body)[0])
    years = book["background.contact_years_pre"]
    assert years["missing"] == "empty when not applicable: shown only if [has_contact] = '1'"
    assert "-98 in SPSS, .n in Stata = not applicable" in years["spss_stata_values"]
    assert book["background.has_contact_pre"]["label"] == (
        "Have you worked with a peer specialist?")
    assert book["background.confidence_pre"]["missing"] == (
        "99 = Inadequate information (missing-data code)")
    assert "99 is a missing-data code, never scored" in book["background.confidence_pre"][
        "scoring"]
    prior = book["background.prior_contact_pre"]
    assert prior["missing"] == "unk = Inadequate information (missing-data code)"
    assert "7 = Inadequate information (missing-data code: user-missing in SPSS)" in prior[
        "spss_stata_values"]
    ticked = book["background.contact_kinds___99_pre"]
    assert ticked["label"] == "Where was it? Tick all that apply: Inadequate information"
    assert ticked["values"] == "1 = Checked; 0 = Unchecked" and ticked["range"] == "0-1"
    assert ticked["missing"] == ("empty when not applicable: shown only if [has_contact] = '1'; "
                                 "1 = a missing-data code (checked), never scored")
    assert book["intergroup-anxiety.ia_uncertain_pre"]["missing"] == (
        "empty when not applicable: shown only if [ia_worried] > '1'")


def test_spss_declares_not_applicable_and_missing_codes_user_missing(
        branching: Branching, tmp_path: Path) -> None:
    exported = export(branching, "wide.sav")
    data, meta = read_stat(exported, tmp_path, user_missing=True)
    rows = data.set_index("participant")
    yes, no = rows.loc[branching.yes], rows.loc[branching.no]
    assert no["contact_years_pre"] == -98 and yes["contact_years_pre"] == 12
    assert [no[f"contact_kinds___{c}_pre"] for c in ("1", "2", "99")] == [-98, -98, -98]
    assert [yes[f"contact_kinds___{c}_pre"] for c in ("1", "2", "99")] == [1, 0, 1]
    assert no["contact_place_pre"] == ""  # text: empty
    assert yes["confidence_pre"] == 99 and yes["prior_contact_pre"] == 7
    assert meta.missing_ranges["contact_years_pre"] == [{"lo": -98.0, "hi": -98.0}]
    assert meta.missing_ranges["confidence_pre"] == [{"lo": 99.0, "hi": 99.0}]
    assert meta.missing_ranges["prior_contact_pre"] == [{"lo": 7.0, "hi": 7.0}]
    labels = meta.variable_value_labels
    assert labels["contact_years_pre"] == {-98.0: "not applicable"}
    assert labels["contact_kinds___1_pre"] == {0: "Unchecked", 1: "Checked",
                                               -98: "not applicable"}
    assert labels["confidence_pre"][99] == "Inadequate information"
    assert meta.column_names_to_labels["has_contact_pre"] == (
        "background.has_contact_pre: Have you worked with a peer specialist?")
    assert not any("contact_intro" in name for name in data.columns)
    # Read as most analyses read it, user-missing values are missing.
    plain, _ = read_stat(exported, tmp_path)
    plain = plain.set_index("participant")
    for column in ("contact_years_pre", "contact_kinds___1_pre"):
        assert pd.isna(plain.loc[branching.no, column])
    assert pd.isna(plain.loc[branching.yes, "confidence_pre"])
    assert plain.loc[branching.yes, "contact_years_pre"] == 12


def test_stata_gives_not_applicable_the_extended_missing_value_n(
        branching: Branching, tmp_path: Path) -> None:
    exported = export(branching, "wide.dta")
    data, meta = read_stat(exported, tmp_path, user_missing=True)
    rows = data.set_index("participant")
    no, yes = rows.loc[branching.no], rows.loc[branching.yes]
    assert no["contact_years_pre"] == "n" and float(yes["contact_years_pre"]) == 12
    assert [no[f"contact_kinds___{c}_pre"] for c in ("1", "2", "99")] == ["n", "n", "n"]
    assert meta.missing_user_values["contact_years_pre"] == ["n"]
    assert meta.variable_value_labels["contact_years_pre"] == {"n": "not applicable"}
    assert meta.readstat_variable_types["contact_years_pre"] == "double"
    assert float(yes["confidence_pre"]) == 99  # a code kept as given, labelled
    assert meta.variable_value_labels["confidence_pre"][99] == "Inadequate information"
    plain, _ = read_stat(exported, tmp_path)
    assert pd.isna(plain.set_index("participant").loc[branching.no, "contact_years_pre"])


def test_the_long_spss_file_marks_not_applicable_on_the_time_row(
        branching: Branching, tmp_path: Path) -> None:
    data, _ = read_stat(export(branching, "long.sav"), tmp_path, user_missing=True)
    pre = data[(data["participant"] == branching.no) & (data["time"] == 1)].iloc[0]
    assert pre["contact_years"] == -98 and pre["contact_kinds___2"] == -98


def test_scores_ignore_not_applicable_items_and_missing_codes(branching: Branching) -> None:
    study, library = branching.demo.study(), branching.library
    instrument = library.get("intergroup-anxiety")
    stored = {a.item_key: a.value for a in db.session.scalars(
        select(Answer).where(Answer.response_id == branching.yes_anxiety))}
    assert stored["ia_apprehensive"] == "99" and stored["ia_uncertain"] == ""
    # As if the two items were not answered: the mean of the ten others (>= 80% answered).
    others = {key: value for key, value in stored.items()
              if key not in ("ia_apprehensive", "ia_uncertain")}
    expected = score(instrument, parse_answers(instrument, others))["total"]
    assert expected.n_answered == 10 and expected.value is not None
    _, rows = exports.rows_for(db.session, study, "scores", library)
    exported = next(r["score"] for r in rows if r["participant"] == branching.yes
                    and r["instrument"] == "intergroup-anxiety" and r["time"] == "pre")
    assert exported == pytest.approx(expected.value)
    submitted = analysis_data.load_answers(db.session, study)
    frame = analysis_data.long_scores(submitted, library)
    analysed = frame[(frame["participant"] == branching.yes) & (frame["time"] == "pre")
                     & (frame["instrument"] == "intergroup-anxiety")]["score"].iloc[0]
    assert analysed == pytest.approx(expected.value)


def test_reliability_uses_complete_cases_only(branching: Branching) -> None:
    study, library = branching.demo.study(), branching.library
    submitted = analysis_data.load_answers(db.session, study)
    arm = submitted.responses.set_index("response").loc[branching.yes_anxiety, "arm"]
    table = {(r["instrument"], r["time"], r["arm"]): r
             for r in report._reliability(study, library, submitted)}
    row = table["intergroup-anxiety", "pre", arm]
    responses = submitted.responses
    group = responses[(responses["instrument"] == "intergroup-anxiety")
                      & (responses["time"] == "pre") & (responses["arm"] == arm)]
    wide = analysis_data.answer_table(library.get("intergroup-anxiety"), group,
                                      submitted.answers[submitted.answers["response"].isin(
                                          group["response"])])
    complete = wide.notna().all(axis=1) & ~(wide == 99).any(axis=1)
    assert row["n"] == int(complete.sum()) == len(group) - 1


def test_baseline_covariates_and_background_leave_codes_and_not_applicable_out(
        branching: Branching) -> None:
    study, library = branching.demo.study(), branching.library
    frame = analysis_data.study_frame(
        db.session, study, library,
        ["background.confidence", "background.prior_contact", "background.contact_years"])
    by_code = frame.drop_duplicates("participant").set_index("participant")
    yes, no = by_code.loc[branching.yes], by_code.loc[branching.no]
    assert pd.isna(yes["background.confidence"]) and no["background.confidence"] == 2
    assert pd.isna(yes["background.prior_contact"])
    assert yes["background.contact_years"] == 12 and pd.isna(no["background.contact_years"])
    items = analysis_data.baseline_items(study, library)
    assert "unk" not in items["background.prior_contact"]["levels"]
    background = analysis_data.background_frame(db.session, study, library, items)
    rows = background.set_index("participant")
    assert pd.isna(rows.loc[branching.yes, "background.prior_contact"])
    assert rows.loc[branching.no, "background.has_contact"] == "0"
    assert pd.isna(rows.loc[branching.no, "background.contact_years"])
    assert items["background.has_contact"]["levels"] == {"1": "Yes", "0": "No"}
    assert not (background == "").any().any()


def test_the_api_gives_the_status_column(branching: Branching, client: FlaskClient) -> None:
    user = db.session.scalars(select(User).where(User.email == "researcher@allport.example")).one()
    _, raw = api_tokens.issue_token(db.session, user, "test", actor="test")
    db.session.commit()
    response = client.get("/api/v1/studies/demo/exports/responses.csv",
                          headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    rows = read_csv(response.data)
    assert {(r["item"], r["value"], r["status"]) for r in rows
            if r["participant"] == branching.no and r["instrument"] == "background"} >= {
        ("contact_years", "", "not_applicable"), ("contact_kinds___1", "", "not_applicable")}


def test_not_applicable_takes_another_spss_code_where_minus_98_is_an_answer(
        tmp_path: Path) -> None:
    def item(source: str, **fields: Any) -> statistical_exports.Variable:
        return statistical_exports.Variable(
            name=f"survey.{source}", stat_name=source, label=source, role="item",
            instrument="survey", source=source, show_if="[asked] = '1'", **fields)

    variables = [
        item("given"),  # open below: only what was given counts, and -98 was given
        item("bounded", bounds=(-1000, 100)),  # -98 and -998 are within its bounds
        item("coded", value_labels={-98: "Refused", 1: "Yes"}),  # -98 is an option
        item("plain", bounds=(0, 10)),
    ]
    frame = pd.DataFrame({"survey.given": ["-98", "", "3"], "survey.bounded": ["5", "", ""],
                          "survey.coded": ["-98", "1", ""], "survey.plain": ["4", "", "7"]},
                         dtype=object)
    not_applicable = frame == ""
    dataset = statistical_exports.Dataset("wide", frame, variables, not_applicable)
    statistical_exports._choose_spss_not_applicable(dataset)
    assert [v.spss_not_applicable for v in variables] == [-998, -9998, -998, -98]

    study: Any = type("StudyStub", (), {"slug": "s"})()  # the file label reads its slug
    path = tmp_path / "data.sav"
    path.write_bytes(statistical_exports.spss(dataset, study))
    data, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert list(data["given"]) == [-98, -998, 3]  # the answer -98 stays an answer
    assert meta.missing_ranges["given"] == [{"lo": -998.0, "hi": -998.0}]
    assert meta.variable_value_labels["coded"] == {-98: "Refused", 1: "Yes",
                                                   -998: "not applicable"}
    assert meta.missing_ranges["plain"] == [{"lo": -98.0, "hi": -98.0}]
    codebook = statistical_exports._stat_values(variables[1])
    assert codebook == ["-9998 in SPSS, .n in Stata = not applicable (user-missing)"]
