"""Internal consistency: Cronbach's alpha with Feldt's interval, McDonald's omega_total.

Pure functions on a :class:`pandas.DataFrame` of item answers (one column per item, one row per
respondent). Rows with any missing item are dropped first (listwise), so every figure describes
the same respondents. Give the scale's items already keyed (:func:`keyed_frame` applies reverse
keying and option scoring from an instrument definition): a reverse-keyed item left unreversed
lowers both coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from instruments.model import Instrument, ScaleDef
from instruments.scoring import keyed_value


@dataclass(frozen=True, slots=True)
class Alpha:
    """Cronbach's alpha of ``k`` items over ``n`` complete respondents, with its interval."""

    alpha: float
    ci_low: float
    ci_high: float
    n: int
    k: int


@dataclass(frozen=True, slots=True)
class Omega:
    """McDonald's omega_total from a one-factor model, with the standardized loadings."""

    omega_total: float
    loadings: tuple[float, ...]
    n: int
    k: int


def _complete(items: pd.DataFrame, fewest_items: int) -> np.ndarray:
    if items.shape[1] < fewest_items:
        raise ValueError(f"needs at least {fewest_items} items, got {items.shape[1]}")
    data = items.apply(pd.to_numeric, errors="raise").dropna(axis=0, how="any")
    values = data.to_numpy(dtype=float)
    if values.shape[0] < 3:
        raise ValueError(f"needs at least 3 respondents with every item answered, got {len(data)}")
    constant = [str(c) for c, sd in zip(data.columns, values.std(axis=0), strict=True) if sd == 0]
    if constant:
        raise ValueError(f"item {constant[0]} has the same answer from every respondent")
    return values


def cronbach_alpha(items: pd.DataFrame, confidence: float = 0.95) -> Alpha:
    r"""Cronbach's alpha and its Feldt confidence interval.

    .. math::

        \alpha = \frac{k}{k-1}\Bigl(1 - \frac{\sum_i s_i^2}{s_X^2}\Bigr),\qquad
        \bigl[\,1 - (1-\alpha)\,F_{1-p/2},\; 1 - (1-\alpha)\,F_{p/2}\,\bigr]

    with item variances :math:`s_i^2`, the variance of the sum :math:`s_X^2`, ``p = 1 - confidence``
    and :math:`F_q` the ``q`` quantile of the F distribution on :math:`n-1` and
    :math:`(n-1)(k-1)` degrees of freedom. Equal to ``raw_alpha`` and ``feldt`` of R's
    ``psych::alpha`` on complete data.

    Raises
    ------
    ValueError
        With fewer than 2 items or 3 complete respondents, or an item without variance.

    References
    ----------
    Cronbach LJ. Coefficient alpha and the internal structure of tests. Psychometrika.
    1951;16(3):297-334.
    Feldt LS, Woodruff DJ, Salih FA. Statistical inference for coefficient alpha. Applied
    Psychological Measurement. 1987;11(1):93-103.
    """
    values = _complete(items, 2)
    n, k = values.shape
    covariance = np.cov(values, rowvar=False)
    alpha = k / (k - 1) * (1 - np.trace(covariance) / covariance.sum())
    p = 1 - confidence
    df1, df2 = n - 1, (n - 1) * (k - 1)
    low = 1 - (1 - alpha) * stats.f.ppf(1 - p / 2, df1, df2)
    high = 1 - (1 - alpha) * stats.f.ppf(p / 2, df1, df2)
    return Alpha(float(alpha), float(low), float(high), n, k)


def one_factor_loadings(correlation: np.ndarray) -> np.ndarray:
    r"""Minimum-residual (unweighted least squares) loadings of a one-factor model.

    Minimizes :math:`\sum_{i<j}(r_{ij} - \lambda_i\lambda_j)^2`, the off-diagonal residuals, which
    is the fixed point of R's ``psych::fa(fm = "minres")``. The sign is chosen so that the loadings
    sum to a positive number.

    References
    ----------
    Harman HH, Jones WH. Factor analysis by minimizing residuals (minres). Psychometrika.
    1966;31(3):351-368.
    """
    k = correlation.shape[0]
    rows, cols = np.triu_indices(k, 1)
    target = correlation[rows, cols]

    def residuals(loadings: np.ndarray) -> np.ndarray:
        return target - loadings[rows] * loadings[cols]

    def jacobian(loadings: np.ndarray) -> np.ndarray:
        jac = np.zeros((len(target), k))
        index = np.arange(len(target))
        jac[index, rows] = -loadings[cols]
        jac[index, cols] = -loadings[rows]
        return jac

    # start from the principal axis with squared multiple correlations as communalities
    reduced = correlation.copy()
    np.fill_diagonal(reduced, 1 - 1 / np.diag(np.linalg.pinv(correlation)))
    values, vectors = np.linalg.eigh(reduced)
    start = vectors[:, -1] * math.sqrt(max(values[-1], 1e-6))
    fit = optimize.least_squares(
        residuals, start, jac=jacobian, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15
    )
    loadings = fit.x
    return -loadings if loadings.sum() < 0 else loadings


def omega_total(items: pd.DataFrame) -> Omega:
    r"""McDonald's omega_total from a one-factor minres model of the item correlations.

    .. math::

        \omega_t = \frac{V_t - \sum_i u_i^2}{V_t},\qquad u_i^2 = 1 - \lambda_i^2

    where :math:`V_t` is the sum of the correlation matrix (after reflecting items with a negative
    loading) and :math:`\lambda_i` the standardized loadings of :func:`one_factor_loadings`. This is
    ``omega.tot`` of R's ``psych::omega(x, nfactors = 1)`` on complete data.

    Raises
    ------
    ValueError
        With fewer than 3 items (a one-factor model of 2 items is not identified) or 3 complete
        respondents, or an item without variance.

    References
    ----------
    McDonald RP. Test Theory: A Unified Treatment. Lawrence Erlbaum; 1999.
    Revelle W, Zinbarg RE. Coefficients alpha, beta, omega, and the glb: comments on Sijtsma.
    Psychometrika. 2009;74(1):145-154.
    """
    values = _complete(items, 3)
    n, k = values.shape
    correlation = np.corrcoef(values, rowvar=False)
    loadings = one_factor_loadings(correlation)
    signs = np.where(loadings < 0, -1.0, 1.0)
    total_variance = float(signs @ correlation @ signs)
    uniqueness = float(np.sum(1 - loadings**2))
    omega = (total_variance - uniqueness) / total_variance
    return Omega(float(omega), tuple(float(x) for x in loadings), n, k)


def keyed_frame(
    instrument: Instrument, scale: ScaleDef | str, responses: pd.DataFrame
) -> pd.DataFrame:
    """The scale's items from ``responses`` (wide, a column per item key) as scored values.

    Reverse keying and option scoring (e.g. RIBS's "don't know" as 3) are applied exactly as in
    :func:`~instruments.scoring.score`; unanswered items are NaN.
    """
    if isinstance(scale, str):
        scale = instrument.scale(scale)
    missing = [key for key in scale.items if key not in responses.columns]
    if missing:
        raise KeyError(f"responses have no column {missing[0]!r} of scale {scale.name!r}")
    columns = {}
    for key in scale.items:
        item = instrument.item(key)
        answers = responses[key].tolist()
        # Keyed once per distinct answer (a 1-7 item has seven), not once per respondent.
        keyed = {answer: keyed_value(item, answer) for answer in set(answers)}
        columns[key] = [np.nan if (value := keyed[answer]) is None else value
                        for answer in answers]
    return pd.DataFrame(columns, index=responses.index, dtype=float)


def reliability_table(
    instrument: Instrument,
    responses: pd.DataFrame,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Alpha with its interval and omega_total for every scale, optionally per group (time point).

    Returns a tidy frame with columns ``[*by], scale, k, n, alpha, alpha_ci_low, alpha_ci_high,
    omega_total, note``; a coefficient that cannot be computed is NaN and ``note`` says why.
    """
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    groups = responses.groupby(keys, sort=True, dropna=False) if keys else [((), responses)]
    rows = []
    for group, frame in groups:
        labels = group if isinstance(group, tuple) else (group,)
        for scale in instrument.scales:
            items = keyed_frame(instrument, scale, frame)
            row: dict[str, object] = dict(zip(keys, labels, strict=True))
            row |= {
                "scale": scale.name,
                "k": len(scale.items),
                "n": int(items.notna().all(axis=1).sum()),
            }
            notes = []
            try:
                alpha = cronbach_alpha(items, confidence)
                row |= {
                    "alpha": alpha.alpha,
                    "alpha_ci_low": alpha.ci_low,
                    "alpha_ci_high": alpha.ci_high,
                }
            except ValueError as error:
                row |= {"alpha": np.nan, "alpha_ci_low": np.nan, "alpha_ci_high": np.nan}
                notes.append(f"alpha: {error}")
            try:
                row["omega_total"] = omega_total(items).omega_total
            except ValueError as error:
                row["omega_total"] = np.nan
                notes.append(f"omega: {error}")
            row["note"] = "; ".join(notes) or None
            rows.append(row)
    columns = [
        *keys,
        "scale",
        "k",
        "n",
        "alpha",
        "alpha_ci_low",
        "alpha_ci_high",
        "omega_total",
        "note",
    ]
    return pd.DataFrame(rows, columns=columns)
