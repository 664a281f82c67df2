"""A study's analysis takes its multiple-imputation settings from the analysis plan (DESIGN §6)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from study.extensions import db
from study.models import Allocation, Response, Timepoint
from study.services import analysis_service as service
from study.services import sap
from tests.helpers import Demo

pytestmark = pytest.mark.usefixtures("app_context")


def mi_of(demo: Demo) -> list[dict | None]:
    result = service.run_analysis(db.session, demo.study(), demo.library).result
    return [entry.get("sensitivity", {}).get("multiple_imputation")
            for entry in result["outcomes"].values()]


def test_the_plans_m_and_seed_are_used_and_a_rerun_agrees(simulated_demo: Demo) -> None:
    plan = sap.current_plan(db.session, simulated_demo.study()).plan
    assert "multiple_imputation" in plan["sensitivity"]
    first = mi_of(simulated_demo)
    assert first and all(entry is not None and "error" not in entry for entry in first)
    assert {(e["m"], e["seed"]) for e in first if e} == {(plan["mi"]["m"], plan["mi"]["seed"])}
    assert mi_of(simulated_demo) == first


def test_a_plan_without_multiple_imputation_leaves_it_out(simulated_demo: Demo) -> None:
    study = simulated_demo.study()
    plan = dict(sap.current_plan(db.session, study).plan)
    plan.update(sensitivity=["lmm"])
    sap.set_plan(db.session, study, simulated_demo.library, plan, reason="test", actor="test")
    db.session.commit()
    assert mi_of(simulated_demo) == [None] * 5
    result = service.run_analysis(db.session, study, simulated_demo.library).result
    assert all("missing" in entry for entry in result["outcomes"].values())


def remove_one_post_per_arm(demo: Demo) -> None:
    """Delete one post questionnaire in each arm, so that each arm has a score to impute.

    Which simulated trainees answered post depends on the arms the demo's secret seed gave them.
    """
    study = demo.study()
    chosen: dict[int, int] = {}  # arm id -> the participant whose post answers go
    for response, arm_id in db.session.execute(
            select(Response, Allocation.arm_id)
            .join(Timepoint, Response.timepoint_id == Timepoint.id)
            .join(Allocation, Allocation.participant_id == Response.participant_id)
            .where(Timepoint.study_id == study.id, Timepoint.name == "post")
            .order_by(Response.id)).all():
        if chosen.setdefault(arm_id, response.participant_id) == response.participant_id:
            db.session.delete(response)
    db.session.commit()


def test_a_new_seed_in_a_new_plan_version_changes_the_draws(simulated_demo: Demo) -> None:
    study = simulated_demo.study()
    remove_one_post_per_arm(simulated_demo)
    before = mi_of(simulated_demo)
    plan = dict(sap.current_plan(db.session, study).plan)
    plan.update(mi={"m": 20, "seed": plan["mi"]["seed"] + 1})
    sap.set_plan(db.session, study, simulated_demo.library, plan, reason="test", actor="test")
    db.session.commit()
    after = mi_of(simulated_demo)
    assert {(e["m"], e["seed"]) for e in after if e} == {(20, plan["mi"]["seed"])}
    result = service.run_analysis(db.session, study, simulated_demo.library).result
    # every arm has a trainee without post scores, so the draws matter
    assert all(row["missing_post"] >= 1 for entry in result["outcomes"].values()
               for row in entry["missing"])
    assert [e["estimate"] for e in after if e] != [e["estimate"] for e in before if e]


def test_settings_helper() -> None:
    assert service.multiple_imputation_settings(None) == {"m": 50, "seed": 20250409}
    plan = {"sensitivity": ["lmm"], "mi": {"m": 10, "seed": 3}}
    assert service.multiple_imputation_settings(plan) is None
    plan["sensitivity"] = ["multiple_imputation"]
    assert service.multiple_imputation_settings(plan) == {"m": 10, "seed": 3}
