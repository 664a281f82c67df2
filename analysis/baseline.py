"""The baseline table: each arm's pre-intervention profile, with standardized differences.

CONSORT 2010 (item 15) asks for baseline characteristics per arm and advises against significance
tests of baseline differences in a randomized trial (any difference is chance by design); the
standardized difference describes imbalance on a scale that does not depend on the sample size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.baseline_items import (
    BaselineItem,
    baseline_item_rows,
    participants_per_arm,
    read_baseline_items,
)
from analysis.data import (
    Design,
    check_columns,
    column_names,
    default_outcomes,
    numeric_values,
    read_design,
)
from analysis.errors import OutcomeError


def baseline_table(
    frame: pd.DataFrame,
    outcomes: Sequence[str] | None = None,
    control_arm: str = "education",
    covariates: Sequence[str] | None = None,
    baseline_items: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    r"""Per-arm summaries at ``pre`` of each outcome, covariate and background item; no p-values.

    Numeric variables (every outcome; covariates with a numeric dtype) get n, mean and SD per arm
    and the standardized difference (Austin 2009)

    .. math:: d = \frac{\bar x_t - \bar x_c}{\sqrt{(s_t^2 + s_c^2)/2}}

    Other covariates are categorical: count and percentage per level and arm, and
    :math:`d = (\hat p_t - \hat p_c) / \sqrt{(\hat p_t(1 - \hat p_t) + \hat p_c(1 - \hat p_c))/2}`.
    Values come from the ``pre`` rows of every participant with an arm (all randomized participants
    with baseline data, whether or not they have a post score). ``standardized_difference`` is null
    when its denominator is zero or an arm has fewer than 2 values; a variable that cannot be
    summarized gets an ``error`` instead.

    ``baseline_items`` are background items with their kind and, if categorical, their levels
    in table order (:mod:`analysis.baseline_items`): counts and percentages per level plus a
    missing count, or mean, SD, n and missing count. Their rows carry ``"baseline_item": true``,
    a ``label`` and (per level) a ``level_label``.

    Returns
    -------
    dict
        ``{"control_arm", "treatment_arm", "time": "pre", "participants": {arm: n}, "rows":
        [...]}``; a numeric row is ``{"variable", "type": "numeric", "arms": {arm: {"n", "mean",
        "sd"}}, "standardized_difference"}``, a categorical row ``{"variable", "type":
        "categorical", "level", "arms": {arm: {"n", "total", "percent"}},
        "standardized_difference"}``; see :func:`analysis.baseline_items.baseline_item_rows`.

    References
    ----------
    Austin, P. C. (2009). Balance diagnostics for comparing the distribution of baseline covariates
    between treatment groups in propensity-score matched samples. *Statistics in Medicine*, 28(25),
    3083-3107. Moher, D. et al. (2010). CONSORT 2010 explanation and elaboration. *BMJ*, 340, c869.

    Raises
    ------
    AnalysisInputError
        Key columns missing, not two arms, a named covariate is not a column, or a background
        item is not a column or lacks its kind or levels.
    """
    check_columns(frame)
    design = read_design(frame, control_arm)
    covariates = column_names(frame, covariates, "covariate")
    items = read_baseline_items(frame, baseline_items)
    names = (
        list(outcomes)
        if outcomes is not None
        else default_outcomes(frame, covariates + [item.name for item in items])
    )
    return build_baseline(frame, design, names, covariates, items)


def build_baseline(
    frame: pd.DataFrame,
    design: Design,
    names: Sequence[str],
    covariates: Sequence[str],
    items: Sequence[BaselineItem] = (),
) -> dict[str, Any]:
    """:func:`baseline_table` for an already coded design (used by :func:`analysis.analyze`).

    ``items`` are background items (:mod:`analysis.baseline_items`); their rows follow the
    outcomes and covariates, and a covariate that is also a background item is shown once, as
    the item. ``participants`` counts each arm's participants in the data.
    """
    rows: list[dict[str, Any]] = []
    for name in names:
        rows.extend(_numeric_rows(frame, design, name))
    as_items = {item.name for item in items}
    for name in covariates:
        if name in as_items:
            continue
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            rows.extend(_numeric_rows(frame, design, name))
        else:
            rows.extend(_categorical_rows(frame, design, name))
    for item in items:
        rows.extend(baseline_item_rows(frame, design, item))
    per_arm = participants_per_arm(design)
    return {
        "control_arm": design.control,
        "treatment_arm": design.treatment,
        "time": "pre",
        "participants": {
            arm: int(per_arm[code]) for code, arm in enumerate(design.arms) if arm is not None
        },
        "rows": rows,
    }


def _baseline_rows(design: Design, has_value: np.ndarray, name: str) -> np.ndarray:
    """Row indices at pre with an arm and a value; raises on duplicate participants."""
    rows = np.flatnonzero(
        has_value & (design.time == 0) & (design.arm >= 0) & (design.participant >= 0)
    )
    codes = design.participant[rows]
    counts = np.bincount(codes, minlength=len(design.participant_ids))
    duplicated = np.flatnonzero(counts > 1)
    if duplicated.size:
        raise OutcomeError(
            f"{name!r} has more than one pre row for participant "
            f"{design.participant_ids[duplicated[0]]}"
            + (f" and {duplicated.size - 1} other(s)" if duplicated.size > 1 else "")
        )
    return rows


def _numeric_rows(frame: pd.DataFrame, design: Design, name: str) -> list[dict[str, Any]]:
    try:
        values = numeric_values(frame, design, name)
        rows = _baseline_rows(design, ~np.isnan(values), name)
    except OutcomeError as error:
        return [{"variable": name, "type": "numeric", "error": str(error)}]
    arms: dict[str, dict[str, Any]] = {}
    cells = [values[rows[design.arm[rows] == code]] for code in (0, 1)]
    for x, arm in zip(cells, design.arms, strict=True):
        if arm is not None:
            arms[arm] = {
                "n": len(x),
                "mean": float(np.mean(x)) if len(x) else None,
                "sd": float(np.std(x, ddof=1)) if len(x) > 1 else None,
            }
    difference = None
    if all(len(x) > 1 for x in cells) and any(np.ptp(x) > 0 for x in cells):
        control, treatment = cells
        spread = (np.var(treatment, ddof=1) + np.var(control, ddof=1)) / 2
        difference = float(np.mean(treatment) - np.mean(control)) / math.sqrt(spread)
    return [
        {"variable": name, "type": "numeric", "arms": arms, "standardized_difference": difference}
    ]


def _categorical_rows(frame: pd.DataFrame, design: Design, name: str) -> list[dict[str, Any]]:
    text = frame[name].astype("string").str.strip()
    text = text.mask(text == "")
    try:
        rows = _baseline_rows(design, text.notna().to_numpy(dtype=bool), name)
    except OutcomeError as error:
        return [{"variable": name, "type": "categorical", "error": str(error)}]
    levels = text.iloc[rows]
    arm = design.arm[rows]
    totals = [int((arm == code).sum()) for code in (0, 1)]
    out = []
    for level in sorted(levels.unique()):
        is_level = (levels == level).to_numpy(dtype=bool)
        counts = [int((is_level & (arm == code)).sum()) for code in (0, 1)]
        shares = [c / t if t else None for c, t in zip(counts, totals, strict=True)]
        arms = {}
        for code, a in enumerate(design.arms):
            share = shares[code]
            if a is not None:
                arms[a] = {
                    "n": counts[code],
                    "total": totals[code],
                    "percent": None if share is None else 100 * share,
                }
        difference = None
        p_c, p_t = shares
        if p_c is not None and p_t is not None:
            spread = (p_t * (1 - p_t) + p_c * (1 - p_c)) / 2
            if spread > 0:
                difference = (p_t - p_c) / math.sqrt(spread)
        out.append(
            {
                "variable": name,
                "type": "categorical",
                "level": str(level),
                "arms": arms,
                "standardized_difference": difference,
            }
        )
    return out
