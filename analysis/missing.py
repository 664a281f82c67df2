"""Who is missing an outcome, per arm (DESIGN §6 "Missing outcomes": the ``missing`` list)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.data import Observed, numeric_values

FOLLOWUP = "followup"


@dataclass(frozen=True)
class ArmMissing:
    """Missing post (and follow-up) scores of one outcome in one arm.

    ``allocated`` counts the arm's participants in the data (a row of any time, with or without
    scores); ``missing_post`` those without a post score of this outcome; ``missing_followup``
    those without a follow-up score, or None when the data have no ``followup`` rows at all (no
    follow-up was measured, so nothing is missing). ``baseline_mean_complete`` and
    ``baseline_mean_missing`` are the mean pre scores of the participants with and without a post
    score (among those with a pre score), None when that group has no pre score: a difference
    between them shows that post scores are not missing completely at random.
    """

    arm: str
    allocated: int
    missing_post: int
    missing_followup: int | None
    baseline_mean_complete: float | None
    baseline_mean_missing: float | None


def missing_by_arm(frame: pd.DataFrame, observed: Observed) -> list[dict[str, Any]]:
    """The ``missing`` list of one outcome: an :class:`ArmMissing` per arm present, as dicts.

    ``frame`` is the data ``observed`` came from (read again only for ``followup`` rows).
    """
    design = observed.design
    n_ids = len(design.participant_ids)
    known = (design.arm >= 0) & (design.participant >= 0)
    allocated = np.zeros((2, n_ids), dtype=bool)
    allocated[design.arm[known], design.participant[known]] = True
    has_post = ~np.isnan(observed.post_by_subject)
    pre = observed.pre_by_subject
    followup = _followup_present(frame, observed)
    rows = []
    for code, arm in enumerate(design.arms):
        if arm is None:
            continue
        mine = allocated[code]
        complete = mine & has_post & ~np.isnan(pre)
        lacking = mine & ~has_post & ~np.isnan(pre)
        rows.append(
            asdict(
                ArmMissing(
                    arm=arm,
                    allocated=int(mine.sum()),
                    missing_post=int((mine & ~has_post).sum()),
                    missing_followup=(
                        None if followup is None else int((mine & ~followup).sum())
                    ),
                    baseline_mean_complete=float(np.mean(pre[complete]))
                    if complete.any()
                    else None,
                    baseline_mean_missing=float(np.mean(pre[lacking])) if lacking.any() else None,
                )
            )
        )
    return rows


def _followup_present(frame: pd.DataFrame, observed: Observed) -> np.ndarray | None:
    """Per participant code, whether a follow-up score exists; None without ``followup`` rows."""
    design = observed.design
    rows = np.flatnonzero(design.time_labels == FOLLOWUP)
    if not rows.size:
        return None
    values = numeric_values(frame, design, observed.name)[rows]
    who = design.participant[rows[~np.isnan(values) & (design.participant[rows] >= 0)]]
    present = np.zeros(len(design.participant_ids), dtype=bool)
    present[who] = True
    return present
