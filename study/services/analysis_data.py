"""The study's live data shaped for ``analysis``: one row per participant × time (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import Library
from instruments.kinds import kind_of
from study.models import (
    Allocation,
    Answer,
    Arm,
    Participant,
    Response,
    ResponseStatus,
    Study,
    Timepoint,
)
from study.services.blinding import arm_code
from study.services.exports import rows_for
from study.services.sap import COHORT_COVARIATE, covariate_item

# Item kinds that describe participants in the baseline table (free text does not).
BASELINE_ITEM_KINDS = {"choice": "categorical", "integer": "numeric"}


def study_frame(session: Session, study: Study, library: Library,
                covariates: Sequence[str] = ()) -> pd.DataFrame:
    """Every scale score as an outcome column named ``<instrument>.<scale>``.

    One row per participant x time: ``pre``, ``post`` and, when the study has a follow-up time
    point and someone answered it, ``followup`` (``analysis`` then adds the follow-up figures).

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
    scores = scores[scores["time"].isin(["pre", "post", "followup"]) & (scores["arm"] != "")]
    scores["outcome"] = scores["instrument"] + "." + scores["scale"]
    scores["score"] = pd.to_numeric(scores["score"], errors="coerce")
    wide = scores.pivot_table(index=["participant", "arm", "time"], columns="outcome",
                              values="score", aggfunc="first").reset_index()
    wide.columns.name = None
    for name, values in _covariate_values(session, study, library, covariates).items():
        wide[name] = wide["participant"].map(values)
    return wide


def baseline_items(study: Study, library: Library) -> dict[str, dict[str, Any]]:
    """The background items of the baseline table, as ``analysis.analyze`` takes them.

    They are the choice and integer items of the instruments given at baseline that have no
    scales (the background questionnaire: profession, year of training, prior contact), named
    ``<instrument>.<item>``. A choice item is categorical with its options in the instrument's
    order and their labels; an integer item is numeric.
    """
    baseline = study.timepoint("baseline")
    if baseline is None:
        return {}
    items: dict[str, dict[str, Any]] = {}
    for pinned in baseline.instruments:
        instrument = library.get(pinned.instrument_id, pinned.instrument_version)
        if instrument.scales:
            continue
        for item in instrument.research_items:
            kind = BASELINE_ITEM_KINDS.get(item.kind)
            if kind is None:
                continue
            spec: dict[str, Any] = {"kind": kind,
                                    "label": item.key.replace("_", " ").capitalize()}
            if kind == "categorical":
                spec["levels"] = {str(c.value): c.label for c in item.choices}
            items[f"{instrument.id}.{item.key}"] = spec
    return items


def background_frame(session: Session, study: Study,
                     items: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The baseline answers to ``items`` of allocated participants: one ``pre`` row each.

    Columns ``participant``, ``arm`` (blinded Arm A/B codes while the study is blinded),
    ``time`` and one text column per item (missing where not answered). Participants whose data
    were withdrawn and questionnaires not submitted are left out, as in the exports.
    """
    columns = ["participant", "arm", "time", *items]
    instruments = {name.partition(".")[0] for name in items}
    if not instruments:
        return pd.DataFrame(columns=columns)
    answers = session.execute(
        select(Participant.code, Arm.key, Response.instrument_id, Answer.item_key, Answer.value)
        .join(Allocation, Allocation.participant_id == Participant.id)
        .join(Arm, Allocation.arm_id == Arm.id)
        .join(Response, Response.participant_id == Participant.id)
        .join(Timepoint, Response.timepoint_id == Timepoint.id)
        .join(Answer, Answer.response_id == Response.id)
        .where(Participant.study_id == study.id, Participant.data_withdrawn.is_(False),
               Response.status == ResponseStatus.SUBMITTED, Timepoint.name == "baseline",
               Response.instrument_id.in_(instruments))
    ).all()
    wide: dict[tuple[str, str], dict[str, str]] = {}
    for code, arm_key, instrument_id, item_key, value in answers:
        name = f"{instrument_id}.{item_key}"
        if name in items:
            wide.setdefault((code, arm_code(study, arm_key)), {})[name] = value
    frame = pd.DataFrame(
        [{"participant": code, "arm": arm, "time": "pre", **values}
         for (code, arm), values in sorted(wide.items())],
        columns=columns)
    return frame.astype({name: "string" for name in items})


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
