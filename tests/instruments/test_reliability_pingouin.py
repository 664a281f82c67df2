"""Cronbach's alpha and its Feldt interval against pingouin, an independent implementation.

pingouin's ``cronbach_alpha`` computes the same interval (Feldt, Woodruff & Salih 1987: F quantiles
on n - 1 and (n - 1)(k - 1) df) but returns its limits rounded to 3 decimals, so the limits are
compared to within half a unit of the third decimal; alpha itself to rounding error.

pingouin is given complete respondents only: with ``nan_policy="listwise"`` it drops incomplete
rows for alpha but takes n for the interval's degrees of freedom *before* dropping them, so on data
with missing answers its interval is too narrow (the last test shows it). :func:`cronbach_alpha`
uses the complete respondents throughout, as R's ``psych::alpha`` does (the R reference test).
"""

from pathlib import Path

import pandas as pd
import pingouin as pg
import pytest

from instruments.reliability import cronbach_alpha

DATA = Path(__file__).parent / "data"
ROUNDED = 5e-4 + 1e-12  # pingouin rounds the interval to 3 decimals


@pytest.mark.parametrize("dataset", ["agree6", "ten12", "mixed5"])
@pytest.mark.parametrize("confidence", [0.95, 0.90])
def test_alpha_and_feldt_interval_equal_pingouin(dataset: str, confidence: float) -> None:
    items = pd.read_csv(DATA / f"reliability_{dataset}.csv").astype(float)
    mine = cronbach_alpha(items, confidence=confidence)
    alpha, (low, high) = pg.cronbach_alpha(items.dropna(), ci=confidence)
    assert mine.alpha == pytest.approx(alpha, rel=1e-12)
    assert mine.ci_low == pytest.approx(low, abs=ROUNDED)
    assert mine.ci_high == pytest.approx(high, abs=ROUNDED)


def test_pingouin_counts_incomplete_respondents_in_the_interval() -> None:
    items = pd.read_csv(DATA / "reliability_agree6.csv").astype(float)
    assert items.isna().any(axis=None)  # 14 of 150 respondents skipped an item
    mine = cronbach_alpha(items)
    alpha, (low, _) = pg.cronbach_alpha(items, nan_policy="listwise")
    assert mine.n == len(items.dropna()) < len(items)
    assert mine.alpha == pytest.approx(alpha, rel=1e-12)
    # Same alpha, but pingouin's df come from all 150 rows: a narrower interval.
    assert low > mine.ci_low + 5 * ROUNDED
