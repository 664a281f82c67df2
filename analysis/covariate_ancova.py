r"""The ANCOVA adjusted for baseline covariates: ``outcome ~ baseline + arm + covariates``.

DESIGN.md section 6 ("Statistical analysis plan"): with covariates the primary model is
``post ~ pre + arm + covariates`` (and ``followup ~ pre + arm + covariates`` when the primary time
is the follow-up; the functions here take the outcome and baseline columns as arguments so both use
them). Categorical covariates enter as factors, treatment-coded with the first level in sorted
order as the reference (as R codes a factor of strings); numeric covariates enter as numbers.

The model is fitted by ordinary least squares (a QR decomposition of the design matrix). The arm
has one degree of freedom, so its Type III F test (``car::Anova(fit, type = 3)``) is the square of
the arm coefficient's t statistic, whatever the contrasts of the other terms: the Type III sum of
squares of a term is the increase in RSS when its columns are dropped from the full model, and
without an interaction involving arm the arm column's contribution does not depend on how the
covariate factors are coded. Partial eta squared is
:math:`\eta^2_p = SS_{arm}/(SS_{arm} + RSS) = F / (F + df)`.

Only the arm figures are reported; they do not depend on which level of a covariate is the
reference either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis._dist import f_sf, t_quantile
from analysis.ancova import (
    Ancova,
    AncovaFit,
    ArmTest,
    Difference,
    SlopesTest,
    ancova,
    fit_ancova,
    homogeneity_of_slopes,
)
from analysis.data import Covariate, Observed, PrePost
from analysis.errors import FigureUndefined

_ARM = 2  # column of the arm in the design matrix: intercept, baseline, arm, covariates...
_RANK_TOLERANCE = 1e-7  # relative, on unit-length columns (R's lm uses tol = 1e-7 in its QR)


@dataclass(frozen=True, eq=False)
class CovariateFit:
    """The fitted ``outcome ~ baseline + arm + covariates`` model on its complete cases.

    ``left_out`` counts participants with outcome, baseline and arm but a missing covariate.
    """

    covariates: tuple[str, ...]
    n_control: int
    n_treatment: int
    left_out: int
    design: np.ndarray
    outcome: np.ndarray
    coefficients: np.ndarray
    unscaled_covariance: np.ndarray
    rss: float
    df: int
    residuals: np.ndarray


def fit_covariate_ancova(
    outcome: np.ndarray,
    baseline: np.ndarray,
    arm: np.ndarray,
    covariates: Sequence[Covariate],
) -> CovariateFit:
    """Fit ``outcome ~ baseline + arm + covariates`` by OLS on the complete cases.

    Parameters
    ----------
    outcome, baseline
        One value per participant (NaN when absent), e.g. the post (or follow-up) and pre scores of
        :class:`analysis.data.Observed`.
    arm
        Per participant: 0 control, 1 treatment, -1 no arm.
    covariates
        Per-participant covariates from :func:`analysis.data.read_covariates`, indexed like
        ``outcome``.

    Raises
    ------
    FigureUndefined
        An arm has no complete case, there are no residual degrees of freedom, the design is
        singular (a covariate constant among the complete cases or collinear with the baseline
        score, the arm or another covariate), or the model fits exactly.
    """
    base = ~np.isnan(outcome) & ~np.isnan(baseline) & (arm >= 0)
    keep = base.copy()
    for covariate in covariates:
        keep &= covariate.present
    left_out = int(base.sum() - keep.sum())
    n_control, n_treatment = (int((arm[keep] == code).sum()) for code in (0, 1))
    names = tuple(c.name for c in covariates)
    if min(n_control, n_treatment) == 0:
        raise FigureUndefined(
            "an arm has no participant with the outcome, the baseline score and every covariate"
        )
    y = outcome[keep]
    columns = [np.ones(len(y)), baseline[keep], arm[keep].astype(np.float64)]
    for covariate in covariates:
        block = _covariate_columns(covariate, keep)
        if block.shape[1] == 0:
            raise FigureUndefined(
                f"the covariate {covariate.name!r} has a single value among the "
                f"{len(y)} complete cases: it cannot enter the model"
            )
        columns.extend(block.T)
    x = np.column_stack(columns)
    df = len(y) - x.shape[1]
    if df < 1:
        raise FigureUndefined(
            f"{len(y)} complete cases (with every covariate) leave no residual degrees of "
            f"freedom for {x.shape[1]} model coefficients"
        )
    _check_rank(x, names, covariates, keep)
    coefficients, unscaled, residuals = _least_squares(x, y)
    rss = float(residuals @ residuals)
    centred = y - y.mean()
    if rss <= 1e-12 * float(centred @ centred):
        raise FigureUndefined(
            "the outcome is an exact linear function of the baseline score, arm and covariates: "
            "the ANCOVA has no residual variance"
        )
    return CovariateFit(
        covariates=names,
        n_control=n_control,
        n_treatment=n_treatment,
        left_out=left_out,
        design=x,
        outcome=y,
        coefficients=coefficients,
        unscaled_covariance=unscaled,
        rss=rss,
        df=df,
        residuals=residuals,
    )


def covariate_ancova(fit: CovariateFit) -> Ancova:
    r"""Arm effect adjusted for the baseline score and covariates (R: ``lm``, ``confint``).

    The adjusted difference (treatment - control) is the arm coefficient :math:`\hat\beta_{arm}`,
    :math:`SE = \sqrt{RSS/df \cdot [(X'X)^{-1}]_{arm,arm}}` with df = N - p, and the 95% CI
    :math:`\hat\beta \pm t_{0.975, df} SE`. The arm test is :math:`F = (\hat\beta/SE)^2` on 1 and
    df degrees of freedom, equal to ``car::Anova(fit, type = 3)`` for arm, and
    :math:`\eta^2_p = F/(F + df)`.

    References
    ----------
    EMA (2015). Guideline on adjustment for baseline covariates in clinical trials
    (EMA/CHMP/295050/2013). Fox, J., & Weisberg, S. (2019). *An R Companion to Applied Regression*
    (3rd ed.), ch. 5 (Type III tests).
    """
    estimate = float(fit.coefficients[_ARM])
    se = float(np.sqrt(fit.rss / fit.df * fit.unscaled_covariance[_ARM, _ARM]))
    f = (estimate / se) ** 2
    half = t_quantile(0.975, fit.df) * se
    return Ancova(
        arm=ArmTest(F=f, df1=1, df2=fit.df, p=f_sf(f, 1, fit.df), np2=f / (f + fit.df)),
        adjusted_difference=Difference(
            estimate=estimate, se=se, ci_low=estimate - half, ci_high=estimate + half
        ),
    )


def covariate_slopes(fit: CovariateFit) -> SlopesTest:
    """Homogeneity of the baseline slope across arms, with the covariates in both models.

    Compares ``outcome ~ baseline + arm + covariates`` with the model that adds
    ``baseline:arm`` (R: ``anova(m1, m2)``): :math:`F = (RSS - RSS_{sep})/(RSS_{sep}/(df - 1))`
    on 1 and df - 1 degrees of freedom.

    Raises
    ------
    FigureUndefined
        No residual df left, the interaction column is collinear with the model (the baseline score
        constant within an arm), or the separate-slopes model fits exactly.
    """
    df = fit.df - 1
    if df < 1:
        raise FigureUndefined("separate slopes leave no residual degrees of freedom")
    x = np.column_stack([fit.design, fit.design[:, 1] * fit.design[:, _ARM]])
    if _rank(x) < x.shape[1]:
        raise FigureUndefined(
            "the baseline x arm interaction is collinear with the model (the baseline score "
            "does not vary within an arm): the test is undefined"
        )
    _, _, residuals = _least_squares(x, fit.outcome)
    rss_separate = float(residuals @ residuals)
    centred = fit.outcome - fit.outcome.mean()
    if rss_separate <= 1e-12 * float(centred @ centred):
        raise FigureUndefined("the separate-slopes model fits exactly: the test is undefined")
    f = (fit.rss - rss_separate) / (rss_separate / df)
    return SlopesTest(F=f, df1=1, df2=df, p=f_sf(f, 1, df))


def _covariate_columns(covariate: Covariate, keep: np.ndarray) -> np.ndarray:
    """The covariate's model columns: itself if numeric, else one dummy per non-first level."""
    values = covariate.values[keep]
    if not covariate.categorical:
        if np.ptp(values) == 0:
            return np.empty((len(values), 0))
        return values.astype(np.float64)[:, None]
    levels = sorted(set(values))
    if len(levels) < 2:
        return np.empty((len(values), 0))
    return np.column_stack([(values == level).astype(np.float64) for level in levels[1:]])


def _rank(x: np.ndarray) -> int:
    """Numerical rank of ``x`` with its columns scaled to unit length (tolerance as R's lm)."""
    norms = np.linalg.norm(x, axis=0)
    scaled = x / np.where(norms > 0, norms, 1.0)
    singular = np.linalg.svd(scaled, compute_uv=False)
    return int((singular > _RANK_TOLERANCE * singular[0]).sum())


def _check_rank(x: np.ndarray, names: tuple[str, ...], covariates: Sequence[Covariate],
                keep: np.ndarray) -> None:
    if _rank(x) == x.shape[1]:
        return
    if _rank(x[:, :3]) < 3:
        raise FigureUndefined(
            "the baseline score is collinear with the arm: the adjusted ANCOVA is undefined")
    culprits = []
    for i, covariate in enumerate(covariates):
        others = [c for j, c in enumerate(covariates) if j != i]
        reduced = np.column_stack(
            [x[:, :3], *[_covariate_columns(c, keep) for c in others]]
        )
        if _rank(reduced) == reduced.shape[1]:
            culprits.append(covariate.name)
    named = ", ".join(repr(n) for n in (culprits or list(names)))
    raise FigureUndefined(
        f"the design is singular: the covariate{'s' if len(culprits) != 1 else ''} {named} "
        "cannot be separated from the baseline score, the arm or the other covariates among the "
        "complete cases (for example a covariate that coincides with the arm); the adjusted "
        "ANCOVA is undefined"
    )


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients, (X'X)^-1 and residuals from the reduced QR decomposition of ``x``."""
    q, r = np.linalg.qr(x)
    coefficients = np.linalg.solve(r, q.T @ y)
    r_inverse = np.linalg.solve(r, np.eye(r.shape[0]))
    residuals = y - x @ coefficients
    return coefficients, r_inverse @ r_inverse.T, residuals


@dataclass(frozen=True, eq=False)
class PrimaryModel:
    """The pre/post ANCOVA that :func:`analysis.analyze` reports, with or without covariates.

    Without covariates it is the closed-form fit of :mod:`analysis.ancova`; with covariates the
    least-squares fit above.
    """

    fit: AncovaFit | CovariateFit
    arms: tuple[str, str | None]
    covariates: tuple[str, ...]

    @property
    def residuals(self) -> np.ndarray:
        """Residuals of the fitted model (for the Shapiro-Wilk check)."""
        return self.fit.residuals

    @property
    def notes(self) -> tuple[str, ...]:
        """What the reader should know about the cases the model used."""
        left_out = self.fit.left_out if isinstance(self.fit, CovariateFit) else 0
        if not left_out:
            return ()
        return (
            f"ANCOVA: {left_out} participant{'s' if left_out > 1 else ''} with pre and post but "
            "a missing covariate value left out",
        )


def fit_primary(data: PrePost, observed: Observed, covariates: Sequence[Covariate]
                ) -> PrimaryModel:
    """Fit ``post ~ pre + arm`` (closed form) or ``post ~ pre + arm + covariates`` (OLS)."""
    fit: AncovaFit | CovariateFit
    if covariates:
        fit = fit_covariate_ancova(
            observed.post_by_subject, observed.pre_by_subject, observed.subject_arm, covariates
        )
    else:
        fit = fit_ancova(data)
    return PrimaryModel(fit, observed.design.arms, tuple(c.name for c in covariates))


def primary_ancova(model: PrimaryModel) -> dict[str, Any]:
    """The section 6 ``ancova`` object: arm test, adjusted difference, ``covariates`` and ``n``."""
    fit = model.fit
    if isinstance(fit, CovariateFit):
        result, n = covariate_ancova(fit), (fit.n_control, fit.n_treatment)
    else:
        result, n = ancova(fit), (fit.control.n, fit.treatment.n)
    return {
        **asdict(result),
        "covariates": list(model.covariates),
        "n": {arm: count for arm, count in zip(model.arms, n, strict=True) if arm is not None},
    }


def primary_slopes(model: PrimaryModel) -> SlopesTest:
    """Homogeneity of slopes for the reported ANCOVA (with its covariates, if any)."""
    if isinstance(model.fit, CovariateFit):
        return covariate_slopes(model.fit)
    return homogeneity_of_slopes(model.fit)
