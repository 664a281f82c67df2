"""Adjustment of p-values for multiple outcomes."""

from __future__ import annotations

import numpy as np


def holm(p_values: list[float]) -> list[float]:
    r"""Holm's (1979) step-down adjustment, as R's ``p.adjust(p, "holm")``.

    With the m p-values sorted ascending, :math:`p_{(1)} \le \dots \le p_{(m)}`, the adjusted values
    are :math:`\tilde p_{(j)} = \min\left(1, \max_{i \le j} (m - i + 1)\, p_{(i)}\right)`, returned
    in the input order. Controls the familywise error rate under any dependence.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian Journal
    of Statistics*, 6(2), 65-70.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(x) for x in adjusted]
