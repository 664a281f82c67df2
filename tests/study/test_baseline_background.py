"""The background questionnaire in a study's baseline table: per arm, under blinded codes."""

from __future__ import annotations

import statistics

import pytest

from study.extensions import db
from study.services import analysis_service as service
from study.services.analysis_data import baseline_items
from study.services.exports import rows_for
from tests.helpers import Demo, StaffClient

BACKGROUND = ["background.profession", "background.training_year", "background.prior_contact"]


@pytest.mark.usefixtures("app_context")
def test_the_background_items_are_the_unscored_baseline_questions(simulated_demo: Demo) -> None:
    items = baseline_items(simulated_demo.study(), simulated_demo.library)
    assert list(items) == BACKGROUND
    assert items["background.training_year"] == {"kind": "numeric", "label": "Training year"}
    profession = items["background.profession"]
    assert profession["kind"] == "categorical" and profession["label"] == "Profession"
    # The instrument's order and labels.
    assert list(profession["levels"].items())[:2] == [("medicine", "Medicine"),
                                                      ("nursing", "Nursing")]


@pytest.mark.usefixtures("app_context")
def test_the_baseline_table_counts_the_answers_of_each_arm(simulated_demo: Demo) -> None:
    study = simulated_demo.study()
    result = service.run_analysis(db.session, study, simulated_demo.library).result
    # Expected from the de-identified responses export, counted here independently.
    _, answers = rows_for(db.session, study, "responses", simulated_demo.library)
    given = {(r["participant"], r["item"]): (r["arm"], r["value"]) for r in answers
             if r["instrument"] == "background" and r["time"] == "pre" and r["arm"]}
    arms = {"arm_a", "arm_b"}
    assert result["baseline"]["participants"] == result["population_n"]
    rows = [r for r in result["baseline"]["rows"] if r.get("baseline_item")]
    assert {r["variable"] for r in rows} == set(BACKGROUND)
    assert all("error" not in r and set(r["arms"]) == arms for r in rows)
    for row in rows:
        item = row["variable"].split(".")[1]
        for arm in arms:
            values = [v for (_, key), (a, v) in given.items() if key == item and a == arm]
            cell = row["arms"][arm]
            if row["type"] == "numeric":
                numbers = [float(v) for v in values]
                assert cell["n"] == len(numbers)
                assert cell["mean"] == pytest.approx(statistics.mean(numbers))
                assert cell["sd"] == pytest.approx(statistics.stdev(numbers))
                assert cell["missing"] == result["population_n"][arm] - len(numbers)
            elif row.get("missing"):
                assert cell == {"n": result["population_n"][arm] - len(values),
                                "total": result["population_n"][arm]}
            else:
                assert cell["n"] == values.count(row["level"])
                assert cell["total"] == len(values)
                assert cell["percent"] == pytest.approx(100 * cell["n"] / len(values))
    professions = [r for r in rows if r["variable"] == "background.profession"]
    assert sum(r["arms"][arm]["n"] for r in professions for arm in arms) == sum(
        result["population_n"].values())


def test_the_analysis_page_shows_background_by_arm_with_a_note(
        simulated_demo: Demo, staff_client: StaffClient) -> None:
    html = staff_client("researcher").get("/researcher/demo/analysis").get_data(as_text=True)
    baseline = html.split('id="baseline-title"', 1)[1]
    for text in ("scores and background; no significance tests", "Profession, <i>n</i> (%)",
                 "Training year, mean (SD)", "Prior contact, <i>n</i> (%)",
                 "Another profession", "My own lived experience", ">Missing</th>",
                 'aria-describedby="baseline-note"', "the percentage of the arm's participants "
                 "who answered the question", "Arm A (<i>n</i> = "):
        assert text in baseline, text
    assert "<i>p</i>" not in baseline.split("</table>", 1)[0]
