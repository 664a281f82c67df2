"""The statistical analysis plan (DESIGN §6): validation, the canonical hash, drafts, frozen
versions with reasons, freezing at opening, the guard, and the analysis's ``sap`` block."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select

from instruments import Library
from study.errors import NotAllowed
from study.extensions import db
from study.models import AnalysisPlan, AuditEvent, Study, StudyStatus
from study.services import sap
from study.services.analysis_service import run_analysis
from study.services.studies import (
    StudySpec,
    create_study,
    open_recruitment,
    recruitment_problems,
    set_module_pages,
)
from tests.helpers import Demo

pytestmark = pytest.mark.usefixtures("app_context")

OUTCOMES = ["intergroup-anxiety.total", "allport-stigma.total", "allport-stigma.beliefs",
            "allport-stigma.social_distance", "allport-stigma.professional"]


def draft_study(app: Flask, strata: str = "") -> tuple[Study, Library]:
    library: Library = app.extensions["allport.instruments"]
    study = create_study(db.session, StudySpec(
        slug="planned", title="Planned study", consent_text="Consent.", strata_factors=strata,
        instruments={"baseline": ["background", "intergroup-anxiety", "allport-stigma"],
                     "post": ["intergroup-anxiety", "allport-stigma"]}), library, actor="test")
    set_module_pages(db.session, study, [("One", "Text", None)])
    return study, library


def a_plan(**changes: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "schema": "allport.sap/1",
        "primary_outcome": "intergroup-anxiety.total",
        "primary_time": "post",
        "populations": {"primary": "itt",
                        "per_protocol": {"education": "module_completed",
                                         "contact": "session_attended",
                                         "min_minutes_attended": None}},
        "covariates": [],
        "holm_family": OUTCOMES[1:],
        "alpha": 0.05,
        "sensitivity": ["lmm", "multiple_imputation"],
        "mi": {"m": 50, "seed": 12345},
    }
    plan.update(changes)
    return plan


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- the canonical hash ---------------------------------------------------------------------

def test_the_hash_is_sha256_of_the_canonical_json_written_out_by_hand() -> None:
    plan = {"schema": "allport.sap/1", "primary_outcome": "stigma.total", "primary_time": "post",
            "populations": {"primary": "itt", "per_protocol": {
                "education": "module_completed", "contact": "session_attended",
                "min_minutes_attended": None}},
            "covariates": ["profession"], "holm_family": ["anxiety.total"], "alpha": 0.05,
            "sensitivity": ["lmm", "multiple_imputation"], "mi": {"m": 50, "seed": 7},
            "note": "Überprüfung"}
    # Sorted keys at every level, no spaces, null for None, non-ASCII kept as UTF-8.
    written = ('{"alpha":0.05,"covariates":["profession"],"holm_family":["anxiety.total"],'
               '"mi":{"m":50,"seed":7},"note":"Überprüfung",'
               '"populations":{"per_protocol":{"contact":"session_attended",'
               '"education":"module_completed","min_minutes_attended":null},"primary":"itt"},'
               '"primary_outcome":"stigma.total","primary_time":"post","schema":"allport.sap/1",'
               '"sensitivity":["lmm","multiple_imputation"]}')
    assert sap.canonical_json(plan) == written
    assert sap.plan_sha256(plan) == hashlib.sha256(written.encode("utf-8")).hexdigest()
    # Key order does not matter; content does.
    assert sap.plan_sha256(dict(reversed(list(plan.items())))) == sap.plan_sha256(plan)
    assert sap.plan_sha256({**plan, "alpha": 0.01}) != sap.plan_sha256(plan)


# --- validation -----------------------------------------------------------------------------

def test_the_default_plan_is_valid_and_follows_design(app: Flask) -> None:
    study, library = draft_study(app, strata="background.profession")
    plan = sap.default_plan(study, library)
    assert sap.plan_problems(plan, study, library) == []
    assert plan["primary_outcome"] == "intergroup-anxiety.total"
    # The secondary totals only: not the stigma scale's own subscales (sap.default_plan).
    assert plan["holm_family"] == ["allport-stigma.total"]
    assert plan["covariates"] == ["background.profession"]
    assert plan["alpha"] == 0.05 and plan["primary_time"] == "post"
    assert plan["sensitivity"] == ["lmm", "multiple_imputation"]
    assert plan["mi"]["m"] == 50 and isinstance(plan["mi"]["seed"], int)


@pytest.mark.parametrize("changes, message", [
    ({"primary_outcome": "nosuch.total"}, "primary_outcome 'nosuch.total' is not an outcome"),
    ({"holm_family": ["allport-stigma.total", "typo.total"]}, "holm_family names 'typo.total'"),
    ({"holm_family": OUTCOMES}, "holm_family holds the primary outcome"),
    ({"alpha": 1.5}, "alpha must be a number between 0 and 1"),
    ({"alpha": 0}, "alpha must be a number between 0 and 1"),
    ({"alpha": "0.05"}, "alpha must be a number between 0 and 1"),
    ({"primary_time": "later"}, "primary_time must be 'post' or 'followup'"),
    ({"primary_time": "followup"}, "the study has no follow-up time point"),
    ({"extra": 1}, "unknown key 'extra' in the plan"),
    ({"schema": "allport.sap/2"}, "schema must be 'allport.sap/1'"),
    ({"populations": {"primary": "everyone", "per_protocol": {
        "education": "module_completed", "contact": "session_attended",
        "min_minutes_attended": None}}}, "populations.primary must be 'itt' or 'per_protocol'"),
    ({"populations": {"primary": "itt", "per_protocol": {
        "education": "module_opened", "contact": "session_attended",
        "min_minutes_attended": 0}}}, "populations.per_protocol.education must be"),
    ({"populations": {"primary": "itt", "per_protocol": {"contact": "session_attended",
                                                         "min_minutes_attended": 30}}},
     "populations.per_protocol has no 'education'"),
    ({"sensitivity": ["lmm", "bootstrap"]}, "sensitivity names 'bootstrap'"),
    ({"covariates": ["a", "a"]}, "covariates names a more than once"),
    ({"mi": {"m": 1, "seed": 3}}, "mi.m must be a whole number from 2 to 1000"),
    ({"mi": {"m": 50, "seed": -1}}, "mi.seed must be a whole number"),
    ({"mi": {"m": 50}}, "mi has no 'seed'"),
])
def test_each_problem_has_its_own_message(app: Flask, changes: dict[str, Any],
                                          message: str) -> None:
    study, library = draft_study(app)
    problems = sap.plan_problems(a_plan(**changes), study, library)
    assert any(message in problem for problem in problems), problems
    with pytest.raises(sap.PlanError, match="The analysis plan has"):
        sap.set_plan(db.session, study, library, a_plan(**changes), reason="", actor="t")


def test_several_problems_are_all_named(app: Flask) -> None:
    study, library = draft_study(app)
    plan = a_plan(alpha=2, extra=True)
    del plan["mi"]
    with pytest.raises(sap.PlanError) as caught:
        sap.set_plan(db.session, study, library, plan, reason="", actor="t")
    assert len(caught.value.problems) == 3
    assert "3 problems" in str(caught.value)
    assert sap.plan_problems(["not", "a", "mapping"], study, library) == [
        "the plan must be a JSON object (a mapping of keys to values)"]


# --- draft, freezing, versions --------------------------------------------------------------

def test_a_draft_is_replaced_in_place_and_audited_without_its_text(app: Flask) -> None:
    study, library = draft_study(app)
    first = sap.set_plan(db.session, study, library, a_plan(), reason="", actor="t")
    second = sap.set_plan(db.session, study, library, a_plan(alpha=0.01), reason="", actor="t")
    assert first is second and second.version == 1 and second.frozen_at is None
    assert second.sha256 == sap.plan_sha256(a_plan(alpha=0.01))
    assert [p.version for p in sap.plan_history(db.session, study)] == [1]
    drafts = events("analysis_plan_draft_set")
    assert [e.details for e in drafts] == [
        {"version": 1, "sha256": sap.plan_sha256(a_plan())},
        {"version": 1, "sha256": sap.plan_sha256(a_plan(alpha=0.01))}]


def test_opening_freezes_the_draft(app: Flask) -> None:
    study, library = draft_study(app)
    draft = sap.set_plan(db.session, study, library, a_plan(), reason="", actor="t")
    open_recruitment(db.session, study, library, actor="test")
    assert draft.frozen_at is not None and study.status is StudyStatus.RECRUITING
    assert sap.current_plan(db.session, study) is draft
    assert [e.details for e in events("analysis_plan_frozen")] == [
        {"version": 1, "sha256": draft.sha256}]


def test_opening_without_a_plan_freezes_the_default(app: Flask) -> None:
    study, library = draft_study(app)
    open_recruitment(db.session, study, library, actor="test")
    plan = sap.current_plan(db.session, study)
    assert plan is not None and plan.version == 1 and plan.frozen_at is not None
    assert plan.plan["primary_outcome"] == "intergroup-anxiety.total"
    assert plan.sha256 == sap.plan_sha256(plan.plan)


def test_a_draft_gone_wrong_blocks_opening(app: Flask) -> None:
    study, library = draft_study(app)
    sap.set_plan(db.session, study, library, a_plan(), reason="", actor="t")
    # The plan was valid when set; then the post questionnaire changed under it.
    study.timepoint("post").instruments.pop()
    db.session.flush()
    problems = recruitment_problems(study, library)
    assert any(p.startswith("Analysis plan: holm_family names") for p in problems), problems
    with pytest.raises(NotAllowed, match="Analysis plan"):
        open_recruitment(db.session, study, library, actor="test")
    assert study.status is StudyStatus.DRAFT


def test_after_opening_a_change_is_a_new_frozen_version_with_a_reason(app: Flask) -> None:
    study, library = draft_study(app)
    sap.set_plan(db.session, study, library, a_plan(), reason="", actor="t")
    open_recruitment(db.session, study, library, actor="test")
    changed = a_plan(primary_outcome="allport-stigma.total",
                     holm_family=["intergroup-anxiety.total"])
    for reason in ("", "   "):
        with pytest.raises(NotAllowed, match="needs a reason"):
            sap.set_plan(db.session, study, library, changed, reason=reason, actor="t")
    with pytest.raises(NotAllowed, match="same as version 1"):
        sap.set_plan(db.session, study, library, a_plan(), reason="no change", actor="t")
    version = sap.set_plan(db.session, study, library, changed,
                           reason="Ethics board asked for stigma as primary.", actor="user:9")
    assert version.version == 2 and version.frozen_at is not None
    assert version.reason == "Ethics board asked for stigma as primary."
    history = sap.plan_history(db.session, study)
    assert [(p.version, p.plan["primary_outcome"]) for p in history] == [
        (1, "intergroup-anxiety.total"), (2, "allport-stigma.total")]
    assert sap.current_plan(db.session, study) is version
    added = events("analysis_plan_version_added")
    assert [(e.actor, e.details) for e in added] == [
        ("user:9", {"version": 2, "sha256": version.sha256})]


def test_the_service_never_edits_a_frozen_version(app: Flask) -> None:
    study, library = draft_study(app)
    open_recruitment(db.session, study, library, actor="test")
    first = sap.current_plan(db.session, study)
    assert first is not None
    frozen = copy.deepcopy(first.plan)
    sap.set_plan(db.session, study, library, a_plan(alpha=0.01), reason="r", actor="t")
    assert first.plan == frozen and first.sha256 == sap.plan_sha256(frozen)


def test_the_guard_refuses_to_change_or_delete_a_frozen_version(app: Flask) -> None:
    study, library = draft_study(app)
    open_recruitment(db.session, study, library, actor="test")
    db.session.commit()
    plan = sap.current_plan(db.session, study)
    assert plan is not None
    plan_id = plan.id
    db.session.expire_all()  # an object loaded afresh: the guard must not need it loaded
    plan = db.session.get(AnalysisPlan, plan_id)
    assert plan is not None
    plan.plan = a_plan(alpha=0.2)
    with pytest.raises(RuntimeError, match="frozen and cannot change"):
        db.session.flush()
    db.session.rollback()
    for change in ({"reason": "rewritten"}, {"frozen_at": None}):
        plan = db.session.get(AnalysisPlan, plan_id)
        assert plan is not None
        for attribute, value in change.items():
            setattr(plan, attribute, value)
        with pytest.raises(RuntimeError, match="frozen"):
            db.session.flush()
        db.session.rollback()
    plan = db.session.get(AnalysisPlan, plan_id)
    db.session.delete(plan)
    with pytest.raises(RuntimeError, match="frozen"):
        db.session.flush()
    db.session.rollback()


def test_the_guard_lets_a_draft_change_and_be_frozen(app: Flask) -> None:
    study, library = draft_study(app)
    draft = sap.set_plan(db.session, study, library, a_plan(), reason="", actor="t")
    db.session.commit()
    draft.reason = "edited while a draft"
    db.session.flush()
    open_recruitment(db.session, study, library, actor="test")
    db.session.commit()
    assert draft.frozen_at is not None


# --- the analysis -------------------------------------------------------------------------

def test_the_analysis_carries_the_sap_block_of_the_current_version(simulated_demo: Demo) -> None:
    study, library = simulated_demo.study(), simulated_demo.library
    plan = sap.current_plan(db.session, study)
    assert plan is not None and plan.frozen_at is not None
    result = run_analysis(db.session, study, library).result
    assert result["sap"] == {"version": plan.version, "sha256": plan.sha256,
                             "frozen_at": plan.frozen_at.isoformat()}
    assert result["sap"]["frozen_at"].endswith("+00:00")
    changed = {**plan.plan, "alpha": 0.01}
    new = sap.set_plan(db.session, study, library, changed, reason="stricter", actor="t")
    result = run_analysis(db.session, study, library).result
    assert result["sap"]["version"] == 2 and result["sap"]["sha256"] == new.sha256
    assert result["alpha"] == 0.01


def test_a_study_without_a_plan_gets_sap_null(simulated_demo: Demo) -> None:
    study, library = simulated_demo.study(), simulated_demo.library
    # A study opened before plans existed: delete the demo's plan behind the guard's back.
    db.session.execute(delete(AnalysisPlan))
    result = run_analysis(db.session, study, library).result
    assert result["sap"] is None and result["primary_outcome"] == "intergroup-anxiety.total"
    assert result["population"] == "itt" and result["population_role"] == "primary"


def test_the_demo_study_has_a_frozen_plan(demo: Demo) -> None:
    history = sap.plan_history(db.session, demo.study())
    assert len(history) == 1
    plan = history[0]
    assert plan.frozen_at is not None and plan.reason
    assert plan.plan["mi"]["seed"] == 20261128
    assert plan.sha256 == sap.plan_sha256(plan.plan)


def test_the_plan_names_the_primary_population_and_the_other_is_a_sensitivity_analysis(
        simulated_demo: Demo) -> None:
    study, library = simulated_demo.study(), simulated_demo.library
    plan = sap.current_plan(db.session, study)
    assert plan is not None
    populations = {**plan.plan["populations"], "primary": "per_protocol"}
    sap.set_plan(db.session, study, library, {**plan.plan, "populations": populations},
                 reason="per protocol first", actor="t")
    default = run_analysis(db.session, study, library).result
    assert default["population"] == "per_protocol" and default["population_role"] == "primary"
    other = run_analysis(db.session, study, library, population="itt").result
    assert other["population"] == "itt" and other["population_role"] == "sensitivity"


def test_a_study_without_outcomes_is_told_its_default_plan_cannot_be_made(app: Flask) -> None:
    library: Library = app.extensions["allport.instruments"]
    study = create_study(db.session, StudySpec(
        slug="nothing-shared", title="No outcome", consent_text="x",
        instruments={"baseline": ["background"], "post": ["intergroup-anxiety"]}),
        library, actor="test")
    problems = recruitment_problems(study, library)
    assert any(p.startswith("Analysis plan: primary_outcome None is not an outcome")
               for p in problems), problems
