"""The study's live data shaped for ``analysis``: one row per participant × time (DESIGN §6)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from instruments import Library
from study.models import Study
from study.services.exports import rows_for


def study_frame(session: Session, study: Study, library: Library) -> pd.DataFrame:
    """Every scale score as an outcome column named ``<instrument>.<scale>``.

    One row per participant x time: ``pre``, ``post`` and, when the study has a follow-up time
    point and someone answered it, ``followup`` (``analysis`` then adds the follow-up figures).
    """
    _, rows = rows_for(session, study, "scores", library)
    columns = ["participant", "arm", "time"]
    if not rows:
        return pd.DataFrame(columns=columns)
    scores = pd.DataFrame(rows)
    scores = scores[scores["time"].isin(["pre", "post", "followup"]) & (scores["arm"] != "")]
    scores["outcome"] = scores["instrument"] + "." + scores["scale"]
    scores["score"] = pd.to_numeric(scores["score"], errors="coerce")
    wide = scores.pivot_table(index=["participant", "arm", "time"], columns="outcome",
                              values="score", aggfunc="first").reset_index()
    wide.columns.name = None
    return wide
