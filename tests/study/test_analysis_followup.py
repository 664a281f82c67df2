"""A study with a follow-up time point: its scores reach the analysis as ``followup`` rows."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from study.extensions import db
from study.models import Participant, StudyInstrument, Timepoint
from study.services import analysis_service, journey
from study.services.analysis_data import study_frame
from study.services.demo import simulate_answers
from tests.helpers import Demo

pytestmark = pytest.mark.usefixtures("app_context")


def add_followup(demo: Demo) -> list[Participant]:
    """A follow-up time point (the post questionnaires again), answered by everyone who did post."""
    study = demo.study()
    post = study.timepoint("post")
    assert post is not None
    followup = Timepoint(study_id=study.id, name="followup", label="Follow-up", position=2)
    db.session.add(followup)
    db.session.flush()
    for position, pinned in enumerate(post.instruments):
        db.session.add(StudyInstrument(
            timepoint_id=followup.id, instrument_id=pinned.instrument_id,
            instrument_version=pinned.instrument_version, fingerprint=pinned.fingerprint,
            position=position))
    study.followup_offset_days = 0  # open as soon as post opened
    db.session.commit()
    db.session.info.pop("instruments_at", None)
    answered = list(db.session.scalars(
        select(Participant).where(Participant.study_id == study.id,
                                  Participant.status == "post_done").order_by(Participant.code)))
    rng = np.random.default_rng(7)
    for participant in answered:
        for pinned in followup.instruments:
            instrument = demo.library.get(pinned.instrument_id, pinned.instrument_version)
            journey.save_answers(db.session, participant, followup, instrument,
                                 simulate_answers(instrument, float(rng.normal()), rng),
                                 final=True)
    db.session.commit()
    return answered


def test_followup_scores_become_followup_rows_and_figures(simulated_demo: Demo) -> None:
    before = analysis_service.run_analysis(db.session, simulated_demo.study(),
                                           simulated_demo.library).result
    answered = add_followup(simulated_demo)
    assert len(answered) >= 6

    frame = study_frame(db.session, simulated_demo.study(), simulated_demo.library)
    followup = frame[frame["time"] == "followup"]
    assert sorted(followup["participant"]) == sorted(p.code for p in answered)
    assert set(frame["time"]) == {"pre", "post", "followup"}

    result = analysis_service.run_analysis(db.session, simulated_demo.study(),
                                           simulated_demo.library).result
    for name, entry in result["outcomes"].items():
        assert "followup" not in before["outcomes"][name]
        assert [r["time"] for r in entry["descriptives"]][:3] == ["pre", "post", "followup"]
        n_followup = sum(r["n"] for r in entry["descriptives"] if r["time"] == "followup")
        assert n_followup == len(answered)
        figures = entry["followup"]
        assert sum(figures["n_complete"].values()) == len(answered)
        assert set(figures) == {"n_complete", "mixed_anova", "ancova", "lmm"}
        assert figures["lmm"]["n_observations"] == sum(r["n"] for r in entry["descriptives"])
        # the pre/post figures do not change
        assert entry["ancova"] == before["outcomes"][name]["ancova"]
        assert entry["n_complete"] == before["outcomes"][name]["n_complete"]


def test_a_plan_with_a_followup_primary_time_adjusts_the_followup_ancovas(
        simulated_demo: Demo) -> None:
    from study.services import sap

    study, library = simulated_demo.study(), simulated_demo.library
    plan = dict(sap.current_plan(db.session, study).plan)
    # Before any follow-up answer exists the study cannot say it has a follow-up time point.
    with pytest.raises(sap.PlanError, match="followup"):
        sap.set_plan(db.session, study, library, {**plan, "primary_time": "followup"},
                     reason="follow-up is primary", actor="t")
    db.session.rollback()
    add_followup(simulated_demo)
    study = simulated_demo.study()
    sap.set_plan(db.session, study, library, {**plan, "primary_time": "followup"},
                 reason="follow-up is primary", actor="t")
    db.session.commit()
    result = analysis_service.run_analysis(db.session, study, library).result
    assert result["primary_time"] == "followup"
    assert result["multiplicity"]["key"] == "followup.ancova.arm.p_holm"
    family = result["multiplicity"]["family"]
    assert family and set(family) <= set(plan["holm_family"])
    for name in family:
        entry = result["outcomes"][name]
        assert "p_holm" in entry["followup"]["ancova"]["arm"]
        assert "p_holm" not in entry["ancova"]["arm"]
