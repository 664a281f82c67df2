"""Standardized effect sizes: Hedges' g on the post score and Morris's d_ppc2."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis._dist import Z_975, noncentral_t_ncp
from analysis.data import PrePost
from analysis.errors import FigureUndefined


@dataclass(frozen=True)
class EffectSize:
    """A standardized difference (treatment - control) with its 95% confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class MorrisD(EffectSize):
    """d_ppc2 with the sampling variance and the pooled pre-post correlation it used."""

    variance: float
    pre_post_correlation: float


def hedges_correction(df: float) -> float:
    r"""Exact small-sample correction of Hedges' g (Hedges 1981), computed on the log scale.

    :math:`J(\nu) = \Gamma(\nu/2) / (\sqrt{\nu/2}\, \Gamma((\nu - 1)/2))`.
    """
    return math.exp(math.lgamma(df / 2) - 0.5 * math.log(df / 2) - math.lgamma((df - 1) / 2))


def hedges_g_post(data: PrePost) -> EffectSize:
    r"""Hedges' g of the post score, pooled SD, as ``effectsize::hedges_g(pooled_sd = TRUE)``.

    With :math:`s_p^2 = ((n_t - 1)s_t^2 + (n_c - 1)s_c^2)/(N - 2)`, :math:`\nu = N - 2`,
    :math:`h = 1/n_t + 1/n_c`:

    .. math::

        d = (\bar y_t - \bar y_c) / s_p, \quad g = J(\nu)\, d, \quad t = d / \sqrt{h}

    The 95% CI inverts the noncentral t (Steiger & Fouladi 1997): find :math:`\lambda_L`,
    :math:`\lambda_U` with :math:`P(T_{\nu,\lambda_L} \le t) = 0.975` and
    :math:`P(T_{\nu,\lambda_U} \le t) = 0.025`; the limits are :math:`J(\nu)\lambda\sqrt{h}` --
    effectsize (0.8) and MBESS scale the CI of d by the same J. The roots are found to machine
    precision with Brent's method; effectsize uses Nelder-Mead to an absolute tolerance of 1e-9 on
    the probabilities, so its limits may differ in the ninth digit.

    References
    ----------
    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. *Journal of Educational Statistics*, 6(2), 107-128.
    Steiger, J. H., & Fouladi, R. T. (1997). Noncentrality interval estimation and the evaluation of
    statistical models. In *What if there were no significance tests?* (pp. 221-257).
    Ben-Shachar, M. S., Lüdecke, D., & Makowski, D. (2020). effectsize: Estimation of effect size
    indices and standardized parameters. *JOSS*, 5(56), 2815.

    Raises
    ------
    FigureUndefined
        When the post score does not vary within arms.
    """
    post_t, post_c = data.post_treatment, data.post_control
    if not (np.ptp(post_t) > 0 or np.ptp(post_c) > 0):
        raise FigureUndefined("the post score does not vary within arms: Hedges' g is undefined")
    n_t, n_c = len(post_t), len(post_c)
    df = n_t + n_c - 2
    pooled_sd = _pooled_sd(post_t, post_c)
    d = float(np.mean(post_t) - np.mean(post_c)) / pooled_sd
    h = 1 / n_t + 1 / n_c
    t = d / math.sqrt(h)
    j = hedges_correction(df)
    low = noncentral_t_ncp(t, df, 0.975)
    high = noncentral_t_ncp(t, df, 0.025)
    return EffectSize(
        estimate=j * d, ci_low=j * low * math.sqrt(h), ci_high=j * high * math.sqrt(h)
    )


def d_ppc2(data: PrePost) -> MorrisD:
    r"""Morris's (2008) pretest-posttest-control effect size :math:`d_{ppc2}` with a 95% CI.

    .. math::

        d_{ppc2} = c_p \frac{(\bar y_{post,t} - \bar y_{pre,t})
                            - (\bar y_{post,c} - \bar y_{pre,c})}{s_{pre}}, \quad
        c_p = 1 - \frac{3}{4(n_t + n_c - 2) - 1}

    with :math:`s_{pre}` the pooled within-arm SD of the pre score (Morris 2008, eq. 8). Its
    sampling variance (eq. 25), with :math:`k = (n_t + n_c)/(n_t n_c)`, the estimate substituted for
    δ and ρ the pooled within-arm pre-post correlation:

    .. math::

        \sigma^2 = 2 c_p^2 (1 - \rho)\, k\, \frac{n_t + n_c - 2}{n_t + n_c - 4}
                   \left(1 + \frac{\delta^2}{2(1 - \rho) k}\right) - \delta^2

    The CI is :math:`d_{ppc2} \pm z_{0.975}\sigma`. ρ is the correlation of the deviations of pre
    and post from their arm means (the correlation of the pooled within-arm covariance matrix). The
    variance is evaluated in the expanded form
    :math:`c_p^2 \frac{N-2}{N-4}(2(1-\rho)k + \delta^2) - \delta^2`, equal and defined at ρ = 1.

    References
    ----------
    Morris, S. B. (2008). Estimating effect sizes from pretest-posttest-control group designs.
    *Organizational Research Methods*, 11(2), 364-386.

    Raises
    ------
    FigureUndefined
        When the pre or post score does not vary within arms, or there are only 4 complete cases
        (eq. 25 divides by N - 4).
    """
    pre_t, post_t = data.pre_treatment, data.post_treatment
    pre_c, post_c = data.pre_control, data.post_control
    if not (np.ptp(pre_t) > 0 or np.ptp(pre_c) > 0):
        raise FigureUndefined("the pre score does not vary within arms: d_ppc2 is undefined")
    n_t, n_c = len(pre_t), len(pre_c)
    n = n_t + n_c
    cp = 1 - 3 / (4 * (n - 2) - 1)
    change_difference = float(
        (np.mean(post_t) - np.mean(pre_t)) - (np.mean(post_c) - np.mean(pre_c))
    )
    d = cp * change_difference / _pooled_sd(pre_t, pre_c)
    dev_pre = np.concatenate([pre_t - np.mean(pre_t), pre_c - np.mean(pre_c)])
    dev_post = np.concatenate([post_t - np.mean(post_t), post_c - np.mean(post_c)])
    post_ss = float(dev_post @ dev_post)
    if post_ss == 0:
        raise FigureUndefined("the post score does not vary within arms: d_ppc2's CI is undefined")
    rho = float(dev_pre @ dev_post) / math.sqrt(float(dev_pre @ dev_pre) * post_ss)
    if n <= 4:
        raise FigureUndefined(
            "d_ppc2's variance (Morris 2008, eq. 25) needs more than 4 complete cases"
        )
    k = n / (n_t * n_c)
    variance = cp**2 * (n - 2) / (n - 4) * (2 * (1 - rho) * k + d**2) - d**2
    half = Z_975 * math.sqrt(variance)
    return MorrisD(
        estimate=d,
        ci_low=d - half,
        ci_high=d + half,
        variance=variance,
        pre_post_correlation=rho,
    )


def _pooled_sd(a: np.ndarray, b: np.ndarray) -> float:
    ss = float(np.sum((a - np.mean(a)) ** 2) + np.sum((b - np.mean(b)) ** 2))
    return math.sqrt(ss / (len(a) + len(b) - 2))
