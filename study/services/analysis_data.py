"""The study's live data shaped for ``analysis``: one row per participant × time (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy.orm import Session

from instruments import Library
from instruments.kinds import kind_of
from study.models import Study
from study.services.exports import rows_for
from study.services.sap import COHORT_COVARIATE, covariate_item


def study_frame(session: Session, study: Study, library: Library,
                covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Every scale score as an outcome column named ``<instrument>.<scale>``; pre and post only.

    Each covariate (an analysis plan's names: ``cohort`` or a baseline ``instrument.item``) adds
    one column with the participant's value on every row: the cohort's name, a choice item's
    stored value as a string, a number for a numeric item (integer or rating-scale kinds), and
    missing when the participant did not answer it at baseline.

    Raises
    ------
    LookupError
        A covariate is neither ``cohort`` nor a baseline item of the study.
    """
    _, rows = rows_for(session, study, "scores", library)
    columns = ["participant", "arm", "time"]
    if not rows:
        return pd.DataFrame(columns=columns + list(covariates))
    scores = pd.DataFrame(rows)
    scores = scores[scores["time"].isin(["pre", "post"]) & (scores["arm"] != "")]
    scores["outcome"] = scores["instrument"] + "." + scores["scale"]
    scores["score"] = pd.to_numeric(scores["score"], errors="coerce")
    wide = scores.pivot_table(index=["participant", "arm", "time"], columns="outcome",
                              values="score", aggfunc="first").reset_index()
    wide.columns.name = None
    for name, values in _covariate_values(session, study, library, covariates).items():
        wide[name] = wide["participant"].map(values)
    return wide


def _covariate_values(session: Session, study: Study, library: Library,
                      covariates: Sequence[str]) -> dict[str, pd.Series]:
    """Per covariate, its value by participant code (numeric items as numbers)."""
    if not covariates:
        return {}
    items = {name: covariate_item(study, library, name) for name in covariates}
    out: dict[str, pd.Series] = {}
    if COHORT_COVARIATE in items:
        _, participants = rows_for(session, study, "participants", library)
        out[COHORT_COVARIATE] = pd.Series(
            {row["participant"]: row["cohort"] for row in participants}, dtype=object)
    wanted = {name: item for name, item in items.items() if item is not None}
    if wanted:
        _, responses = rows_for(session, study, "responses", library)
        answers = pd.DataFrame(responses, columns=["participant", "time", "instrument", "item",
                                                   "value"])
        answers = answers[answers["time"] == "pre"]
        names = answers["instrument"] + "." + answers["item"]
        for name, item in wanted.items():
            chosen = answers[names == name].drop_duplicates("participant")
            values = pd.Series(chosen["value"].to_numpy(), index=chosen["participant"],
                               dtype=object)
            if kind_of(item).statistics(item).measure != "nominal":
                values = pd.to_numeric(values, errors="coerce")
            out[name] = values
    return {name: out[name] for name in covariates}
