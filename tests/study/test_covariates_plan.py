"""The plan's covariates (DESIGN §6): validated against the study, read from the baseline answers,
and adjusted for in every ANCOVA of a study's analysis; ``analyze CSV --covariate NAME``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

import analysis
from instruments import Library
from study.extensions import db
from study.models import Study
from study.services import sap
from study.services.analysis_data import study_frame
from study.services.analysis_service import run_analysis
from study.services.exports import rows_for
from study.services.studies import StudySpec, create_study
from tests.helpers import Demo

DATA = Path(__file__).parents[1] / "analysis" / "data"
OUTCOMES = ["intergroup-anxiety.total", "allport-stigma.total", "allport-stigma.beliefs",
            "allport-stigma.social_distance", "allport-stigma.professional"]
COVARIATES = ["background.profession", "background.training_year"]


def a_study(app: Flask) -> tuple[Study, Library]:
    library: Library = app.extensions["allport.instruments"]
    study = create_study(db.session, StudySpec(
        slug="adjusted", title="Adjusted study", consent_text="Consent.",
        instruments={"baseline": ["background", "intergroup-anxiety", "allport-stigma"],
                     "post": ["intergroup-anxiety", "allport-stigma", "session-fidelity"]}),
        library, actor="test")
    return study, library


def with_covariates(study: Study, library: Library, covariates: list[str]) -> dict[str, Any]:
    plan = sap.default_plan(study, library, seed=1)
    return {**plan, "covariates": covariates}


@pytest.mark.usefixtures("app_context")
def test_covariates_name_the_cohort_or_a_baseline_item(app: Flask) -> None:
    study, library = a_study(app)
    valid = ["cohort", "background.profession", "background.training_year"]
    problems = sap.plan_problems(with_covariates(study, library, valid), study, library)
    assert problems == []
    cases = {
        "profession": "covariate 'profession' must be 'cohort' or a baseline questionnaire item "
                      "written as questionnaire.item, e.g. background.profession",
        "session-fidelity.notes": "covariate 'session-fidelity.notes': 'session-fidelity' is "
                                  "not a baseline questionnaire of this study",
        "background.age": "covariate 'background.age': the baseline questionnaire background "
                          "has no item 'age'",
    }
    for name, message in cases.items():
        problems = sap.plan_problems(with_covariates(study, library, [name]), study, library)
        assert problems == [message]
    with pytest.raises(sap.PlanError, match="must be 'cohort' or a baseline"):
        sap.set_plan(db.session, study, library,
                     with_covariates(study, library, ["cohort", "Profession"]), reason="",
                     actor="t")


@pytest.mark.usefixtures("app_context")
def test_a_free_text_item_cannot_be_a_covariate(app: Flask) -> None:
    library: Library = app.extensions["allport.instruments"]
    fidelity = library.get("session-fidelity", "1.0")
    text_item = next(item for item in fidelity.items if item.kind == "text")
    study = create_study(db.session, StudySpec(
        slug="texty", title="Text at baseline", consent_text="Consent.",
        instruments={"baseline": ["session-fidelity", "allport-stigma"],
                     "post": ["allport-stigma"]}), library, actor="test")
    name = f"session-fidelity.{text_item.key}"
    problems = sap.plan_problems(with_covariates(study, library, [name]), study, library)
    assert problems == [f"covariate {name!r}: {text_item.key} is a free-text item, which cannot "
                        "enter a model"]


@pytest.mark.usefixtures("app_context")
def test_the_frame_has_one_column_per_covariate_from_the_baseline_answers(
        simulated_demo: Demo) -> None:
    study, library = simulated_demo.study(), simulated_demo.library
    frame = study_frame(db.session, study, library, ["cohort", *COVARIATES])
    _, responses = rows_for(db.session, study, "responses", library)
    answers = {(r["participant"], r["item"]): r["value"] for r in responses
               if r["time"] == "pre" and r["instrument"] == "background"}
    assert len(frame) > 0
    for row in frame.itertuples(index=False):
        record = row._asdict()
        code = record["participant"]
        assert record["cohort"] == "Autumn 2026"
        profession = frame.loc[frame["participant"] == code, "background.profession"].iloc[0]
        year = frame.loc[frame["participant"] == code, "background.training_year"].iloc[0]
        expected = answers.get((code, "profession"))
        assert profession == expected if expected is not None else pd.isna(profession)
        expected_year = answers.get((code, "training_year"))
        assert year == int(expected_year) if expected_year is not None else pd.isna(year)
    assert not pd.api.types.is_numeric_dtype(frame["background.profession"])  # a factor
    assert pd.api.types.is_numeric_dtype(frame["background.training_year"])  # a number


@pytest.mark.usefixtures("app_context")
def test_the_study_analysis_adjusts_every_ancova_for_the_plan_covariates(
        simulated_demo: Demo) -> None:
    study, library = simulated_demo.study(), simulated_demo.library
    unadjusted = run_analysis(db.session, study, library).result
    for entry in unadjusted["outcomes"].values():
        assert entry["ancova"]["covariates"] == []
    plan = sap.current_plan(db.session, study)
    assert plan is not None
    sap.set_plan(db.session, study, library, {**plan.plan, "covariates": COVARIATES},
                 reason="adjust for the stratification factors", actor="t")
    done = run_analysis(db.session, study, library)
    frame = done.frame
    assert set(COVARIATES) <= set(frame.columns)
    # A background item that is also a covariate is one column, on every row.
    assert frame.columns.tolist().count(COVARIATES[0]) == 1
    # The same numbers as the engine on the same frame: the plan's covariates reached it.
    expected = analysis.analyze(frame, outcomes=OUTCOMES, control_arm=done.reference_arm,
                                primary=unadjusted["primary_outcome"], covariates=COVARIATES,
                                holm_family=plan.plan["holm_family"])
    assert all("error" not in entry["ancova"] for entry in done.result["outcomes"].values())
    for name, entry in done.result["outcomes"].items():
        ancova = entry["ancova"]
        assert ancova == expected["outcomes"][name]["ancova"]
        if "error" not in ancova:
            assert ancova["covariates"] == COVARIATES
            assert ancova["arm"]["F"] != unadjusted["outcomes"][name]["ancova"]["arm"]["F"]


@pytest.mark.usefixtures("app_context")
def test_a_single_cohort_as_covariate_is_a_figure_error_not_a_crash(simulated_demo: Demo) -> None:
    study, library = simulated_demo.study(), simulated_demo.library
    plan = sap.current_plan(db.session, study)
    assert plan is not None
    sap.set_plan(db.session, study, library, {**plan.plan, "covariates": ["cohort"]},
                 reason="adjust for the cohort", actor="t")
    result = run_analysis(db.session, study, library).result
    for entry in result["outcomes"].values():
        if "error" not in entry:
            assert entry["ancova"]["error"].startswith(
                "the covariate 'cohort' has a single value among the")
            assert "error" not in entry["change_welch"]


def test_analyze_csv_with_covariates(runner: FlaskCliRunner, tmp_path: Path) -> None:
    out = tmp_path / "adjusted.json"
    done = runner.invoke(args=["analyze", str(DATA / "covariates_balanced.csv"), "--covariate",
                               "profession", "--covariate", "year", "--json", str(out)])
    assert done.exit_code == 0, done.output
    result = json.loads(out.read_text())
    reference = json.loads((DATA / "covariates_reference.json").read_text())["balanced"][1]
    assert reference["covariates"] == ["profession", "year"]
    for name, entry in result["outcomes"].items():
        assert entry["ancova"]["covariates"] == ["profession", "year"]
        expected = reference["outcomes"][name]["ancova"]["adjusted_difference"]["estimate"]
        assert entry["ancova"]["adjusted_difference"]["estimate"] == pytest.approx(expected,
                                                                                 rel=1e-6)
    assert result["sap"] is None

    unknown = runner.invoke(args=["analyze", str(DATA / "covariates_balanced.csv"),
                                  "--covariate", "sex", "--json", str(out)])
    assert unknown.exit_code == 1
    assert "covariate column not in the data: 'sex'" in unknown.output
    assert "Traceback" not in unknown.output


def test_a_study_takes_its_covariates_from_the_plan_not_the_command_line(
        runner: FlaskCliRunner, tmp_path: Path) -> None:
    refused = runner.invoke(args=["analyze", "--study", "demo", "--covariate", "cohort",
                                  "--json", str(tmp_path / "x.json")])
    assert refused.exit_code == 1
    assert "a study's covariates are its analysis plan's" in refused.output


@pytest.mark.usefixtures("app_context")
def test_a_draft_plan_with_a_bad_covariate_stops_opening(app: Flask) -> None:
    study, library = a_study(app)
    study.strata_factors = "background.profesion"
    # the default plan's covariates are the strata factors: their problem is named once, as such
    assert sap.draft_problems(db.session, study, library) == []
    study.strata_factors = ""
    draft = {**sap.default_plan(study, library, seed=1), "covariates": ["background.profesion"]}
    db.session.add(study)
    sap.set_plan(db.session, study, library, {**draft, "covariates": []}, reason="", actor="t")
    plan = sap.current_plan(db.session, study)
    assert plan is not None
    plan.plan = draft  # as if written before covariates were checked
    assert sap.draft_problems(db.session, study, library) == [
        "Analysis plan: covariate 'background.profesion': the baseline questionnaire background "
        "has no item 'profesion'."]
