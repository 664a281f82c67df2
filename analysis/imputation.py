r"""Multiple imputation of missing post scores for the ANCOVA (DESIGN §6 "Missing outcomes").

The sensitivity analysis ``outcomes.<outcome>.sensitivity.multiple_imputation`` in three steps:

1. :func:`impute_post` draws ``m`` completed datasets. Within each arm, a missing post score is
   drawn from the Bayesian normal linear regression of post on pre fitted to the arm's
   participants with both scores (mice's ``"norm"`` method; van Buuren 2018, algorithm 3.1).
2. :func:`ancova_per_dataset` fits ``post ~ pre + arm`` by OLS to each completed dataset (the
   closed form of :mod:`analysis.ancova`, vectorised over the datasets): the arm coefficient and
   its standard error.
3. :func:`pool_rubin` pools the ``m`` estimates by Rubin's rules with the Barnard & Rubin (1999)
   small-sample degrees of freedom, as ``mice::pool`` does.

Participants without a pre score are left out: the imputation model and the ANCOVA both need it.
The draws use numpy's ``Generator`` (PCG64) seeded with ``seed``, started afresh for every
outcome, so an outcome's figures depend only on its data, ``m`` and ``seed`` (not on which other
outcomes are analysed) and a rerun gives the same figures. The random numbers are not R's, so the
imputed values differ from a ``mice()`` run; the pooling is checked against ``mice::pool`` on the
very datasets drawn here (``tests/analysis/r/mi.R``).

References
----------
van Buuren, S. (2018). *Flexible Imputation of Missing Data* (2nd ed.), section 3.2.2,
algorithm 3.1. Chapman & Hall/CRC.

Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.

Barnard, J., & Rubin, D. B. (1999). Small-sample degrees of freedom with multiple imputation.
*Biometrika*, 86, 948-955.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from analysis._dist import t_quantile, t_two_sided_p
from analysis.data import Observed
from analysis.errors import AnalysisInputError, FigureUndefined

DEFAULT_M = 50
#: The seed used where no analysis plan gives one (a CSV): fixed, so a rerun gives the same figures.
DEFAULT_SEED = 20250409
#: ``analyze``'s default multiple-imputation settings (a CSV has no plan to take them from).
DEFAULT_MI = MappingProxyType({"m": DEFAULT_M, "seed": DEFAULT_SEED})
MAX_M = 1000
# mice::pool's floor on lambda in the Barnard-Rubin df (keeps the df finite when B = 0).
_LAMBDA_FLOOR = 1e-4


def mi_settings(mi: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """``(m, seed)`` from settings such as an analysis plan's ``mi``; None stays None.

    A missing key takes its default (``m`` 50, ``seed`` :data:`DEFAULT_SEED`).

    Raises
    ------
    AnalysisInputError
        Not a mapping, unknown keys, ``m`` not a whole number from 2 to 1000, or ``seed`` not a
        whole number from 0.
    """
    if mi is None:
        return None
    if not isinstance(mi, Mapping):
        raise AnalysisInputError('mi must be settings such as {"m": 50, "seed": 12345}')
    unknown = sorted(map(str, set(mi) - {"m", "seed"}))
    if unknown:
        raise AnalysisInputError(f"mi has unknown keys {', '.join(unknown)} (allowed: m, seed)")
    m, seed = mi.get("m", DEFAULT_M), mi.get("seed", DEFAULT_SEED)
    if not _whole(m) or not 2 <= m <= MAX_M:
        raise AnalysisInputError(f"mi.m must be a whole number from 2 to {MAX_M}, not {m!r}")
    if not _whole(seed) or seed < 0:
        raise AnalysisInputError(f"mi.seed must be a whole number from 0, not {seed!r}")
    return int(m), int(seed)


def _whole(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class MultipleImputation:
    """Pooled arm effect (treatment - control) of ``post ~ pre + arm`` over ``m`` imputations."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    m: int
    df: float
    seed: int


@dataclass(frozen=True)
class RubinPool:
    """Rubin's rules for one scalar estimate, with ``mice::pool``'s column names."""

    estimate: float
    ubar: float
    b: float
    t: float
    dfcom: float
    df: float
    riv: float
    lambda_: float
    fmi: float

    @property
    def se(self) -> float:
        return float(np.sqrt(self.t))


@dataclass(frozen=True, eq=False)
class Imputed:
    """``m`` completed datasets of the participants with a pre score.

    ``post`` has one row per dataset; observed post scores are the same in every row, the others
    (``imputed`` is True) are draws. ``subject`` holds the participants' codes
    (:class:`analysis.data.Design`), ``treated`` their arm (0 control, 1 treatment).
    """

    subject: np.ndarray
    treated: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    imputed: np.ndarray


def multiple_imputation(
    observed: Observed, m: int = DEFAULT_M, seed: int = DEFAULT_SEED
) -> MultipleImputation:
    r"""The ANCOVA arm effect with missing post scores multiply imputed, pooled by Rubin's rules.

    With :math:`\hat Q_j` and :math:`U_j = SE_j^2` the arm coefficient of ``post ~ pre + arm`` and
    its squared SE in completed dataset :math:`j` (:func:`ancova_per_dataset`), the pooled
    estimate is :math:`\bar Q`, its SE :math:`\sqrt T` (:func:`pool_rubin`), the 95% CI
    :math:`\bar Q \pm t_{0.975,\nu}\sqrt T` and p from :math:`t = \bar Q/\sqrt T` on the
    Barnard-Rubin :math:`\nu` (``summary(pool(fit), conf.int = TRUE)`` in R). Without missing
    post scores the ``m`` datasets are identical, B = 0 and the result is the complete-case
    ANCOVA (the df is then mice's, slightly below N - 3: see :func:`barnard_rubin_df`).

    Participants without a pre score are left out (neither imputed nor analysed).

    Raises
    ------
    FigureUndefined
        An arm with missing post scores has fewer than 3 participants with both scores, or their
        pre score does not vary (nothing to impute from); the ANCOVA of a completed dataset is
        undefined.
    """
    imputed = impute_post(observed, m, seed)
    estimates, variances, dfcom = ancova_per_dataset(imputed)
    pooled = pool_rubin(estimates, variances, dfcom)
    se = pooled.se
    half = t_quantile(0.975, pooled.df) * se
    return MultipleImputation(
        estimate=pooled.estimate,
        se=se,
        ci_low=pooled.estimate - half,
        ci_high=pooled.estimate + half,
        p=t_two_sided_p(pooled.estimate / se, pooled.df),
        m=m,
        df=pooled.df,
        seed=seed,
    )


def impute_post(observed: Observed, m: int = DEFAULT_M, seed: int = DEFAULT_SEED) -> Imputed:
    """Draw ``m`` completed datasets: missing post scores imputed by arm (:func:`draw_norm`).

    The generator ``numpy.random.default_rng(seed)`` serves the control arm first, then the
    treatment arm; an arm without missing post scores draws nothing.

    Raises
    ------
    FigureUndefined
        ``m`` < 2, or an arm cannot be imputed (see :func:`multiple_imputation`).
    """
    if m < 2:
        raise FigureUndefined("multiple imputation needs at least m = 2 imputations")
    has_pre = (observed.subject_arm >= 0) & ~np.isnan(observed.pre_by_subject)
    subject = np.flatnonzero(has_pre)
    treated = observed.subject_arm[subject]
    pre = observed.pre_by_subject[subject]
    post_observed = observed.post_by_subject[subject]
    missing = np.isnan(post_observed)
    post = np.broadcast_to(post_observed, (m, len(subject))).copy()
    rng = np.random.default_rng(seed)
    for code, arm in enumerate(observed.design.arms):
        in_arm = treated == code
        absent = in_arm & missing
        if not absent.any():
            continue
        present = in_arm & ~missing
        if present.sum() < 3:
            raise FigureUndefined(
                f"arm {arm!r} has {int(present.sum())} participants with pre and post scores of "
                f"{observed.name!r}: at least 3 are needed to impute its "
                f"{int(absent.sum())} missing post scores"
            )
        if np.ptp(pre[present]) == 0:
            raise FigureUndefined(
                f"the pre score of {observed.name!r} does not vary among arm {arm!r}'s "
                "participants with a post score: the imputation model is undefined"
            )
        post[:, absent] = draw_norm(rng, pre[present], post_observed[present], pre[absent], m)
    return Imputed(subject=subject, treated=treated, pre=pre, post=post, imputed=missing)


def draw_norm(
    rng: np.random.Generator, x_obs: np.ndarray, y_obs: np.ndarray, x_mis: np.ndarray, m: int
) -> np.ndarray:
    r"""``m`` draws of missing ``y`` by Bayesian normal linear regression on ``x`` (mice "norm").

    Van Buuren's algorithm 3.1 with the design matrix :math:`X = [1, x - \bar x_{obs}]` (the same
    model as :math:`[1, x]`; centring makes :math:`X'X = \mathrm{diag}(n_1, S_{xx})`, so its
    inverse and Cholesky root are explicit). With the OLS fit :math:`\hat\beta` and residual sum of
    squares RSS of the :math:`n_1` observed cases, for each imputation independently

    .. math::

        \dot g \sim \chi^2_{\nu},\ \nu = \max(n_1 - 2, 1), \quad
        \dot\sigma^2 = RSS / \dot g, \quad
        \dot\beta = \hat\beta + \dot\sigma\, V^{1/2} \dot z_1,\ V = (X'X)^{-1}, \quad
        \dot y = X_{mis}\dot\beta + \dot\sigma\, \dot z_2

    with :math:`\dot z_1 \sim N(0, I_2)`, :math:`\dot z_2 \sim N(0, I_{n_0})`. Drawn in the order
    :math:`\dot g` (m), :math:`\dot z_1` (m x 2), :math:`\dot z_2` (m x n_0). mice (3.15) fits
    by QR without a ridge unless :math:`X'X` is singular; here a singular :math:`X'X` (a constant
    ``x_obs``) is the caller's to refuse.

    Returns
    -------
    numpy.ndarray
        Shape (m, len(x_mis)).
    """
    n1 = len(x_obs)
    x_mean, y_mean = float(np.mean(x_obs)), float(np.mean(y_obs))
    xc = x_obs - x_mean
    sxx = float(xc @ xc)
    slope = float(xc @ (y_obs - y_mean)) / sxx
    residuals = (y_obs - y_mean) - slope * xc
    rss = float(residuals @ residuals)
    g = rng.chisquare(max(n1 - 2, 1), size=m)
    z1 = rng.standard_normal((m, 2))
    z2 = rng.standard_normal((m, len(x_mis)))
    sigma = np.sqrt(rss / g)
    intercept = y_mean + sigma * z1[:, 0] / np.sqrt(n1)
    slopes = slope + sigma * z1[:, 1] / np.sqrt(sxx)
    return (
        intercept[:, None]
        + slopes[:, None] * (x_mis - x_mean)[None, :]
        + sigma[:, None] * z2
    )


def ancova_per_dataset(imputed: Imputed) -> tuple[np.ndarray, np.ndarray, int]:
    r"""The arm coefficient of ``post ~ pre + arm`` and its squared SE in every completed dataset.

    The closed form of :func:`analysis.ancova.ancova` applied to each row of ``imputed.post`` at
    once: with per-arm centred sums :math:`S_{xx,g}` (the same in every dataset),
    :math:`S_{xy,g}`, :math:`S_{yy,g}`, the common slope :math:`b = \sum S_{xy}/\sum S_{xx}`,
    :math:`RSS = \sum S_{yy} - b \sum S_{xy}`, the estimate
    :math:`(\bar y_t - \bar y_c) - b(\bar x_t - \bar x_c)` and the variance
    :math:`RSS/(N-3)\,(1/n_t + 1/n_c + (\bar x_t - \bar x_c)^2/\sum S_{xx})` (R: ``lm``'s
    coefficient and ``vcov``).

    Returns
    -------
    tuple
        Estimates (m,), variances (m,) and the complete-data residual df N - 3 (``dfcom``).

    Raises
    ------
    FigureUndefined
        The pre score does not vary within arms, or a completed dataset fits exactly.
    """
    post = imputed.post
    means_pre, means_post, counts = [], [], []
    sxx = 0.0
    sxy = np.zeros(len(post))
    syy = np.zeros(len(post))
    for code in (0, 1):
        in_arm = imputed.treated == code
        x = imputed.pre[in_arm]
        y = post[:, in_arm]
        x_mean = float(np.mean(x))
        y_mean = y.mean(axis=1)
        xc = x - x_mean
        yc = y - y_mean[:, None]
        sxx += float(xc @ xc)
        sxy += yc @ xc
        syy += np.einsum("ij,ij->i", yc, yc)
        means_pre.append(x_mean)
        means_post.append(y_mean)
        counts.append(len(x))
    if sxx == 0:
        raise FigureUndefined("the pre score does not vary within arms: the ANCOVA is undefined")
    slope = sxy / sxx
    rss = syy - slope * sxy
    if np.any(rss <= 1e-12 * syy):
        raise FigureUndefined(
            "a completed dataset fits post ~ pre + arm exactly: the ANCOVA has no residual variance"
        )
    dfcom = counts[0] + counts[1] - 3
    gap = means_pre[1] - means_pre[0]
    estimates = (means_post[1] - means_post[0]) - slope * gap
    variances = rss / dfcom * (1 / counts[0] + 1 / counts[1] + gap**2 / sxx)
    return estimates, variances, dfcom


def pool_rubin(estimates: np.ndarray, variances: np.ndarray, dfcom: float) -> RubinPool:
    r"""Rubin's rules for ``m`` estimates and their squared SEs, as ``mice::pool`` (rubin1987).

    .. math::

        \bar Q = \frac1m \sum_j \hat Q_j, \quad \bar U = \frac1m \sum_j U_j, \quad
        B = \frac{1}{m-1} \sum_j (\hat Q_j - \bar Q)^2, \quad
        T = \bar U + (1 + 1/m) B,

    ``riv`` :math:`r = (1 + 1/m)B/\bar U`, ``lambda`` :math:`\lambda = (1 + 1/m)B/T`, ``fmi``
    :math:`(r + 2/(\nu + 3))/(r + 1)` and the df :math:`\nu` of :func:`barnard_rubin_df`.
    """
    q = np.asarray(estimates, dtype=np.float64)
    u = np.asarray(variances, dtype=np.float64)
    m = len(q)
    if m < 2:
        raise FigureUndefined("Rubin's rules need at least 2 imputations")
    qbar = float(np.mean(q))
    ubar = float(np.mean(u))
    b = float(np.var(q, ddof=1))
    t = ubar + (1 + 1 / m) * b
    df = barnard_rubin_df(m, b, t, dfcom)
    riv = (1 + 1 / m) * b / ubar
    return RubinPool(
        estimate=qbar,
        ubar=ubar,
        b=b,
        t=t,
        dfcom=float(dfcom),
        df=df,
        riv=riv,
        lambda_=(1 + 1 / m) * b / t,
        fmi=(riv + 2 / (df + 3)) / (riv + 1),
    )


def barnard_rubin_df(m: int, b: float, t: float, dfcom: float) -> float:
    r"""Barnard & Rubin's (1999) small-sample df, exactly as mice's ``barnard.rubin``.

    .. math::

        \lambda = \max\left(\frac{(1 + 1/m)B}{T}, 10^{-4}\right), \quad
        \nu_{old} = \frac{m - 1}{\lambda^2}, \quad
        \nu_{obs} = \frac{\nu_{com} + 1}{\nu_{com} + 3}\,\nu_{com}(1 - \lambda), \quad
        \nu = \frac{\nu_{old}\,\nu_{obs}}{\nu_{old} + \nu_{obs}}

    The floor on :math:`\lambda` is mice's: with B = 0 (nothing imputed) :math:`\nu` is then
    about :math:`\nu_{obs}`, a little below the complete-data df :math:`\nu_{com}`.
    """
    lam = max((1 + 1 / m) * b / t, _LAMBDA_FLOOR)
    df_old = (m - 1) / lam**2
    df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return df_old * df_obs / (df_old + df_obs)
