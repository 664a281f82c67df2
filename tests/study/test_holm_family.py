"""The Holm family as the analysis plan names it (DESIGN §6), and the default plan's family."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from study.extensions import db
from study.models import AnalysisPlan
from study.services import sap
from study.services.analysis_service import Outcome, run_analysis
from tests.helpers import Demo, StaffClient

TOTALS = ["intergroup-anxiety.total", "allport-stigma.total"]
SUBSCALES = ["allport-stigma.beliefs", "allport-stigma.social_distance",
             "allport-stigma.professional"]


def outcome(instrument: str, scale: str) -> Outcome:
    return Outcome(name=f"{instrument}.{scale}", instrument=instrument, version="1.0",
                   scale=scale, label=scale, direction="higher_worse")


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm (1979) written out: the i-th smallest of m gets (m - i + 1) p, kept monotone."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    adjusted, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(p) - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def test_the_default_family_is_the_other_questionnaires_totals() -> None:
    outcomes = [outcome("anxiety", "total"), outcome("anxiety", "worry"),
                outcome("stigma", "total"), outcome("stigma", "beliefs"),
                outcome("contact", "quantity"), outcome("contact", "quality")]
    # Not the primary's own subscale, not a total's subscales; a questionnaire without a total
    # contributes each of its scales.
    assert sap.default_holm_family(outcomes, "anxiety.total") == [
        "stigma.total", "contact.quantity", "contact.quality"]
    assert sap.default_holm_family(outcomes, "contact.quantity") == [
        "anxiety.total", "stigma.total", "contact.quality"]
    assert sap.default_holm_family(outcomes, None) == [
        "anxiety.total", "stigma.total", "contact.quantity", "contact.quality"]


@pytest.mark.usefixtures("app_context")
def test_only_the_plan_family_is_adjusted_together(simulated_demo: Demo) -> None:
    study, library = simulated_demo.study(), simulated_demo.library
    plan = dict(sap.current_plan(db.session, study).plan)
    family = ["allport-stigma.beliefs", "allport-stigma.professional", "allport-stigma.total"]
    plan["holm_family"] = family
    sap.set_plan(db.session, study, library, plan, reason="subscales confirmatory", actor="test")
    result = run_analysis(db.session, study, library).result
    multiplicity = result["multiplicity"]
    # The plan's names, listed in the order of the outcomes.
    family = ["allport-stigma.total", "allport-stigma.beliefs", "allport-stigma.professional"]
    assert multiplicity["family"] == family
    assert multiplicity["not_adjusted"] == ["intergroup-anxiety.total",
                                            "allport-stigma.social_distance"]
    assert multiplicity["primary_outcome"] == "intergroup-anxiety.total"
    assert "named family" in multiplicity["rule"]
    arms = {name: entry["ancova"]["arm"] for name, entry in result["outcomes"].items()}
    expected = holm_by_hand([arms[name]["p"] for name in family])
    assert [arms[name]["p_holm"] for name in family] == pytest.approx(expected, rel=1e-12)
    for name in multiplicity["not_adjusted"]:
        assert "p_holm" not in arms[name]


@pytest.mark.usefixtures("app_context")
def test_the_default_plan_adjusts_the_secondary_total_alone(simulated_demo: Demo) -> None:
    study, library = simulated_demo.study(), simulated_demo.library
    result = run_analysis(db.session, study, library).result
    assert sap.current_plan(db.session, study).plan["holm_family"] == ["allport-stigma.total"]
    assert result["multiplicity"]["family"] == ["allport-stigma.total"]
    total = result["outcomes"]["allport-stigma.total"]["ancova"]["arm"]
    assert total["p_holm"] == total["p"]  # a family of one
    assert all("p_holm" not in result["outcomes"][name]["ancova"]["arm"] for name in SUBSCALES)
    # A study without a plan gets the same family.
    db.session.execute(delete(AnalysisPlan))
    assert run_analysis(db.session, study, library).result["multiplicity"] == result[
        "multiplicity"]


def test_the_page_marks_outcomes_outside_the_family(
        simulated_demo: Demo, staff_client: StaffClient) -> None:
    html = staff_client("researcher").get("/researcher/demo/analysis").get_data(as_text=True)
    assert "outside the family, reported unadjusted" in html
    summary = html.split('id="summary-caption"', 1)[1].split("</table>", 1)[0]
    beliefs = summary.split("Stigmatizing beliefs", 1)[1].split("</tr>", 1)[0]
    # A subscale outside the default family: a dash in the Holm p column.
    assert '<td class="num">–</td>' in beliefs
