"""Arm x time split-plot ANOVA with Type III sums of squares, as R's ``afex::aov_ez``.

With two time points the repeated-measures ANOVA reduces exactly to two between-arm analyses of
per-participant scores (Maxwell & Delaney 2004, ch. 14): the sum ``s = pre + post`` carries the
arm effect, the difference ``d = post - pre`` the time effect and the arm x time interaction. This
is what ``car::Anova`` does for a multivariate linear model with a within-subject design: each term
is tested on the transformed response ``y P`` whose contrast matrix ``P`` comes from sum-to-zero
contrasts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis._dist import f_sf
from analysis.data import PrePost
from analysis.errors import FigureUndefined


@dataclass(frozen=True)
class Effect:
    """One row of the ANOVA table: ``F(df1, df2)``, its p-value, partial and generalized eta²."""

    F: float
    df1: int
    df2: int
    p: float
    np2: float
    ges: float


@dataclass(frozen=True)
class MixedAnova:
    """The three effects of the 2 x 2 split-plot design."""

    arm: Effect
    time: Effect
    interaction: Effect


def mixed_anova(data: PrePost) -> MixedAnova:
    r"""Type III split-plot ANOVA of arm (between) x time (within) on complete cases.

    With ``n_c``, ``n_t`` participants per arm, ``N = n_c + n_t``, per-participant sums
    :math:`s = y_{pre} + y_{post}` and differences :math:`d = y_{post} - y_{pre}` with arm means
    :math:`\bar s_g`, :math:`\bar d_g`:

    .. math::

        SS_{arm} = \frac{n_c n_t}{N} (\bar s_t - \bar s_c)^2, \quad
        SS_{E,between} = \sum_g \sum_i (s_{gi} - \bar s_g)^2

        SS_{time} = \frac{\left((\bar d_c + \bar d_t)/2\right)^2}{(1/n_c + 1/n_t)/4}, \quad
        SS_{arm \times time} = \frac{n_c n_t}{N} (\bar d_t - \bar d_c)^2, \quad
        SS_{E,within} = \sum_g \sum_i (d_{gi} - \bar d_g)^2

    Each :math:`F = SS / (SS_E / (N - 2))` on 1 and ``N - 2`` df. Type III (sum-to-zero contrasts)
    tests time against the *unweighted* mean of the arm means of ``d``; Type II (pingouin) uses the
    weighted mean, which differs when arms are unequal. Both ``s`` and ``d`` are on the scale of
    ``car``'s contrast columns (1, 1) and (1, -1), so the sums of squares are those in afex's table.

    Effect sizes: partial eta² :math:`\eta^2_p = SS / (SS + SS_E)` of the effect's own error term;
    generalized eta² (Olejnik & Algina 2003, all factors manipulated; Bakeman 2005)
    :math:`\eta^2_G = SS / (SS + SS_{E,between} + SS_{E,within})`, afex's ``ges``.

    References
    ----------
    Olejnik, S., & Algina, J. (2003). Generalized eta and omega squared statistics. *Psychological
    Methods*, 8(4), 434-447.
    Singmann, H. et al. afex: Analysis of factorial experiments (R package).

    Raises
    ------
    FigureUndefined
        When the sums or the differences do not vary within arms (an error term is zero).
    """
    pre = (data.pre_control, data.pre_treatment)
    post = (data.post_control, data.post_treatment)
    sums = [a + b for a, b in zip(pre, post, strict=True)]
    diffs = [b - a for a, b in zip(pre, post, strict=True)]
    if not any(np.ptp(s) > 0 for s in sums):
        raise FigureUndefined("pre + post does not vary within arms: the arm F is undefined")
    if not any(np.ptp(d) > 0 for d in diffs):
        raise FigureUndefined(
            "the pre-post change does not vary within arms: "
            "the time and interaction F are undefined"
        )
    n_c, n_t = data.n_control, data.n_treatment
    n = n_c + n_t
    df2 = n - 2
    mean_s = [float(np.mean(s)) for s in sums]
    mean_d = [float(np.mean(d)) for d in diffs]
    sse_between = sum(float(np.sum((s - m) ** 2)) for s, m in zip(sums, mean_s, strict=True))
    sse_within = sum(float(np.sum((d - m) ** 2)) for d, m in zip(diffs, mean_d, strict=True))
    ss_arm = n_c * n_t / n * (mean_s[1] - mean_s[0]) ** 2
    ss_time = ((mean_d[0] + mean_d[1]) / 2) ** 2 / ((1 / n_c + 1 / n_t) / 4)
    ss_interaction = n_c * n_t / n * (mean_d[1] - mean_d[0]) ** 2
    total_error = sse_between + sse_within

    def effect(ss: float, sse: float) -> Effect:
        f = ss / (sse / df2)
        return Effect(
            F=f,
            df1=1,
            df2=df2,
            p=f_sf(f, 1, df2),
            np2=ss / (ss + sse),
            ges=ss / (ss + total_error),
        )

    return MixedAnova(
        arm=effect(ss_arm, sse_between),
        time=effect(ss_time, sse_within),
        interaction=effect(ss_interaction, sse_within),
    )
