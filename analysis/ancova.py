"""ANCOVA of the post score on the pre score and arm, and its homogeneity-of-slopes check.

Everything is computed from within-arm centred sums of squares and cross-products, which is the
OLS fit of ``post ~ pre + arm`` written out (Maxwell & Delaney 2004, ch. 9) and avoids forming the
design matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis._dist import f_sf, t_quantile
from analysis.data import PrePost
from analysis.errors import FigureUndefined


@dataclass(frozen=True)
class ArmTest:
    """F test of arm adjusted for the pre score, with partial eta²."""

    F: float
    df1: int
    df2: int
    p: float
    np2: float


@dataclass(frozen=True)
class Difference:
    """An estimate with its standard error and 95% confidence interval."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Ancova:
    """Arm effect and pre-adjusted difference (treatment - control) of the post score."""

    arm: ArmTest
    adjusted_difference: Difference


@dataclass(frozen=True)
class SlopesTest:
    """F test of the arm x pre interaction added to the ANCOVA."""

    F: float
    df1: int
    df2: int
    p: float


@dataclass(frozen=True, eq=False)
class _ArmMoments:
    n: int
    mean_pre: float
    mean_post: float
    sxx: float
    sxy: float
    syy: float
    pre_varies: bool


@dataclass(frozen=True, eq=False)
class AncovaFit:
    """The fitted common-slope model: slope, residuals and the per-arm moments it came from."""

    control: _ArmMoments
    treatment: _ArmMoments
    slope: float
    rss: float
    residuals: np.ndarray


def fit_ancova(data: PrePost) -> AncovaFit:
    r"""Fit ``post ~ pre + arm`` by ordinary least squares.

    With per-arm centred sums :math:`S_{xx,g}`, :math:`S_{xy,g}`, :math:`S_{yy,g}` (x = pre,
    y = post) the common slope is :math:`b = \sum_g S_{xy,g} / \sum_g S_{xx,g}` and the residual sum
    of squares :math:`RSS = \sum_g S_{yy,g} - b \sum_g S_{xy,g}`.

    Raises
    ------
    FigureUndefined
        When the pre score does not vary within arms (the slope is not estimable) or the model fits
        perfectly (no residual variance).
    """
    moments = [
        _moments(data.pre_control, data.post_control),
        _moments(data.pre_treatment, data.post_treatment),
    ]
    if not any(m.pre_varies for m in moments):
        raise FigureUndefined("the pre score does not vary within arms: the ANCOVA is undefined")
    sxx = sum(m.sxx for m in moments)
    sxy = sum(m.sxy for m in moments)
    syy = sum(m.syy for m in moments)
    slope = sxy / sxx
    residuals = np.concatenate(
        [
            (data.post_control - moments[0].mean_post)
            - slope * (data.pre_control - moments[0].mean_pre),
            (data.post_treatment - moments[1].mean_post)
            - slope * (data.pre_treatment - moments[1].mean_pre),
        ]
    )
    rss = float(np.sum(residuals**2))
    if rss <= 1e-12 * syy:
        raise FigureUndefined(
            "the post score is an exact linear function of the pre score and arm: "
            "the ANCOVA has no residual variance"
        )
    return AncovaFit(moments[0], moments[1], slope, rss, residuals)


def ancova(fit: AncovaFit) -> Ancova:
    r"""Arm effect on the post score adjusted for the pre score (Vickers & Altman 2001).

    The adjusted difference (treatment - control) and its standard error are

    .. math::

        \hat\Delta = (\bar y_t - \bar y_c) - b (\bar x_t - \bar x_c), \quad
        SE = \sqrt{\frac{RSS}{N - 3}\left(\frac{1}{n_t} + \frac{1}{n_c}
             + \frac{(\bar x_t - \bar x_c)^2}{\sum_g S_{xx,g}}\right)}

    with a 95% CI from t(N - 3). The arm test is :math:`F = (\hat\Delta / SE)^2` on 1 and N - 3
    df, which equals ``car::Anova(lm(post ~ pre + arm), type = 3)`` (without interactions Type II
    and III agree for arm), and :math:`\eta^2_p = SS_{arm}/(SS_{arm} + RSS) = F / (F + N - 3)`.

    References
    ----------
    Vickers, A. J., & Altman, D. G. (2001). Analysing controlled trials with baseline and follow up
    measurements. *BMJ*, 323, 1123-1124.
    """
    c, t = fit.control, fit.treatment
    df = c.n + t.n - 3
    sxx = c.sxx + t.sxx
    estimate = (t.mean_post - c.mean_post) - fit.slope * (t.mean_pre - c.mean_pre)
    se = float(np.sqrt(fit.rss / df * (1 / t.n + 1 / c.n + (t.mean_pre - c.mean_pre) ** 2 / sxx)))
    f = (estimate / se) ** 2
    half = t_quantile(0.975, df) * se
    return Ancova(
        arm=ArmTest(F=f, df1=1, df2=df, p=f_sf(f, 1, df), np2=f / (f + df)),
        adjusted_difference=Difference(
            estimate=estimate, se=se, ci_low=estimate - half, ci_high=estimate + half
        ),
    )


def homogeneity_of_slopes(fit: AncovaFit) -> SlopesTest:
    r"""Test whether the pre-post slope differs between arms (the ANCOVA assumes it does not).

    Compares ``post ~ pre + arm`` with ``post ~ pre * arm`` (R: ``anova(m1, m2)``):
    :math:`F = (RSS - RSS_{sep}) / (RSS_{sep} / (N - 4))` on 1 and N - 4 df, where
    :math:`RSS_{sep} = \sum_g (S_{yy,g} - S_{xy,g}^2 / S_{xx,g})`.

    Raises
    ------
    FigureUndefined
        When an arm's pre score does not vary, N < 5, or the separate-slopes model fits exactly.
    """
    arms = (fit.control, fit.treatment)
    df = sum(m.n for m in arms) - 4
    if df < 1 or not all(m.pre_varies for m in arms):
        raise FigureUndefined(
            "separate slopes need at least 5 complete cases and a varying pre score in each arm"
        )
    rss_separate = sum(m.syy - m.sxy**2 / m.sxx for m in arms)
    if rss_separate <= 1e-12 * sum(m.syy for m in arms):
        raise FigureUndefined("the separate-slopes model fits exactly: the test is undefined")
    f = (fit.rss - rss_separate) / (rss_separate / df)
    return SlopesTest(F=f, df1=1, df2=df, p=f_sf(f, 1, df))


def _moments(pre: np.ndarray, post: np.ndarray) -> _ArmMoments:
    mean_pre, mean_post = float(np.mean(pre)), float(np.mean(post))
    x, y = pre - mean_pre, post - mean_post
    return _ArmMoments(
        n=len(pre),
        mean_pre=mean_pre,
        mean_post=mean_post,
        sxx=float(x @ x),
        sxy=float(x @ y),
        syy=float(y @ y),
        pre_varies=bool(np.ptp(pre) > 0),
    )
