"""The study file: a whole draft study from YAML, every problem by its path, and back again."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from study.extensions import db
from study.models import AnalysisPlan, AuditEvent, Role, Study, StudyStatus, User
from study.services import study_file
from study.services.studies import get_study
from tests.helpers import Demo

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "study-file.example.yaml"


def example() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return document


def write(tmp_path: Path, document: Any, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str)
                    else yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count(Study.id))) or 0,
                db.session.scalar(select(func.count(AuditEvent.id))) or 0,
                db.session.scalar(select(func.count(AnalysisPlan.id))) or 0)


def test_the_documented_example_makes_the_study_it_describes(
        app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        db.session.add(User(email="lead@uni.example", password_hash=""))
        db.session.commit()
    result = runner.invoke(args=["study", "create", str(EXAMPLE), "--as", "lead@uni.example"])
    assert result.exit_code == 0, result.output
    assert "Created the draft study 'contact-2027'" in result.output
    assert "lead@uni.example is its coordinator" in result.output
    with app.app_context():
        study = get_study(db.session, "contact-2027")
        assert study.status is StudyStatus.DRAFT and study.title == "Meeting as equals 2027"
        assert (study.protocol_number, study.ethics_approval_number) == ("ALP-2027-01",
                                                                         "REC 27/0114")
        assert [(a.key, a.kind.value, a.is_control, a.ratio) for a in study.arms] == [
            ("education", "education", True, 1), ("contact", "contact", False, 1)]
        assert study.arms[1].description.startswith("You will join one small-group session")
        cohorts = {c.name: (c.site, c.starts_on, c.ends_on) for c in study.cohorts}
        assert cohorts == {"Autumn 2027": ("School of Medicine", date(2027, 9, 13),
                                           date(2027, 12, 17)),
                           "Spring 2028": ("School of Nursing", None, None)}
        assert {tp.name: [(p.instrument_id, p.instrument_version) for p in tp.instruments]
                for tp in study.timepoints} == {
            "baseline": [("background", "1.0"), ("intergroup-anxiety", "1.0"),
                         ("allport-stigma", "1.0")],
            "post": [("intergroup-anxiety", "1.0"), ("allport-stigma", "1.0")],
            "followup": [("allport-stigma", "1.0")]}
        assert (study.block_sizes, study.strata_factors, study.planned_sample_size) == (
            "2,4,6", "background.profession", 240)
        assert (study.intervention_period_days, study.post_window_days,
                study.followup_offset_days, study.followup_window_days,
                study.reminder_interval_days) == (14, 60, 90, 30, 3)
        consent = study.current_consent
        assert consent is not None and consent.version == 1
        assert consent.text.startswith("You are invited") and consent.data_kept_on_withdrawal
        assert [(p.title, p.video_url) for p in study.module_pages] == [
            ("Why this module", None),
            ("Recovery is the rule, not the exception",
             "https://video.example.org/recovery-stories")]
        plan = db.session.scalars(select(AnalysisPlan).where(
            AnalysisPlan.study_id == study.id)).one()
        assert plan.frozen_at is None and plan.plan == example()["analysis_plan"]
        user = db.session.scalars(select(User).where(User.email == "lead@uni.example")).one()
        assert Role.COORDINATOR in user.roles_in(study)
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.study_id == study.id)).all()
        assert {"study_created", "analysis_plan_draft_set", "staff_account"} <= set(actions)


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


BAD_FILES = [
    # (path in the document, new value, the line expected in the output)
    (("arms", 1, "ratio"), 0, "arms[1].ratio: must be a whole number from 1, not 0"),
    (("arms", 0, "kind"), "lecture", "arms[0].kind: must be education or contact, not 'lecture'"),
    (("arms", 1, "control"), True, "arms: exactly one arm must have control: true"),
    (("titel",), "typo", "titel: unknown key (allowed here: slug, title,"),
    (("arms", 0, "colour"), "red", "arms[0].colour: unknown key (allowed here: key, name,"),
    (("slug",), "Not A Slug", "slug: must be 2 to 64 lowercase letters"),
    (("title",), None, "title: is required"),
    (("instruments", "baseline", 1), "nope",
     "instruments.baseline[1]: no instrument 'nope' in the library"),
    (("instruments", "post", 0), {"id": "intergroup-anxiety", "version": "9.9"},
     "instruments.post[0]: instrument 'intergroup-anxiety' has no version '9.9'"),
    (("instruments", "post", 1), "session-fidelity",
     "instruments.post[1]: session-fidelity is completed by a rater, not by trainees"),
    (("instruments", "pre"), ["background"], "instruments.pre: unknown key"),
    (("cohorts", 0, "starts_on"), "13/09/2027",
     "cohorts[0].starts_on: must be a date written YYYY-MM-DD, not '13/09/2027'"),
    (("cohorts", 0, "ends_on"), date(2027, 1, 1),
     "cohorts[0].ends_on: 2027-01-01 is before starts_on 2027-09-13"),
    (("block_sizes",), [3], "block_sizes: block size 3 is not a positive multiple"),
    (("strata_factors", 0), "background.training_year",
     "strata_factors[0]: only a choice item can stratify allocation"),
    (("schedule", "post_window_days"), -1,
     "schedule.post_window_days: must be a whole number from 1, not -1"),
    (("consent", "data_kept_on_withdrawal"), "yes please",
     "consent.data_kept_on_withdrawal: must be true or false"),
    (("module_pages", 1, "video"), "javascript:alert(1)",
     "module_pages[1].video: must be a web address starting with http:// or https://"),
    (("analysis_plan", "primary_outcome"), "allport-stigma.nonsense",
     "analysis_plan: primary_outcome 'allport-stigma.nonsense' is not an outcome"),
    (("analysis_plan", "holm_family"), ["allport-stigma.total"],
     "analysis_plan: holm_family holds the primary outcome"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD_FILES,
                         ids=[".".join(map(str, case[0])) for case in BAD_FILES])
def test_a_bad_file_names_the_problem_by_its_path_and_creates_nothing(
        app: Flask, runner: FlaskCliRunner, tmp_path: Path, path: tuple[Any, ...], value: Any,
        expected: str) -> None:
    document = example()
    _set(document, path, value)
    file = write(tmp_path, document)
    before = counts(app)
    result = runner.invoke(args=["study", "create", str(file)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any(line.startswith(f"{file}: {expected}") for line in lines), result.output
    assert "Traceback" not in result.output
    assert counts(app) == before


def test_every_problem_of_a_file_is_listed_one_per_line(
        app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    document = example()
    document["arms"][1]["ratio"] = "two"
    document["cohorts"][1]["starts_on"] = "soon"
    document["schedule"]["reminder_interval_days"] = 0
    document["module_pages"][0].pop("body")
    result = runner.invoke(args=["study", "create", str(write(tmp_path, document))])
    assert result.exit_code == 1
    problems = [line.split(": ", 1)[1] for line in result.output.strip().splitlines()]
    assert problems == [
        "arms[1].ratio: must be a whole number from 1, not 'two'",
        "cohorts[1].starts_on: must be a date written YYYY-MM-DD, not 'soon'",
        "schedule.reminder_interval_days: must be a whole number from 1, not 0",
        "module_pages[0].body: is required",
    ]
    assert counts(app) == (0, 0, 0)


@pytest.mark.parametrize(("text", "expected"), [
    ("slug: [unclosed", "line 1: not valid YAML"),
    ("", "the file: is empty"),
    ("- just\n- a list\n", "the file: must be a mapping of slug, title,"),
    ("slug: x1\n", "title: is required\n"),
])
def test_a_file_that_is_not_a_study_says_so(app: Flask, runner: FlaskCliRunner, tmp_path: Path,
                                            text: str, expected: str) -> None:
    result = runner.invoke(args=["study", "create", str(write(tmp_path, text))])
    assert result.exit_code == 1
    assert expected in result.output
    assert counts(app) == (0, 0, 0)


def test_a_missing_file_or_account_is_one_line(app: Flask, runner: FlaskCliRunner,
                                               tmp_path: Path) -> None:
    result = runner.invoke(args=["study", "create", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1 and "Cannot read" in result.output
    result = runner.invoke(args=["study", "create", str(EXAMPLE), "--as", "nobody@x.example"])
    assert result.exit_code == 1 and "No staff account 'nobody@x.example'" in result.output
    assert counts(app) == (0, 0, 0)


def test_a_slug_taken_already_is_refused(demo: Demo, runner: FlaskCliRunner,
                                         tmp_path: Path) -> None:
    document = example()
    document["slug"] = "demo"
    before = counts(demo.app)
    result = runner.invoke(args=["study", "create", str(write(tmp_path, document))])
    assert result.exit_code == 1
    assert "slug: a study with the slug 'demo' exists already" in result.output
    assert counts(demo.app) == before


def _round_trip(runner: FlaskCliRunner, tmp_path: Path, slug: str, new_slug: str) -> None:
    first = tmp_path / "first.yaml"
    result = runner.invoke(args=["study", "export", slug, "--out", str(first)])
    assert result.exit_code == 0, result.output
    text = first.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    assert document["slug"] == slug
    renamed = write(tmp_path, text.replace(f"slug: {slug}\n", f"slug: {new_slug}\n"),
                    "renamed.yaml")
    result = runner.invoke(args=["study", "create", str(renamed)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["study", "export", new_slug])
    assert result.exit_code == 0, result.output
    assert result.output.replace(new_slug, slug) == text
    assert result.output != text


def test_export_then_create_gives_the_same_file_apart_from_the_slug(
        app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    assert runner.invoke(args=["study", "create", str(EXAMPLE)]).exit_code == 0
    _round_trip(runner, tmp_path, "contact-2027", "contact-2028")
    exported = yaml.safe_load((tmp_path / "first.yaml").read_text(encoding="utf-8"))
    document = example()
    # The short forms of the example come back written out in full.
    assert exported["instruments"]["baseline"][2] == {"id": "allport-stigma", "version": "1.0"}
    assert exported["analysis_plan"] == document["analysis_plan"]
    assert exported["cohorts"] == document["cohorts"]


def test_the_demo_study_round_trips(demo: Demo, runner: FlaskCliRunner, tmp_path: Path) -> None:
    _round_trip(runner, tmp_path, "demo", "demo-again")
    with demo.app.app_context():
        again = get_study(db.session, "demo-again")
        assert again.status is StudyStatus.DRAFT and again.allocation_seed is None
        assert len(again.module_pages) == len(demo.study().module_pages) == 5


def test_export_of_an_unknown_study_is_one_line(app: Flask, runner: FlaskCliRunner,
                                                tmp_path: Path) -> None:
    result = runner.invoke(args=["study", "export", "nosuch"])
    assert result.exit_code == 1 and "No study with the slug 'nosuch'" in result.output
    result = runner.invoke(args=["study", "export", "nosuch", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and not (tmp_path / "x").exists()


def test_a_study_without_a_plan_exports_none_and_gets_none(
        app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    document = copy.deepcopy(example())
    del document["analysis_plan"]
    assert runner.invoke(args=["study", "create", str(write(tmp_path, document))]
                         ).exit_code == 0
    with app.app_context():
        study = get_study(db.session, "contact-2027")
        assert "analysis_plan" not in study_file.document(db.session, study)
    assert counts(app)[2] == 0


def test_an_empty_follow_up_list_means_no_follow_up(app: Flask) -> None:
    document = example()
    document["instruments"]["followup"] = []
    document["analysis_plan"]["primary_time"] = "followup"
    library = app.extensions["allport.instruments"]
    spec = study_file.parse(yaml.safe_dump(document), library)
    assert list(spec.instruments) == ["baseline", "post"]
    with app.app_context(), pytest.raises(study_file.StudyFileError) as refused:
        study_file.create(db.session, yaml.safe_dump(document), library, actor="test")
    assert refused.value.problems == [
        "analysis_plan: primary_time is 'followup' but the study has no follow-up time point"]
