"""Background items in the baseline table: answers that describe the participants, not outcomes.

A background item (profession, year of training, prior contact, ...) is a column of the long data
that holds one answer per participant. It appears in the baseline table of
:func:`analysis.analyze` but never enters a model (covariates of the models are a separate
parameter). The caller says what kind of answer each item holds, as plain data::

    {"background.profession": {"kind": "categorical", "label": "Profession",
                               "levels": {"medicine": "Medicine", "nursing": "Nursing"}},
     "background.training_year": {"kind": "numeric", "label": "Training year"}}

``levels`` lists the stored values in the order the table shows them, as a mapping value -> label
(or a list of values, each its own label). ``label`` is optional (the column name by default).

A participant's answer may stand on one row (the ``pre`` row, as a study's data give it) or be
repeated on each of their rows (as a CSV may give it); different answers on two rows of one
participant are an error of that item.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis.data import Design
from analysis.errors import AnalysisInputError, OutcomeError

KINDS = ("categorical", "numeric")
MISSING_LABEL = "Missing"
_SHOWN = 3  # examples quoted in a message


@dataclass(frozen=True)
class BaselineItem:
    """One background item: its column, kind, label and (categorical) levels in table order."""

    name: str
    kind: Literal["categorical", "numeric"]
    label: str
    levels: tuple[tuple[str, str], ...] = ()


def read_baseline_items(
    frame: pd.DataFrame, items: Mapping[str, Mapping[str, Any]] | None
) -> list[BaselineItem]:
    """Check the ``baseline_items`` parameter of :func:`analysis.analyze` against the data.

    Raises
    ------
    AnalysisInputError
        Not a mapping, an item that is not a column, an unknown kind, or a categorical item
        without levels (or with a level named twice).
    """
    if items is None:
        return []
    if not isinstance(items, Mapping):
        raise AnalysisInputError(
            "baseline_items must map each column to its kind, e.g. "
            '{"profession": {"kind": "categorical", "levels": {"medicine": "Medicine"}}}'
        )
    out = []
    for name, spec in items.items():
        name = str(name)
        if name not in frame.columns:
            raise AnalysisInputError(f"baseline item column not in the data: {name!r}")
        kind = spec.get("kind") if isinstance(spec, Mapping) else None
        if kind not in KINDS:
            raise AnalysisInputError(
                f"baseline item {name!r} needs a kind, 'categorical' or 'numeric', not {kind!r}"
            )
        assert isinstance(spec, Mapping)
        label = str(spec.get("label") or name)
        if kind == "numeric":
            out.append(BaselineItem(name, "numeric", label))
            continue
        levels = _levels(spec.get("levels"))
        values = [value for value, _ in levels]
        if not levels or len(set(values)) < len(values):
            raise AnalysisInputError(
                f"categorical baseline item {name!r} needs its levels, each named once, in the "
                "order of the table (a mapping of stored value to label, or a list of values)"
            )
        out.append(BaselineItem(name, "categorical", label, levels))
    return out


def _levels(raw: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(raw, Mapping):
        return tuple((str(value), str(label)) for value, label in raw.items())
    if isinstance(raw, (list, tuple)):
        return tuple((str(value), str(value)) for value in raw)
    return ()


def participants_per_arm(design: Design) -> np.ndarray:
    """How many participants each arm (control, treatment) has in the data, at any time."""
    known = (design.arm >= 0) & (design.participant >= 0)
    pairs = np.unique(design.participant[known] * 2 + design.arm[known])
    return np.bincount(pairs % 2, minlength=2)


def baseline_item_rows(
    frame: pd.DataFrame, design: Design, item: BaselineItem
) -> list[dict[str, Any]]:
    r"""The baseline-table rows of one background item (no p-values, CONSORT 2010 item 15).

    Every participant with an arm counts once. A **categorical** item gives one row per level,
    in the item's order: per arm the count :math:`n_l`, ``total`` the participants of the arm who
    answered (:math:`n_a`) and ``percent`` :math:`100\, n_l / n_a`; then a row with
    ``"missing": true`` whose ``n`` is the participants of the arm without an answer and whose
    ``total`` is all the participants of the arm. The standardized difference of a level is
    Austin's (2009) :math:`(\hat p_t - \hat p_c) / \sqrt{(\hat p_t(1-\hat p_t) + \hat p_c(1 -
    \hat p_c))/2}` on those proportions. A **numeric** item gives one row with per arm ``n``
    (answered), ``mean``, ``sd`` (n - 1 denominator; null when n < 2) and ``missing``, and the
    standardized mean difference with the mean of the two variances in the denominator.

    Values that cannot be summarized (text in a numeric item, a value that is not one of the
    levels, two different answers of one participant) give one row with an ``error`` instead.
    """
    head = {"variable": item.name, "label": item.label, "type": item.kind, "baseline_item": True}
    try:
        answers, arm = _answers(frame, design, item)
    except OutcomeError as error:
        return [{**head, "error": str(error)}]
    per_arm = participants_per_arm(design)
    answered = [int(((arm == code) & answers.notna().to_numpy()).sum()) for code in (0, 1)]
    missing = [int(per_arm[code]) - answered[code] for code in (0, 1)]
    if item.kind == "numeric":
        values = answers.to_numpy(dtype=np.float64, na_value=np.nan)
        cells = [values[(arm == code) & ~np.isnan(values)] for code in (0, 1)]
        arms: dict[str, Any] = {}
        for code, name in enumerate(design.arms):
            x = cells[code]
            if name is not None:
                arms[name] = {
                    "n": len(x),
                    "mean": float(np.mean(x)) if len(x) else None,
                    "sd": float(np.std(x, ddof=1)) if len(x) > 1 else None,
                    "missing": missing[code],
                }
        difference = None
        if all(len(x) > 1 for x in cells) and any(np.ptp(x) > 0 for x in cells):
            spread = (np.var(cells[1], ddof=1) + np.var(cells[0], ddof=1)) / 2
            difference = float(np.mean(cells[1]) - np.mean(cells[0])) / math.sqrt(spread)
        return [{**head, "arms": arms, "standardized_difference": difference}]

    rows = []
    for value, level_label in item.levels:
        is_level = (answers == value).fillna(False).to_numpy(dtype=bool)
        counts = [int((is_level & (arm == code)).sum()) for code in (0, 1)]
        shares = [c / t if t else None for c, t in zip(counts, answered, strict=True)]
        percents = [None if share is None else 100 * share for share in shares]
        arms = {
            name: {"n": counts[code], "total": answered[code], "percent": percents[code]}
            for code, name in enumerate(design.arms)
            if name is not None
        }
        rows.append(
            {
                **head,
                "level": value,
                "level_label": level_label,
                "arms": arms,
                "standardized_difference": _proportion_difference(*shares),
            }
        )
    rows.append(
        {
            **head,
            "level": None,
            "level_label": MISSING_LABEL,
            "missing": True,
            "arms": {
                name: {"n": missing[code], "total": int(per_arm[code])}
                for code, name in enumerate(design.arms)
                if name is not None
            },
            "standardized_difference": None,
        }
    )
    return rows


def _proportion_difference(p_c: float | None, p_t: float | None) -> float | None:
    if p_c is None or p_t is None:
        return None
    spread = (p_t * (1 - p_t) + p_c * (1 - p_c)) / 2
    return (p_t - p_c) / math.sqrt(spread) if spread > 0 else None


def _answers(
    frame: pd.DataFrame, design: Design, item: BaselineItem
) -> tuple[pd.Series, np.ndarray]:
    """One answer per participant with an arm (NA when none) and that participant's arm code.

    Raises
    ------
    OutcomeError
        A participant in both arms, two different answers of one participant, text in a numeric
        item, or a value that is not one of a categorical item's levels.
    """
    column = frame[item.name]
    known = np.flatnonzero((design.arm >= 0) & (design.participant >= 0))
    subject = design.participant[known]
    arm_of = np.full(len(design.participant_ids), -1, dtype=np.int64)
    np.maximum.at(arm_of, subject, design.arm[known])
    both = np.flatnonzero(arm_of[subject] != design.arm[known])
    if both.size:
        who = design.participant_ids[subject[both[0]]]
        raise OutcomeError(f"participant {who} is recorded in both arms")
    values = _typed(column.iloc[known], item)
    answered = values.notna().to_numpy()
    by_subject = pd.DataFrame({"subject": subject[answered], "value": values[answered].to_numpy()})
    distinct = by_subject.drop_duplicates()
    clash = distinct["subject"].duplicated()
    if clash.any():
        who = design.participant_ids[distinct["subject"][clash].iloc[0]]
        raise OutcomeError(
            f"{item.name!r} has different answers on the rows of participant {who}"
        )
    participants = np.unique(subject)
    answers = pd.Series(pd.NA, index=participants, dtype=values.dtype)
    answers.loc[distinct["subject"].to_numpy()] = distinct["value"].to_numpy()
    return answers.reset_index(drop=True), arm_of[participants]


def _typed(column: pd.Series, item: BaselineItem) -> pd.Series:
    """The column's values as text levels or as float64 (NA for no answer)."""
    if pd.api.types.is_bool_dtype(column):
        raise OutcomeError(f"{item.name!r} holds true/false values, not answers")
    if pd.api.types.is_numeric_dtype(column):
        numbers = column.astype("Float64")
        if item.kind == "numeric":
            if np.isinf(numbers.to_numpy(dtype=np.float64, na_value=np.nan)).any():
                raise OutcomeError(f"{item.name!r} has infinite values")
            return numbers
        # Codes written as numbers (a CSV's 1, 2, 3) are the levels "1", "2", "3".
        text = numbers.map(lambda v: f"{v:g}", na_action="ignore").astype("string")
    else:
        text = column.astype("string").str.strip()
        text = text.mask(text == "")
        if item.kind == "numeric":
            parsed = pd.to_numeric(text, errors="coerce").astype("Float64")
            bad = text[parsed.isna() & text.notna()]
            if len(bad):
                raise OutcomeError(
                    f"{item.name!r} has {len(bad)} non-numeric answer{'s' if len(bad) > 1 else ''}"
                    f": {', '.join(map(repr, bad.unique()[:_SHOWN]))}"
                )
            return parsed
    levels = {value for value, _ in item.levels}
    unknown = sorted(set(text.dropna()) - levels)
    if unknown:
        raise OutcomeError(
            f"{item.name!r} has {'a value' if len(unknown) == 1 else 'values'} outside its levels:"
            f" {', '.join(map(repr, unknown[:_SHOWN]))}{', ...' if len(unknown) > _SHOWN else ''}"
            f" (levels: {', '.join(value for value, _ in item.levels)})"
        )
    return text
