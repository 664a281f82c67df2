"""Assumption checks reported beside the ANCOVA: normal residuals and equal post-score spread.

The third check, homogeneity of regression slopes, lives in :mod:`analysis.ancova`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis._dist import f_sf
from analysis.errors import FigureUndefined

SHAPIRO_MAX_N = 5000  # R's shapiro.test refuses larger samples


@dataclass(frozen=True)
class ShapiroWilk:
    """Shapiro-Wilk W and its p-value."""

    W: float
    p: float


@dataclass(frozen=True)
class Levene:
    """Levene's test (Brown-Forsythe variant, centred at the median) of equal spread."""

    F: float
    df1: int
    df2: int
    p: float


def shapiro_wilk(residuals: np.ndarray) -> ShapiroWilk:
    """Shapiro-Wilk test of normality, as R's ``shapiro.test``.

    Both R and SciPy implement Royston's (1995) algorithm AS R94. Like R, samples outside
    3 <= n <= 5000 are refused (Royston's p-value approximation is validated up to 5000): with more
    residuals the test flags trivial departures anyway, so inspect a Q-Q plot instead.

    References
    ----------
    Shapiro, S. S., & Wilk, M. B. (1965). An analysis of variance test for normality (complete
    samples). *Biometrika*, 52(3-4), 591-611.
    Royston, P. (1995). Remark AS R94: A remark on algorithm AS 181: The W-test for normality.
    *Applied Statistics*, 44(4), 547-551.

    Raises
    ------
    FigureUndefined
        Fewer than 3 or more than 5000 residuals, or all residuals equal.
    """
    n = len(residuals)
    if n < 3 or n > SHAPIRO_MAX_N:
        raise FigureUndefined(
            f"Shapiro-Wilk needs 3 to {SHAPIRO_MAX_N} residuals (as R's shapiro.test), "
            f"there are {n}"
            + ("; inspect a Q-Q plot of the ANCOVA residuals instead" if n > SHAPIRO_MAX_N else "")
        )
    if np.ptp(residuals) <= 1e-12 * max(1.0, float(np.max(np.abs(residuals)))):
        raise FigureUndefined("the ANCOVA residuals are all equal: Shapiro-Wilk is undefined")
    from scipy.stats import shapiro

    result = shapiro(residuals)
    return ShapiroWilk(W=float(result.statistic), p=float(result.pvalue))


def levene_median(*groups: np.ndarray) -> Levene:
    r"""Levene's test centred at the median (Brown & Forsythe 1974), ``car::leveneTest``'s default.

    One-way ANOVA of :math:`z_{gi} = |y_{gi} - \tilde y_g|` (:math:`\tilde y_g` the group median):

    .. math::

        F = \frac{\sum_g n_g(\bar z_g - \bar z)^2 / (k - 1)}
                 {\sum_g\sum_i(z_{gi} - \bar z_g)^2 / (N - k)}

    In this design it is run on the post score by arm, the response of the ANCOVA.

    References
    ----------
    Brown, M. B., & Forsythe, A. B. (1974). Robust tests for the equality of variances. *JASA*,
    69(346), 364-367. Fox, J., & Weisberg, S. (2019). *An R Companion to Applied Regression* (car).

    Raises
    ------
    FigureUndefined
        When the absolute deviations do not vary within groups.
    """
    z = [np.abs(g - np.median(g)) for g in groups]
    n = sum(len(g) for g in z)
    k = len(z)
    grand = float(np.mean(np.concatenate(z)))
    between = sum(len(g) * (float(np.mean(g)) - grand) ** 2 for g in z)
    within = sum(float(np.sum((g - np.mean(g)) ** 2)) for g in z)
    if not any(np.ptp(g) > 0 for g in z):
        raise FigureUndefined(
            "the spread of the post score is zero within arms: Levene's test is undefined"
        )
    f = (between / (k - 1)) / (within / (n - k))
    return Levene(F=f, df1=k - 1, df2=n - k, p=f_sf(f, k - 1, n - k))
