"""Distribution functions, from ``scipy.special`` (cheaper to import than ``scipy.stats``).

All functions accept real-valued degrees of freedom (Welch's df is not an integer).
"""

from __future__ import annotations

import math

from scipy import special

Z_975 = float(special.ndtri(0.975))


def f_sf(f: float, df1: float, df2: float) -> float:
    """Upper tail P(F > f) of the F(df1, df2) distribution."""
    return float(special.fdtrc(df1, df2, f))


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value 2 P(T > |t|) of Student's t with ``df`` degrees of freedom."""
    return float(2.0 * special.stdtr(df, -abs(t)))


def t_quantile(q: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom."""
    return float(special.stdtrit(df, q))


def normal_two_sided_p(z: float) -> float:
    """Two-sided p-value 2 P(Z > |z|) of the standard normal."""
    return float(2.0 * special.ndtr(-abs(z)))


def _nct_cdf(df: float, ncp: float, t: float) -> float:
    value = float(special.nctdtr(df, ncp, t))
    if math.isnan(value):
        # Boost returns NaN deep in the tails; the cdf is monotone (decreasing) in ncp.
        return 0.0 if ncp > t else 1.0
    return value


def noncentral_t_ncp(t: float, df: float, cdf: float) -> float:
    """Noncentrality parameter ``ncp`` such that P(T <= t | df, ncp) = ``cdf``.

    Solved with Brent's method on a bracket that widens until it holds the root; the cdf is strictly
    decreasing in ``ncp``.
    """
    from scipy.optimize import brentq

    width = 2.0 * math.sqrt(1.0 + t * t / (2.0 * df)) + 1.0
    lo, hi = t - width, t + width
    while _nct_cdf(df, lo, t) < cdf:
        lo -= width
        width *= 2.0
    while _nct_cdf(df, hi, t) > cdf:
        hi += width
        width *= 2.0
    return float(brentq(lambda ncp: _nct_cdf(df, ncp, t) - cdf, lo, hi, xtol=1e-14, rtol=1e-15))
