"""Arm x time split-plot ANOVA with Type III sums of squares, as R's ``afex::aov_ez``.

With two time points the repeated-measures ANOVA reduces exactly to two between-arm analyses of
per-participant scores (Maxwell & Delaney 2004, ch. 14): the sum ``s = pre + post`` carries the
arm effect, the difference ``d = post - pre`` the time effect and the arm x time interaction. This
is what ``car::Anova`` does for a multivariate linear model with a within-subject design: each term
is tested on the transformed response ``y P`` whose contrast matrix ``P`` comes from sum-to-zero
contrasts.

With a follow-up (three time points, :func:`mixed_anova_followup`) the same tests come from the
per-arm mean vectors and the pooled within-arm cross-product matrix of the three scores, with the
Greenhouse-Geisser epsilon for the within-participant effects.
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


@dataclass(frozen=True)
class CorrectedEffect:
    """A within-participant effect with the Greenhouse-Geisser epsilon and corrected p-value.

    ``df1``, ``df2`` and ``p`` are uncorrected; ``p_gg`` is the p-value of the same F on
    ``gg_epsilon * df1`` and ``gg_epsilon * df2`` degrees of freedom.
    """

    F: float
    df1: int
    df2: int
    p: float
    np2: float
    ges: float
    gg_epsilon: float
    p_gg: float


@dataclass(frozen=True)
class FollowupAnova:
    """The three effects of the 2 (arm) x 3 (pre, post, follow-up) split-plot design."""

    arm: Effect
    time: CorrectedEffect
    interaction: CorrectedEffect


# Orthonormal contrasts of three time points (the columns are orthogonal to (1, 1, 1)).
_CONTRASTS = np.array(
    [[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]
).T / np.sqrt([2.0, 6.0])


def mixed_anova_followup(control: np.ndarray, treatment: np.ndarray) -> FollowupAnova:
    r"""Type III split-plot ANOVA of arm x time (pre, post, follow-up), as ``afex::aov_ez``.

    ``control`` and ``treatment`` are ``n_g x 3`` arrays of the participants with all three
    scores. The univariate tests are those ``car::Anova`` derives from the multivariate linear
    model ``Y ~ arm`` (sum-to-zero contrasts, Type III) with the within-participant design
    ``~ time``: with arm means :math:`m_c`, :math:`m_t` (3-vectors), the unweighted grand mean
    :math:`b_0 = (m_c + m_t)/2`, the arm coefficient :math:`b_1 = (m_c - m_t)/2`, its variance
    factor :math:`v = (1/n_c + 1/n_t)/4` and the pooled within-arm SSCP matrix :math:`E`,

    .. math::

        SS_{arm} = \frac{(1'b_1)^2}{3v}, \quad SS_{E,between} = \frac{1'E1}{3}

        SS_{time} = \frac{\lVert P'b_0 \rVert^2}{v}, \quad
        SS_{arm \times time} = \frac{\lVert P'b_1 \rVert^2}{v}, \quad
        SS_{E,within} = \operatorname{tr}(P'EP)

    with :math:`P` orthonormal contrasts of time (3 x 2). F has 1 and N - 2 df for arm, 2 and
    2(N - 2) for time and the interaction. The Greenhouse-Geisser epsilon (Greenhouse & Geisser
    1959; car's ``GG``, used by afex's ``anova_table`` and ``summary``) is
    :math:`\hat\varepsilon = \operatorname{tr}(M)^2 / (2 \operatorname{tr}(M^2))`,
    :math:`M = P'EP`, the same for time and the interaction (they share the error term); the
    corrected p-value evaluates F on :math:`\hat\varepsilon` times both df. Effect sizes as in
    :func:`mixed_anova`: :math:`\eta^2_p = SS/(SS + SS_E)`,
    :math:`\eta^2_G = SS/(SS + SS_{E,between} + SS_{E,within})`.

    References
    ----------
    Greenhouse, S. W., & Geisser, S. (1959). On methods in the analysis of profile data.
    *Psychometrika*, 24(2), 95-112.
    Fox, J., & Weisberg, S. (2019). *An R Companion to Applied Regression* (3rd ed.), appendix on
    multivariate linear models (``car::Anova`` for repeated measures).

    Raises
    ------
    FigureUndefined
        When an arm has fewer than 2 participants, or the participants' mean scores or their
        changes over time do not vary within arms (an error term is zero).
    """
    if min(len(control), len(treatment)) < 2:
        raise FigureUndefined("at least 2 participants per arm with all three scores are needed")
    n_c, n_t = len(control), len(treatment)
    n = n_c + n_t
    means = [np.mean(g, axis=0) for g in (control, treatment)]
    centred = [g - m for g, m in zip((control, treatment), means, strict=True)]
    e = sum(c.T @ c for c in centred)
    ones = np.ones(3)
    sse_between = float(ones @ e @ ones) / 3.0
    m = _CONTRASTS.T @ e @ _CONTRASTS
    sse_within = float(np.trace(m))
    if sse_between <= 0.0:
        raise FigureUndefined(
            "the mean of the three scores does not vary within arms: the arm F is undefined")
    if sse_within <= 1e-12 * float(np.trace(e)) or sse_within <= 0.0:
        raise FigureUndefined(
            "the changes over time do not vary within arms: the time and interaction F are "
            "undefined")
    v = (1.0 / n_c + 1.0 / n_t) / 4.0
    b0 = (means[0] + means[1]) / 2.0
    b1 = (means[0] - means[1]) / 2.0
    ss_arm = float(ones @ b1) ** 2 / (3.0 * v)
    ss_time = float(np.sum((_CONTRASTS.T @ b0) ** 2)) / v
    ss_interaction = float(np.sum((_CONTRASTS.T @ b1) ** 2)) / v
    total_error = sse_between + sse_within
    epsilon = sse_within**2 / (2.0 * float(np.sum(m * m)))
    df_error = n - 2

    def within(ss: float) -> CorrectedEffect:
        f = (ss / 2.0) / (sse_within / (2 * df_error))
        return CorrectedEffect(
            F=f,
            df1=2,
            df2=2 * df_error,
            p=f_sf(f, 2, 2 * df_error),
            np2=ss / (ss + sse_within),
            ges=ss / (ss + total_error),
            gg_epsilon=epsilon,
            p_gg=f_sf(f, 2 * epsilon, 2 * df_error * epsilon),
        )

    f_arm = ss_arm / (sse_between / df_error)
    return FollowupAnova(
        arm=Effect(
            F=f_arm,
            df1=1,
            df2=df_error,
            p=f_sf(f_arm, 1, df_error),
            np2=ss_arm / (ss_arm + sse_between),
            ges=ss_arm / (ss_arm + total_error),
        ),
        time=within(ss_time),
        interaction=within(ss_interaction),
    )
