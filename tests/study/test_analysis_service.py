"""The analysis service: populations, outcomes, the plan's primary outcome, blinding (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from study.extensions import db
from study.models import (
    Allocation,
    Arm,
    ArmKind,
    Booking,
    ModuleProgress,
    Participant,
)
from study.services import analysis_service as service
from study.services import sap
from study.services.adherence import per_protocol_codes
from study.services.blinding import blinded_order
from study.services.demo import simulate_journeys
from tests.helpers import Demo

pytestmark = pytest.mark.usefixtures("app_context")


def analyse(demo: Demo, **options: Any) -> service.StudyAnalysis:
    return service.run_analysis(db.session, demo.study(), demo.library, **options)


def finished(kind: ArmKind) -> list[Participant]:
    """Participants of one arm kind with post data, in a stable order."""
    return list(db.session.scalars(
        select(Participant).join(Allocation, Allocation.participant_id == Participant.id)
        .join(Arm, Allocation.arm_id == Arm.id)
        .where(Arm.kind == kind, Participant.status == "post_done")
        .order_by(Participant.code)))


def test_outcomes_are_the_scales_measured_before_and_after(simulated_demo: Demo) -> None:
    names = [o.name for o in service.study_outcomes(simulated_demo.study(), simulated_demo.library)]
    # "background" is given at baseline only and has no scales: it is not an outcome.
    assert names == ["intergroup-anxiety.total", "allport-stigma.total", "allport-stigma.beliefs",
                     "allport-stigma.social_distance", "allport-stigma.professional"]


def test_the_default_primary_is_the_first_post_instrument_total(simulated_demo: Demo) -> None:
    result = analyse(simulated_demo).result
    assert result["primary_outcome"] == "intergroup-anxiety.total"
    assert result["outcomes"]["intergroup-anxiety.total"]["primary"] is True
    assert "p_holm" not in result["outcomes"]["intergroup-anxiety.total"]["ancova"]["arm"]
    # The default plan's family: the secondary totals, not a total with its own subscales.
    assert result["multiplicity"]["family"] == ["allport-stigma.total"]
    assert result["multiplicity"]["not_adjusted"] == [
        "intergroup-anxiety.total", "allport-stigma.beliefs", "allport-stigma.social_distance",
        "allport-stigma.professional"]
    for name in result["multiplicity"]["family"]:
        arm = result["outcomes"][name]["ancova"]["arm"]
        assert arm["p"] <= arm["p_holm"] <= 1


def test_a_new_plan_version_moves_the_primary_and_the_holm_family(simulated_demo: Demo) -> None:
    study = simulated_demo.study()
    plan = dict(sap.current_plan(db.session, study).plan)
    plan.update(primary_outcome="allport-stigma.total",
                holm_family=["intergroup-anxiety.total", "allport-stigma.beliefs"])
    sap.set_plan(db.session, study, simulated_demo.library, plan, reason="test", actor="test")
    db.session.commit()
    result = analyse(simulated_demo).result
    assert result["primary_outcome"] == "allport-stigma.total"
    assert result["sap"]["version"] == 2
    assert result["multiplicity"]["family"] == ["intergroup-anxiety.total",
                                                "allport-stigma.beliefs"]
    # Outside the plan's family: reported, not adjusted.
    social = result["outcomes"]["allport-stigma.social_distance"]["ancova"]["arm"]
    assert "p_holm" not in social
    assert "allport-stigma.social_distance" in result["multiplicity"]["not_adjusted"]


def test_the_plan_primary_population_is_the_default_and_the_other_is_sensitivity(
        simulated_demo: Demo) -> None:
    assert analyse(simulated_demo).result["population_role"] == "primary"
    other = analyse(simulated_demo, population="per_protocol").result
    assert other["population"] == "per_protocol" and other["population_role"] == "sensitivity"
    assert other["alpha"] == 0.05


def test_selecting_outcomes_does_not_change_the_holm_family(simulated_demo: Demo) -> None:
    every = analyse(simulated_demo).result
    one = analyse(simulated_demo, outcomes=["allport-stigma.beliefs"]).result
    assert list(one["outcomes"]) == ["allport-stigma.beliefs"]
    assert one["outcomes"]["allport-stigma.beliefs"] == every["outcomes"]["allport-stigma.beliefs"]
    assert one["multiplicity"] == every["multiplicity"]
    # The scores shown, and the background items whatever outcomes are chosen.
    assert {row["variable"] for row in one["baseline"]["rows"]} == {
        "allport-stigma.beliefs", "background.profession", "background.training_year",
        "background.prior_contact"}


def test_blinded_analysis_shows_arm_a_and_b_and_names_a_reference_not_a_control(
        simulated_demo: Demo) -> None:
    result = analyse(simulated_demo).result
    assert result["blinded"] is True
    assert result["control_arm"] == "arm_a" and result["treatment_arm"] == "arm_b"
    assert result["arm_labels"] == {"arm_a": "Arm A", "arm_b": "Arm B"}
    assert "not the study's control arm" in result["reference_note"]
    # The background item "prior contact" names contact with people, not the contact arm.
    text = repr(result).lower().replace("prior_contact", "").replace("prior contact", "")
    assert "education" not in text and "contact" not in text


def test_unblinded_analysis_is_treatment_minus_control(simulated_demo: Demo) -> None:
    study = simulated_demo.study()
    blinded = analyse(simulated_demo).result["outcomes"]["allport-stigma.total"]
    study.blinded = False
    result = analyse(simulated_demo).result
    assert result["control_arm"] == "education" and result["treatment_arm"] == "contact"
    assert result["arm_labels"] == {"contact": "Contact session with a peer specialist",
                                    "education": "Education module"}
    assert "reference_note" not in result
    entry = result["outcomes"]["allport-stigma.total"]
    # Same data, same statistics; the reference arm only fixes the sign of the differences.
    assert entry["ancova"]["arm"]["p"] == pytest.approx(blinded["ancova"]["arm"]["p"], rel=1e-9)
    # Arm A (the blinded reference) is drawn from the study's secret seed.
    sign = 1 if blinded_order(study)[0] == "education" else -1
    assert entry["ancova"]["adjusted_difference"]["estimate"] == pytest.approx(
        sign * blinded["ancova"]["adjusted_difference"]["estimate"], rel=1e-9)


def test_per_protocol_leaves_out_who_missed_the_intervention(simulated_demo: Demo) -> None:
    study = simulated_demo.study()
    adherent = per_protocol_codes(db.session, study)
    contact = [p for p in finished(ArmKind.CONTACT) if p.code in adherent]
    education = [p for p in finished(ArmKind.EDUCATION) if p.code in adherent]
    total = "allport-stigma.total"
    pp_before = analyse(simulated_demo, population="per_protocol").result
    booking = db.session.scalars(
        select(Booking).where(Booking.participant_id == contact[0].id)).one()
    booking.attended = False
    progress = db.session.get(ModuleProgress, education[0].id)
    assert progress is not None
    progress.completed_at = None
    db.session.commit()

    itt = analyse(simulated_demo).result
    pp = analyse(simulated_demo, population="per_protocol").result
    assert itt["population"] == "itt" and pp["population"] == "per_protocol"
    assert "attended their contact session" in pp["population_definition"]
    assert sum(pp["population_n"].values()) == sum(pp_before["population_n"].values()) - 2
    assert sum(pp["outcomes"][total]["n_complete"].values()) == sum(
        pp_before["outcomes"][total]["n_complete"].values()) - 2
    # The simulation's non-adherers answered post all the same (DESIGN §3): ITT has them.
    assert sum(itt["outcomes"][total]["n_complete"].values()) > sum(
        pp["outcomes"][total]["n_complete"].values())
    # ITT keeps everyone allocated, with all their data, in the mixed model.
    assert sum(itt["population_n"].values()) == simulated_demo.trainees
    assert itt["outcomes"][total]["lmm"]["n_participants"] == simulated_demo.trainees


def test_withdrawn_data_are_left_out(simulated_demo: Demo) -> None:
    before = analyse(simulated_demo).result
    participant = finished(ArmKind.CONTACT)[0]
    participant.data_withdrawn = True
    db.session.commit()
    after = analyse(simulated_demo).result
    total = "allport-stigma.total"
    assert sum(after["population_n"].values()) == sum(before["population_n"].values()) - 1
    assert after["outcomes"][total]["lmm"]["n_participants"] == simulated_demo.trainees - 1


def test_bad_parameters_are_domain_errors_naming_the_parameter(simulated_demo: Demo) -> None:
    for options, parameter in (({"population": "everyone"}, "population"),
                               ({"outcomes": ["nope.total"]}, "outcome"),
                               ({"control_arm": "education"}, "control")):
        with pytest.raises(service.AnalysisRequestError) as caught:
            analyse(simulated_demo, **options)
        assert caught.value.parameter == parameter


def test_a_study_without_data_says_so(demo: Demo) -> None:
    with pytest.raises(service.NothingToAnalyse, match="no questionnaire data"):
        analyse(demo)


def test_an_outcome_with_too_few_cases_gets_its_own_message(demo: Demo) -> None:
    simulate_journeys(db.session, demo.library, 3, seed=7)
    db.session.commit()
    result = analyse(demo).result
    # Three trainees: which arms they land in follows the demo's secret seed, so the message is
    # one of the three ways of having too few cases, each its own clear sentence.
    for entry in result["outcomes"].values():
        assert any(reason in entry["error"] for reason in (
            "complete cases", "has no values", "there is no treatment arm"))


def test_the_interaction_plot_uses_the_blinded_labels(simulated_demo: Demo) -> None:
    svg = analyse(simulated_demo).plot_svg("allport-stigma.total")
    assert svg.startswith("<svg") and "Arm A" in svg and "Arm B" in svg
    assert "education" not in svg.lower()
