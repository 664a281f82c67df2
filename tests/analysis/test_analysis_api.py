"""The public contract: DESIGN.md section 6 JSON shape, options, baseline table, cheap import."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable

import pandas as pd
import pytest

import analysis
from analysis import AnalysisInputError, analyze, baseline_table

Loader = Callable[[str], pd.DataFrame]

SECTION_6 = {
    "n_complete": None,
    "descriptives": None,
    "mixed_anova": {
        effect: {"F", "df1", "df2", "p", "np2", "ges"} for effect in ("arm", "time", "interaction")
    },
    "ancova": {
        "arm": {"F", "df1", "df2", "p", "np2"},
        "adjusted_difference": {"estimate", "se", "ci_low", "ci_high"},
    },
    "change_welch": {"t", "df", "p", "mean_difference", "ci_low", "ci_high"},
    "hedges_g_post": {"estimate", "ci_low", "ci_high"},
    "d_ppc2": {"estimate", "ci_low", "ci_high"},
    "lmm": {
        "interaction": {"estimate", "se", "ci_low", "ci_high", "p"},
        "n_participants": None,
        "n_observations": None,
    },
}


def test_result_has_the_section_6_shape(dataset: Loader) -> None:
    result = analyze(dataset("unbalanced"))
    assert result["schema"] == "allport.analysis/1"
    assert (result["control_arm"], result["treatment_arm"]) == ("education", "contact")
    for entry in result["outcomes"].values():
        for key, inner in SECTION_6.items():
            assert key in entry
            if isinstance(inner, dict):
                for sub, keys in inner.items():
                    if keys is None:
                        assert isinstance(entry[key][sub], int)
                    elif isinstance(keys, set):
                        assert keys <= set(entry[key][sub]), (key, sub)
            elif isinstance(inner, set):
                assert inner <= set(entry[key]), key
        assert list(entry["n_complete"]) == ["education", "contact"]
        assert all(isinstance(n, int) for n in entry["n_complete"].values())
        assert {(d["arm"], d["time"]) for d in entry["descriptives"]} == {
            (a, t) for a in ("education", "contact") for t in ("pre", "post")
        }
        assert set(entry["descriptives"][0]) == {"arm", "time", "n", "mean", "sd"}


def test_result_is_strict_json_of_plain_types(dataset: Loader) -> None:
    result = analyze(dataset("balanced"), covariates=["age", "profession"], primary="stigma")
    assert json.loads(json.dumps(result, allow_nan=False)) == result

    def walk(value: object) -> None:
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert value is None or type(value) in (bool, int, float, str), type(value)
            if isinstance(value, float):
                assert math.isfinite(value)

    walk(result)


def test_differences_are_treatment_minus_control(dataset: Loader) -> None:
    """Swapping which arm is the control flips every difference and keeps every F."""
    frame = dataset("unbalanced")
    usual = analyze(frame, outcomes="stigma")["outcomes"]["stigma"]
    swapped = analyze(frame, outcomes="stigma", control_arm="contact")["outcomes"]["stigma"]
    for key in ("ancova", "change_welch", "hedges_g_post", "d_ppc2", "lmm"):
        section = "adjusted_difference" if key == "ancova" else "interaction"
        a = usual[key].get(section, usual[key])
        b = swapped[key].get(section, swapped[key])
        estimate = "mean_difference" if key == "change_welch" else "estimate"
        assert b[estimate] == pytest.approx(-a[estimate], rel=1e-9)
    assert usual["ancova"]["adjusted_difference"]["estimate"] < 0  # contact lowers stigma
    assert swapped["mixed_anova"]["time"]["F"] == pytest.approx(usual["mixed_anova"]["time"]["F"])


def test_population_and_primary_are_recorded(dataset: Loader) -> None:
    result = analyze(dataset("null"), primary="anxiety", population="per_protocol")
    assert result["population"] == "per_protocol"
    assert result["primary_outcome"] == "anxiety"
    assert result["outcomes"]["anxiety"]["primary"] is True
    assert result["outcomes"]["stigma"]["primary"] is False
    assert result["multiplicity"]["family"] == ["stigma"]
    assert result["multiplicity"]["not_adjusted"] == ["anxiety"]
    assert result["multiplicity"]["key"] == "ancova.arm.p_holm"
    # a family of one: Holm leaves the p-value as it is
    stigma = result["outcomes"]["stigma"]["ancova"]["arm"]
    assert stigma["p_holm"] == stigma["p"]


def test_outcomes_default_to_every_other_column(dataset: Loader) -> None:
    frame = dataset("balanced")
    assert list(analyze(frame, covariates=["age", "profession"])["outcomes"]) == [
        "anxiety",
        "social_distance",
        "stigma",
    ]
    result = analyze(frame)  # covariates not named: they are taken for outcomes
    assert result["outcomes"]["profession"]["error"].startswith("'profession' has 160 non-numeric")


def test_assumption_checks_say_what_they_test(dataset: Loader) -> None:
    checks = analyze(dataset("ties"))["outcomes"]["stigma"]["assumptions"]
    assert checks["shapiro_wilk"]["on"] == "ANCOVA residuals"
    assert checks["levene"]["on"] == "post score by arm"
    assert checks["levene"]["center"] == "median"
    assert checks["homogeneity_of_slopes"]["df2"] == 53 - 4


def test_baseline_table(dataset: Loader) -> None:
    frame = dataset("balanced")
    table = baseline_table(frame, outcomes=["stigma"], covariates=["age", "profession"])
    assert (table["control_arm"], table["treatment_arm"], table["time"]) == (
        "education",
        "contact",
        "pre",
    )
    rows = table["rows"]
    assert [r["variable"] for r in rows[:2]] == ["stigma", "age"]
    assert all("p" not in r and "p_value" not in r for r in rows)
    professions = [r for r in rows if r["variable"] == "profession"]
    pre = frame[frame["time"] == "pre"]
    counts = pd.crosstab(pre["profession"], pre["arm"])
    assert [r["level"] for r in professions] == sorted(counts.index)
    for row in professions:
        for arm in ("education", "contact"):
            cell = row["arms"][arm]
            assert cell["n"] == counts.loc[row["level"], arm]
            assert cell["total"] == 40
            assert cell["percent"] == pytest.approx(100 * cell["n"] / 40)
        p_t, p_c = row["arms"]["contact"]["n"] / 40, row["arms"]["education"]["n"] / 40
        expected = (p_t - p_c) / math.sqrt((p_t * (1 - p_t) + p_c * (1 - p_c)) / 2)
        assert row["standardized_difference"] == pytest.approx(expected)
    assert (
        analyze(frame, covariates=["age", "profession"])["baseline"]["rows"][-len(professions) :]
        == professions
    )


def test_baseline_table_reports_a_bad_variable_in_its_row(dataset: Loader) -> None:
    frame = dataset("small")
    frame["stigma"] = frame["stigma"].astype(object)
    frame.loc[0, "stigma"] = "high"
    rows = baseline_table(frame)["rows"]
    assert rows[1]["variable"] == "stigma"
    assert rows[1]["error"].startswith("'stigma' has 1 non-numeric value: 'high'")
    with pytest.raises(AnalysisInputError, match="covariate column not in the data: 'sex'"):
        baseline_table(frame, covariates=["sex"])


def test_import_is_cheap() -> None:
    """``import analysis`` loads neither pandas, SciPy nor matplotlib (the CLI is timed)."""
    code = (
        "import sys, analysis; "
        "print(sorted(m for m in ('pandas', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_public_names() -> None:
    assert set(analysis.__all__) == {
        "AnalysisInputError",
        "analyze",
        "baseline_table",
        "interaction_plot_svg",
        "load_long_csv",
    }
    with pytest.raises(AttributeError):
        analysis.no_such_name  # noqa: B018
