"""Welch's t-test on the pre-post change, treatment - control (R: ``t.test(x, y)``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis._dist import t_quantile, t_two_sided_p
from analysis.data import PrePost
from analysis.errors import FigureUndefined


@dataclass(frozen=True)
class WelchTest:
    """Welch t-test of the mean change, with the difference and its 95% CI."""

    t: float
    df: float
    p: float
    mean_difference: float
    ci_low: float
    ci_high: float


def change_welch(data: PrePost) -> WelchTest:
    r"""Welch (1947) t-test of the change score ``post - pre`` between arms.

    With change means :math:`\bar d_g`, variances :math:`s_g^2` and sizes :math:`n_g`,
    :math:`v_g = s_g^2 / n_g`:

    .. math::

        t = \frac{\bar d_t - \bar d_c}{\sqrt{v_t + v_c}}, \quad
        \nu = \frac{(v_t + v_c)^2}{v_t^2/(n_t - 1) + v_c^2/(n_c - 1)}

    (Welch-Satterthwaite), two-sided p from t(ν) and the CI
    :math:`\bar d_t - \bar d_c \pm t_{0.975,\nu}\sqrt{v_t + v_c}`, as R's ``t.test(x, y)`` with
    ``x`` the treatment arm. The sign is treatment - control (pingouin's ``ttest`` loses it).

    References
    ----------
    Welch, B. L. (1947). The generalization of "Student's" problem when several different population
    variances are involved. *Biometrika*, 34(1-2), 28-35.

    Raises
    ------
    FigureUndefined
        When the change does not vary within either arm.
    """
    change_t = data.post_treatment - data.pre_treatment
    change_c = data.post_control - data.pre_control
    if not (np.ptp(change_t) > 0 or np.ptp(change_c) > 0):
        raise FigureUndefined(
            "the pre-post change does not vary within arms: the t-test is undefined"
        )
    n_t, n_c = len(change_t), len(change_c)
    v_t = float(np.var(change_t, ddof=1)) / n_t
    v_c = float(np.var(change_c, ddof=1)) / n_c
    se = float(np.sqrt(v_t + v_c))
    df = (v_t + v_c) ** 2 / (v_t**2 / (n_t - 1) + v_c**2 / (n_c - 1))
    difference = float(np.mean(change_t) - np.mean(change_c))
    t = difference / se
    half = t_quantile(0.975, df) * se
    return WelchTest(
        t=t,
        df=df,
        p=t_two_sided_p(t, df),
        mean_difference=difference,
        ci_low=difference - half,
        ci_high=difference + half,
    )
