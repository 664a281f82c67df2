"""The ANCOVA adjusted for covariates, ``post ~ pre + arm + covariates``, against R.

Reference values: ``data/covariates_reference.json``, written by ``r/covariates.R`` (``lm``,
``confint``, ``car::Anova(type = 3)``, ``anova`` and ``shapiro.test`` on R 4.2.2) from
``data/covariates_*.csv`` (``r/make_covariates_datasets.py``): a three-level categorical covariate
and a numeric one, balanced and unbalanced arms, missing post scores and missing covariate values,
and a covariate level held by a single participant. Tolerance: 6 significant digits.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from analysis import analyze, load_long_csv

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "covariates_reference.json").read_text())
REL = 1e-6

CASES = [
    (name, tuple(run["covariates"]), outcome)
    for name, runs in REFERENCE.items()
    for run in runs
    for outcome in run["outcomes"]
]


@cache
def result(name: str, covariates: tuple[str, ...]) -> dict:
    """``analyze`` of a committed dataset with the given covariates (the engine is pure)."""
    return analyze(
        load_long_csv(DATA / f"covariates_{name}.csv"), covariates=list(covariates),
        primary="stigma",
    )


def leaves(tree: object, path: tuple = ()) -> list[tuple[tuple, float]]:
    """(path, number) for every numeric leaf of a JSON tree."""
    if isinstance(tree, dict):
        return [leaf for key, value in tree.items() for leaf in leaves(value, (*path, key))]
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return [(path, tree)]
    return []


def lookup(tree: dict, path: tuple) -> object:
    for key in path:
        tree = tree[key]
    return tree


@pytest.mark.parametrize(("name", "covariates", "outcome"), CASES)
def test_adjusted_ancova_matches_r(name: str, covariates: tuple[str, ...], outcome: str) -> None:
    expected = next(r for r in REFERENCE[name] if tuple(r["covariates"]) == covariates)
    expected = expected["outcomes"][outcome]
    got = result(name, covariates)["outcomes"][outcome]
    assert got["ancova"]["covariates"] == list(covariates) == expected["ancova"]["covariates"]
    checked = 0
    for path, value in leaves(expected):
        actual = lookup(got, path)
        assert isinstance(actual, (int, float)), f"{path}: {actual!r}"
        assert actual == pytest.approx(value, rel=REL, abs=0), f"{name} {covariates} {path}"
        checked += 1
    assert checked == 17


def test_reference_covers_what_the_issue_asks() -> None:
    """A three-level factor and a numeric covariate, balanced and unbalanced arms, 170 figures."""
    frame = load_long_csv(DATA / "covariates_unbalanced.csv")
    assert frame["profession"].dropna().nunique() == 3
    assert frame["year"].dtype.kind == "f"  # numeric (with missing values)
    single = frame[frame["site"] == "winter"]
    assert single["participant"].nunique() == 1  # a level held by one participant
    assert sum(len(leaves(run["outcomes"])) for runs in REFERENCE.values() for run in runs) == 170


def test_largest_relative_difference_is_reported() -> None:
    """Not an assertion beyond the tolerance: prints the largest relative difference (-s)."""
    worst = 0.0
    for name, covariates, outcome in CASES:
        expected = next(r for r in REFERENCE[name] if tuple(r["covariates"]) == covariates)
        got = result(name, covariates)["outcomes"][outcome]
        for path, value in leaves(expected["outcomes"][outcome]):
            actual = lookup(got, path)
            assert isinstance(actual, (int, float))
            if value != 0:
                worst = max(worst, abs(actual - value) / abs(value))
    print(f"largest relative difference: {worst:.3g}")
    assert worst < REL
