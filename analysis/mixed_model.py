r"""Random-intercept linear mixed model ``y ~ arm * time + (1 | participant)`` fitted by REML.

With a random intercept only, the covariance of participant i's observations is
:math:`V_i = \sigma^2 (I + \gamma J)` with :math:`\gamma = \sigma_b^2 / \sigma^2`, and
:math:`V_i^{-1} = \sigma^{-2}(I - c_i J)`, :math:`c_i = \gamma / (1 + n_i\gamma)`. So
:math:`X'V^{-1}X`, :math:`X'V^{-1}y` and :math:`y'V^{-1}y` are the ordinary cross-products minus
rank-one corrections built from per-participant sums, grouped by :math:`n_i` (1 or 2 with pre and
post; 1, 2 or 3 with a follow-up). After profiling out β and σ² the REML criterion depends on γ
alone and is minimized by a grid search followed by Brent's method -- microseconds per
evaluation, whatever the number of rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis._dist import Z_975, normal_two_sided_p
from analysis.data import Observed
from analysis.errors import FigureUndefined

_GRID = np.linspace(0.0, 1.0, 41)[:-1]  # t = theta / (1 + theta), theta = sigma_b / sigma


@dataclass(frozen=True)
class WaldEstimate:
    """A fixed effect with its standard error, Wald 95% CI and Wald (normal) p-value."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p: float


@dataclass(frozen=True)
class MixedModel:
    """The arm x time interaction of the REML fit, with the data size and variance components."""

    interaction: WaldEstimate
    n_participants: int
    n_observations: int
    variance_participant: float
    variance_residual: float


@dataclass(frozen=True)
class FollowupMixedModel:
    """The arm x time interactions of the three-level REML fit (``pre`` is the reference time)."""

    interaction_post: WaldEstimate
    interaction_followup: WaldEstimate
    n_participants: int
    n_observations: int
    variance_participant: float
    variance_residual: float


@dataclass(frozen=True, eq=False)
class _CrossProducts:
    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    # one entry per distinct number of observations per participant
    sizes: np.ndarray
    counts: np.ndarray
    ss_x: np.ndarray  # sum_i s_i s_i'   (sizes x p x p)
    ss_xy: np.ndarray  # sum_i s_i Y_i   (sizes x p)
    ss_y: np.ndarray  # sum_i Y_i^2      (sizes)
    n: int

    def solve(self, gamma: float) -> tuple[float, np.ndarray, np.ndarray, float]:
        """REML criterion, β, X'WX and the residual quadratic form at variance ratio γ."""
        c = gamma / (1.0 + self.sizes * gamma)
        m = self.xtx - np.tensordot(c, self.ss_x, axes=1)
        v = self.xty - c @ self.ss_xy
        r = self.yty - float(c @ self.ss_y)
        chol = np.linalg.cholesky(m)
        beta = np.linalg.solve(m, v)
        rss = r - float(v @ beta)
        p = len(v)
        criterion = (
            float(self.counts @ np.log1p(self.sizes * gamma))
            + 2.0 * float(np.sum(np.log(np.diag(chol))))
            + (self.n - p) * math.log(rss)
        )
        return criterion, beta, m, rss


def _cross_products(observed: Observed) -> _CrossProducts:
    y = observed.y - float(np.mean(observed.y))  # centring changes only the intercept
    treated = observed.treated.astype(np.float64)
    post = observed.post.astype(np.float64)
    x = np.column_stack([np.ones_like(y), treated, post, treated * post])
    return _products(x, y, observed.subject)


def _products(x: np.ndarray, y: np.ndarray, subjects: np.ndarray) -> _CrossProducts:
    """Cross-products of the design ``x`` and the (centred) response ``y`` by participant."""
    _, subject = np.unique(subjects, return_inverse=True)
    n_subjects = int(subject.max()) + 1
    size = np.bincount(subject, minlength=n_subjects)
    sum_y = np.bincount(subject, weights=y, minlength=n_subjects)
    sum_x = np.column_stack(
        [np.bincount(subject, weights=x[:, j], minlength=n_subjects) for j in range(x.shape[1])]
    )
    sizes, group = np.unique(size, return_inverse=True)
    ss_x = np.stack([sum_x[group == g].T @ sum_x[group == g] for g in range(len(sizes))])
    ss_xy = np.stack([sum_x[group == g].T @ sum_y[group == g] for g in range(len(sizes))])
    ss_y = np.array([float(sum_y[group == g] @ sum_y[group == g]) for g in range(len(sizes))])
    return _CrossProducts(
        xtx=x.T @ x,
        xty=x.T @ y,
        yty=float(y @ y),
        sizes=sizes.astype(np.float64),
        counts=np.bincount(group).astype(np.float64),
        ss_x=ss_x,
        ss_xy=ss_xy,
        ss_y=ss_y,
        n=len(y),
    )


def random_intercept_lmm(observed: Observed) -> MixedModel:
    r"""REML fit of ``y ~ arm * time + (1 | participant)`` on all available observations.

    Arm is coded 0 (control) / 1 (treatment) and time 0 (pre) / 1 (post), so the interaction
    coefficient is the difference in pre-post change, treatment - control (lme4's
    ``armcontact:timepost`` with treatment contrasts).

    The profiled REML criterion (Bates et al. 2015, eq. 41, with :math:`\theta^2 = \gamma`) is

    .. math::

        -2\ell_R(\gamma) = \sum_i \log(1 + n_i\gamma) + \log|X'WX| + (N - p)\log r^2(\gamma)
                            + \text{const}, \quad W = \sigma^2 V^{-1}

    where :math:`r^2 = y'Wy - \hat\beta'X'Wy` and :math:`\hat\sigma^2 = r^2/(N - p)`. At the optimum
    :math:`\operatorname{Cov}(\hat\beta) = \hat\sigma^2 (X'WX)^{-1} = (X'\hat V^{-1}X)^{-1}`, the
    standard error lme4, nlme and SAS report (statsmodels' default ``bse`` differs on unbalanced
    data). The CI is :math:`\hat\beta \pm z_{0.975} SE` and the p-value two-sided normal (Wald),
    as ``confint(fit, method = "Wald")``. γ = 0 (a singular fit) is allowed, as in lme4.

    References
    ----------
    Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects models
    using lme4. *Journal of Statistical Software*, 67(1), 1-48.
    Harville, D. A. (1977). Maximum likelihood approaches to variance component estimation and to
    related problems. *JASA*, 72(358), 320-338.

    Raises
    ------
    FigureUndefined
        When an arm x time cell has no observation, no participant has both observations, or the
        model leaves no residual variance.
    """
    cells = np.bincount(observed.treated * 2 + observed.post, minlength=4)
    if (cells == 0).any():
        raise FigureUndefined("every arm needs observations at pre and post for the mixed model")
    cp = _cross_products(observed)
    if not (cp.sizes > 1).any():
        raise FigureUndefined(
            "no participant has both a pre and a post value: the participant variance is not "
            "identifiable"
        )
    gamma, beta, cov, sigma2 = _fit(cp)
    return MixedModel(
        interaction=_wald(beta, cov, 3),
        n_participants=int(cp.counts.sum()),
        n_observations=cp.n,
        variance_participant=gamma * sigma2,
        variance_residual=sigma2,
    )


def followup_lmm(observed: Observed) -> FollowupMixedModel:
    r"""REML fit of ``y ~ arm * time + (1 | participant)`` with three time points.

    All available observations (pre, post and follow-up) of every participant with a known arm.
    The design has treatment contrasts, ``pre`` the reference time: columns 1, arm, post,
    followup, arm x post, arm x followup (indicators), so ``interaction_post`` and
    ``interaction_followup`` are the differences, treatment - control, in the change from pre to
    post and from pre to follow-up (lme4's ``armcontact:timepost`` and
    ``armcontact:timefollowup``). The fit is the one of :func:`random_intercept_lmm`:
    participants now have 1, 2 or 3 observations, and the closed form
    :math:`V_i^{-1} = \sigma^{-2}(I - c_i J)` groups them by :math:`n_i`. SE from
    :math:`(X'\hat V^{-1}X)^{-1}`, Wald 95% CI and normal p.

    Raises
    ------
    FigureUndefined
        When an arm x time cell has no observation, no participant has two or more observations,
        or the model leaves no residual variance.
    """
    values = np.stack(
        [observed.pre_by_subject, observed.post_by_subject, observed.followup_by_subject]
    )
    time, subject = np.nonzero(~np.isnan(values))
    treated = observed.subject_arm[subject]
    cells = np.bincount(treated * 3 + time, minlength=6)
    if (cells == 0).any():
        raise FigureUndefined(
            "every arm needs observations at pre, post and follow-up for the mixed model"
        )
    y = values[time, subject]
    y = y - float(np.mean(y))
    arm = treated.astype(np.float64)
    post = (time == 1).astype(np.float64)
    followup = (time == 2).astype(np.float64)
    x = np.column_stack([np.ones_like(y), arm, post, followup, arm * post, arm * followup])
    cp = _products(x, y, subject)
    if not (cp.sizes > 1).any():
        raise FigureUndefined(
            "no participant has two or more values: the participant variance is not identifiable"
        )
    gamma, beta, cov, sigma2 = _fit(cp)
    return FollowupMixedModel(
        interaction_post=_wald(beta, cov, 4),
        interaction_followup=_wald(beta, cov, 5),
        n_participants=int(cp.counts.sum()),
        n_observations=cp.n,
        variance_participant=gamma * sigma2,
        variance_residual=sigma2,
    )


def _fit(cp: _CrossProducts) -> tuple[float, np.ndarray, np.ndarray, float]:
    """γ, β, Cov(β) and σ² at the REML optimum."""
    p = cp.xtx.shape[0]
    if cp.n - p < 1:
        raise FigureUndefined("too few observations for the mixed model")
    gamma = _minimize(cp)
    _, beta, xwx, rss = cp.solve(gamma)
    if rss <= 1e-12 * cp.yty:
        raise FigureUndefined(
            "the mixed model leaves no residual variance (the change is the same for everyone in "
            "an arm): it is undefined for these data"
        )
    sigma2 = rss / (cp.n - p)
    return gamma, beta, sigma2 * np.linalg.inv(xwx), sigma2


def _wald(beta: np.ndarray, cov: np.ndarray, index: int) -> WaldEstimate:
    estimate = float(beta[index])
    se = math.sqrt(float(cov[index, index]))
    return WaldEstimate(
        estimate=estimate,
        se=se,
        ci_low=estimate - Z_975 * se,
        ci_high=estimate + Z_975 * se,
        p=normal_two_sided_p(estimate / se),
    )


def _minimize(cp: _CrossProducts) -> float:
    """γ minimizing the profiled REML criterion over [0, ∞), via t = θ/(1 + θ) in [0, 1)."""
    from scipy.optimize import minimize_scalar

    def criterion(t: float) -> float:
        theta = t / (1.0 - t)
        return cp.solve(theta * theta)[0]

    values = [criterion(t) for t in _GRID]
    best = int(np.argmin(values))
    lo = _GRID[max(best - 1, 0)]
    hi = _GRID[best + 1] if best + 1 < len(_GRID) else 1.0 - 1e-9
    result = minimize_scalar(
        criterion, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12, "maxiter": 200}
    )
    t = float(result.x) if result.fun < values[0] else 0.0
    theta = t / (1.0 - t)
    return theta * theta
