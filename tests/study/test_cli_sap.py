"""``flask --app app sap show|set`` and the ``sap`` block of ``analyze`` (DESIGN §6, §7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from study.extensions import db
from study.models import AuditEvent
from study.services import sap
from study.services.studies import get_study
from tests.helpers import Demo

DATA = Path(__file__).parents[1] / "analysis" / "data"


def run(runner: FlaskCliRunner, *args: str) -> Any:
    return runner.invoke(args=list(args))


def current_plan(runner: FlaskCliRunner) -> dict[str, Any]:
    shown = run(runner, "sap", "show", "demo")
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output)


def test_show_prints_the_plan_with_version_hash_time_and_history(
        demo: Demo, runner: FlaskCliRunner) -> None:
    shown = current_plan(runner)
    with demo.app.app_context():
        plan = sap.current_plan(db.session, demo.study())
        assert plan is not None and plan.frozen_at is not None
        assert shown["current"] == {"version": 1, "sha256": plan.sha256,
                                    "frozen_at": plan.frozen_at.isoformat(), "plan": plan.plan}
    assert shown["current"]["sha256"] == sap.plan_sha256(shown["current"]["plan"])
    assert [v["version"] for v in shown["versions"]] == [1]
    assert shown["versions"][0]["reason"]


def test_set_after_opening_needs_a_reason_and_adds_an_audited_version(
        demo: Demo, runner: FlaskCliRunner, tmp_path: Path) -> None:
    plan = current_plan(runner)["current"]["plan"]
    plan["alpha"] = 0.01
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")

    refused = run(runner, "sap", "set", "demo", str(path))
    assert refused.exit_code == 1
    assert "needs a reason" in refused.output and "Traceback" not in refused.output

    done = run(runner, "sap", "set", "demo", str(path), "--reason", "A stricter alpha.")
    assert done.exit_code == 0, done.output
    assert "version 2 (frozen" in done.output and sap.plan_sha256(plan) in done.output
    shown = current_plan(runner)
    assert shown["current"]["version"] == 2 and shown["current"]["plan"]["alpha"] == 0.01
    assert [(v["version"], v["reason"]) for v in shown["versions"]][1] == (2, "A stricter alpha.")
    with demo.app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "analysis_plan_version_added")).one()
        assert event.details == {"version": 2, "sha256": sap.plan_sha256(plan)}


def test_set_before_opening_sets_the_draft_from_yaml(app: Flask, runner: FlaskCliRunner,
                                                    tmp_path: Path) -> None:
    from study.services.studies import StudySpec, create_study

    with app.app_context():
        library = app.extensions["allport.instruments"]
        create_study(db.session, StudySpec(
            slug="draft", title="Draft", consent_text="x",
            instruments={"baseline": ["intergroup-anxiety"], "post": ["intergroup-anxiety"]}),
            library, actor="test")
        db.session.commit()
    path = tmp_path / "plan.yaml"
    path.write_text("""\
schema: allport.sap/1
primary_outcome: intergroup-anxiety.total
primary_time: post
populations:
  primary: itt
  per_protocol: {education: module_completed, contact: session_attended, min_minutes_attended: 45}
covariates: []
holm_family: []
alpha: 0.05
sensitivity: [lmm]
mi: {m: 20, seed: 99}
""", encoding="utf-8")
    done = run(runner, "sap", "set", "draft", str(path))
    assert done.exit_code == 0, done.output
    assert "version 1 (a draft until recruitment opens)" in done.output
    again = run(runner, "sap", "set", "draft", str(path))
    assert again.exit_code == 0, again.output
    with app.app_context():
        study = get_study(db.session, "draft")
        history = sap.plan_history(db.session, study)
        assert len(history) == 1 and history[0].frozen_at is None
        assert history[0].plan["populations"]["per_protocol"]["min_minutes_attended"] == 45


@pytest.mark.parametrize("content, name, message", [
    ("{not json", "plan.json", "is not valid JSON"),
    ("a: [unclosed", "plan.yaml", "is not valid YAML"),
    ("[1, 2]", "plan.json", "the plan must be a JSON object"),
    ('{"alpha": 3}', "plan.json", "The analysis plan has"),
])
def test_a_bad_file_is_one_line_and_exit_1(demo: Demo, runner: FlaskCliRunner, tmp_path: Path,
                                           content: str, name: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = run(runner, "sap", "set", "demo", str(path), "--reason", "r")
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_missing_file_or_study_is_one_line(demo: Demo, runner: FlaskCliRunner,
                                             tmp_path: Path) -> None:
    missing = run(runner, "sap", "set", "demo", str(tmp_path / "none.json"), "--reason", "r")
    assert missing.exit_code == 1 and "Cannot read" in missing.output
    nosuch = run(runner, "sap", "show", "nosuch")
    assert nosuch.exit_code == 1 and "No study with the slug 'nosuch'" in nosuch.output


def test_analyze_gives_the_sap_block_for_a_study_and_null_for_a_csv(
        simulated_demo: Demo, runner: FlaskCliRunner, tmp_path: Path) -> None:
    out = tmp_path / "study.json"
    assert run(runner, "analyze", "--study", "demo", "--json", str(out)).exit_code == 0
    result = json.loads(out.read_text())
    shown = current_plan(runner)["current"]
    assert result["sap"] == {k: shown[k] for k in ("version", "sha256", "frozen_at")}
    assert result["population"] == "itt" and result["population_role"] == "primary"
    per_protocol = tmp_path / "pp.json"
    assert run(runner, "analyze", "--study", "demo", "--population", "per_protocol",
               "--json", str(per_protocol)).exit_code == 0
    assert json.loads(per_protocol.read_text())["population_role"] == "sensitivity"

    csv_out = tmp_path / "csv.json"
    done = run(runner, "analyze", str(DATA / "balanced.csv"), "--json", str(csv_out))
    assert done.exit_code == 0, done.output
    assert json.loads(csv_out.read_text())["sap"] is None
