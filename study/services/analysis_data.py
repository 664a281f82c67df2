"""The study's live data shaped for ``analysis``: one row per participant × time (DESIGN §6).

Everything here starts from :class:`SubmittedAnswers`, every answer of every submitted
questionnaire read once (``load_answers``) as two columnar frames, so that a report that needs
the scores of two populations, the background table, the covariates and the reliability of each
instrument reads the answers table once. Answers are parsed and keyed once per distinct text of
each item (a 1-7 item has seven), not once per answer, and scale scores are computed over whole
columns with the rule of :func:`instruments.scoring.score_scale` (the sums are of small whole
numbers, so the column sums are exact and the scores identical to the per-response scoring the
exports use).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import Instrument, Library
from instruments.errors import AnswerError
from instruments.kinds import check_answer, kind_of, parse_answer
from instruments.scoring import keyed_value, needed
from study.models import (
    Allocation,
    Answer,
    AnswerStatus,
    Arm,
    Cohort,
    Participant,
    Response,
    ResponseStatus,
    Study,
    Timepoint,
)
from study.services.blinding import arm_code
from study.services.exports import TIME_LABELS
from study.services.report_cache import driver_chunks
from study.services.sap import COHORT_COVARIATE, covariate_item

# Item kinds that describe participants in the baseline table (free text does not).
BASELINE_ITEM_KINDS = {"choice": "categorical", "yesno": "categorical",
                       "truefalse": "categorical", "integer": "numeric", "number": "numeric"}
# The analysis contract's time labels (DESIGN §6), those a study frame keeps.
ANALYSED_TIMES = ("pre", "post", "followup")
# Answers fetched from the database per chunk (each chunk becomes compact columns at once).
CHUNK = 50_000


@dataclass(frozen=True)
class SubmittedAnswers:
    """Every submitted questionnaire of the study's participants whose data are kept.

    ``responses``: one row per questionnaire, ``response`` (id), ``participant`` (code),
    ``arm`` (its code, ``""`` when not allocated), ``time`` (``pre``/``post``/``followup``, or
    the time point's own name), ``instrument``, ``version``, ordered as the exports order them
    (participant code, time point, instrument). ``answers``: ``response``, ``item``, ``value``
    (the stored text), item and value as categoricals. An item left out by its branching logic
    (not applicable) has no answer here, as one asked and left blank: the analysis treats both
    as unanswered.
    """

    responses: pd.DataFrame
    answers: pd.DataFrame

    def by_instrument(self, library: Library, responses: pd.DataFrame | None = None
                      ) -> Iterator[tuple[Instrument, pd.DataFrame, pd.DataFrame]]:
        """Per instrument version (sorted): the version, its responses and their answers."""
        chosen = self.responses if responses is None else responses
        for (instrument_id, version), group in chosen.groupby(["instrument", "version"],
                                                              sort=True):
            answers = self.answers[self.answers["response"].isin(group["response"])]
            yield library.get(str(instrument_id), str(version)), group, answers


def load_answers(session: Session, study: Study) -> SubmittedAnswers:
    """Read the study's submitted questionnaires and their answers (two queries, in chunks)."""
    arms = dict(session.execute(
        select(Allocation.participant_id, Arm.key).join(Arm, Allocation.arm_id == Arm.id)
        .where(Allocation.study_id == study.id)).all())
    kept = (Participant.study_id == study.id, Participant.data_withdrawn.is_(False),
            Response.status == ResponseStatus.SUBMITTED)
    rows = [row for chunk in driver_chunks(
        session,
        select(Response.id, Participant.code, Participant.id, Timepoint.name,
               Response.instrument_id, Response.instrument_version)
        .join(Participant, Response.participant_id == Participant.id)
        .join(Timepoint, Response.timepoint_id == Timepoint.id)
        .where(*kept)
        .order_by(Participant.code, Timepoint.position, Response.instrument_id), CHUNK)
        for row in chunk]
    codes = {key: arm_code(study, key) for key in set(arms.values())}
    responses = pd.DataFrame({
        "response": np.array([r[0] for r in rows], dtype=np.int64),
        "participant": [r[1] for r in rows],
        "arm": [codes[arms[r[2]]] if r[2] in arms else "" for r in rows],
        "time": [TIME_LABELS.get(r[3], r[3]) for r in rows],
        "instrument": [r[4] for r in rows],
        "version": [r[5] for r in rows],
    })
    del rows
    # Each chunk of driver tuples becomes compact columns at once (categoricals: a few hundred
    # distinct items and texts), so the answers are never all in memory as Python objects.
    chunks = [
        pd.DataFrame.from_records(part, columns=["response", "item", "value"])
        .astype({"response": np.int64, "item": "category", "value": "category"})
        for part in driver_chunks(
            session,
            select(Answer.response_id, Answer.item_key, Answer.value)
            .join(Response, Answer.response_id == Response.id)
            .join(Participant, Response.participant_id == Participant.id)
            .where(*kept, Answer.status == AnswerStatus.ANSWERED), CHUNK)
    ]
    if chunks:
        from pandas.api.types import union_categoricals

        answers = pd.DataFrame({
            "response": np.concatenate([c["response"].to_numpy() for c in chunks]),
            "item": union_categoricals([c["item"] for c in chunks]),
            "value": union_categoricals([c["value"] for c in chunks]),
        })
    else:
        answers = pd.DataFrame({"response": np.array([], dtype=np.int64),
                                "item": pd.Categorical([]), "value": pd.Categorical([])})
    return SubmittedAnswers(responses=responses, answers=answers)


def answer_table(instrument: Instrument, responses: pd.DataFrame, answers: pd.DataFrame,
                 *, parse: bool = True) -> pd.DataFrame:
    """One column per item of ``instrument`` (definition order), one row per response.

    Indexed like ``responses``; each cell the answer as :func:`instruments.parse_answers` gives
    it (``parse``) or the stored text, ``None`` when not answered. Raises
    :class:`~instruments.errors.AnswerError` for an answer to an item the version does not have
    or a text the item cannot take, as scoring a response one at a time does.
    """
    items = [item.key for item in instrument.items]
    unknown = sorted(set(answers["item"].astype(object)) - set(items))
    if unknown:
        raise AnswerError(unknown[0], f"is not an item of {instrument.id} {instrument.version}")
    position = pd.Series(np.arange(len(responses)), index=responses["response"].to_numpy())
    rows = position.reindex(answers["response"].to_numpy()).to_numpy()
    table: dict[str, Any] = {}
    item_codes = answers["item"].cat.codes.to_numpy()
    item_names = list(answers["item"].cat.categories)
    value_codes = answers["value"].cat.codes.to_numpy()
    values = list(answers["value"].cat.categories)
    for item in instrument.items:
        column = np.full(len(responses), None, dtype=object)
        if item.key in item_names:
            mine = item_codes == item_names.index(item.key)
            given = value_codes[mine]
            distinct = np.unique(given)
            if parse:
                parsed = {code: parse_answer(item, values[code]) if code >= 0 else None
                          for code in distinct}
                for answer in parsed.values():
                    check_answer(item, answer)
            else:
                parsed = {code: values[code] if code >= 0 else None for code in distinct}
            lookup = np.empty(len(values) + 1, dtype=object)
            for code, answer in parsed.items():
                lookup[code] = answer
            column[rows[mine]] = lookup[given]
        table[item.key] = column
    return pd.DataFrame(table, index=responses.index)


def scale_scores(instrument: Instrument, parsed: pd.DataFrame) -> pd.DataFrame:
    """Every scale of ``instrument`` scored for each row of ``parsed`` (NaN where missing).

    The rule of :func:`instruments.scoring.score_scale` over whole columns: keyed values (option
    scoring and reverse keying, once per distinct answer), the plain sum or mean with every item
    answered, the prorated one with at least :func:`~instruments.scoring.needed` items, else
    missing. Keyed values are whole numbers, so the column sums equal ``math.fsum``'s exactly.
    """
    keyed: dict[str, np.ndarray] = {}
    for item in instrument.items:
        if not any(item.key in scale.items for scale in instrument.scales):
            continue
        column = parsed[item.key].to_numpy()
        distinct = {answer for answer in column if answer is not None}
        lookup = {answer: keyed_value(item, answer) for answer in distinct}
        keyed[item.key] = np.array(
            [np.nan if answer is None else lookup[answer] for answer in column]
            if lookup else np.full(len(column), np.nan), dtype=np.float64)
    scores: dict[str, np.ndarray] = {}
    for scale in instrument.scales:
        matrix = np.column_stack([keyed[key] for key in scale.items])
        answered = (~np.isnan(matrix)).sum(axis=1)
        total = np.nansum(matrix, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            if scale.rule == "mean":
                value = total / answered
            else:
                value = np.where(answered == len(scale.items), total,
                                 total / answered * len(scale.items))
        scores[scale.name] = np.where(answered >= needed(scale), value, np.nan)
    return pd.DataFrame(scores, index=parsed.index)


def long_scores(submitted: SubmittedAnswers, library: Library) -> pd.DataFrame:
    """The ``scores`` export's rows as a frame, in the export's order.

    Columns ``participant``, ``arm``, ``time``, ``instrument``, ``scale``, ``score`` (NaN where
    the scale is missing).
    """
    parts = []
    for instrument, responses, answers in submitted.by_instrument(library):
        if not instrument.scales:
            continue
        scores = scale_scores(instrument, answer_table(instrument, responses, answers))
        for number, scale in enumerate(instrument.scales):
            parts.append(pd.DataFrame({
                "position": responses.index.to_numpy(), "scale_number": number,
                "participant": responses["participant"].to_numpy(),
                "arm": responses["arm"].to_numpy(),
                "time": responses["time"].to_numpy(),
                "instrument": instrument.id, "scale": scale.name,
                "score": scores[scale.name].to_numpy(),
            }))
    columns = ["participant", "arm", "time", "instrument", "scale", "score"]
    if not parts:
        return pd.DataFrame(columns=columns)
    ordered = pd.concat(parts).sort_values(["position", "scale_number"], kind="stable")
    return ordered[columns].reset_index(drop=True)


def study_frame(session: Session, study: Study, library: Library,
                covariates: Sequence[str] = (), *,
                submitted: SubmittedAnswers | None = None) -> pd.DataFrame:
    """Every scale score as an outcome column named ``<instrument>.<scale>``.

    One row per participant x time: ``pre``, ``post`` and, when the study has a follow-up time
    point and someone answered it, ``followup`` (``analysis`` then adds the follow-up figures).

    Each covariate (an analysis plan's names: ``cohort`` or a baseline ``instrument.item``) adds
    one column with the participant's value on every row: the cohort's name, a choice item's
    stored value as a string, a number for a numeric item (integer or rating-scale kinds), and
    missing when the participant did not answer it at baseline. ``submitted``: the answers
    already read (:func:`load_answers`), else they are read here.

    Raises
    ------
    LookupError
        A covariate is neither ``cohort`` nor a baseline item of the study.
    """
    if submitted is None:
        submitted = load_answers(session, study)
    scores = long_scores(submitted, library)
    columns = ["participant", "arm", "time"]
    if scores.empty:
        return pd.DataFrame(columns=columns + list(covariates))
    scores = scores[scores["time"].isin(ANALYSED_TIMES) & (scores["arm"] != "")]
    scores["outcome"] = scores["instrument"] + "." + scores["scale"]
    scores["score"] = pd.to_numeric(scores["score"], errors="coerce")
    wide = scores.pivot_table(index=["participant", "arm", "time"], columns="outcome",
                              values="score", aggfunc="first").reset_index()
    wide.columns.name = None
    values = _covariate_values(session, study, library, covariates, submitted)
    for name, by_participant in values.items():
        wide[name] = wide["participant"].map(by_participant)
    return wide


def baseline_items(study: Study, library: Library) -> dict[str, dict[str, Any]]:
    """The background items of the baseline table, as ``analysis.analyze`` takes them.

    They are the choice, yes/no, true/false, integer and number items of the instruments given
    at baseline that have no
    scales (the background questionnaire: profession, year of training, prior contact), named
    ``<instrument>.<item>``. A choice item is categorical with its options in the instrument's
    order and their labels (a missing-data code is no level: it counts as missing); an integer
    item is numeric.
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
                spec["levels"] = {str(c.value): c.label for c in item.choices if not c.missing}
            items[f"{instrument.id}.{item.key}"] = spec
    return items


def _baseline_texts(submitted: SubmittedAnswers, library: Library, names: Sequence[str],
                    allocated_only: bool) -> pd.DataFrame:
    """Stored texts of baseline answers to ``names`` (``instrument.item``), long.

    Columns ``response``, ``name``, ``value``, ``participant``, ``arm``. A missing-data code
    (99 "inadequate information" of the version answered) is no value: its row is left out, as
    an unanswered item has none.
    """
    responses = submitted.responses
    wanted = {name.partition(".")[0] for name in names}
    chosen = responses[(responses["time"] == "pre") & responses["instrument"].isin(wanted)]
    if allocated_only:
        chosen = chosen[chosen["arm"] != ""]
    by_item = submitted.answers[submitted.answers["response"].isin(chosen["response"])]
    instrument_of = dict(zip(chosen["response"], chosen["instrument"], strict=True))
    long = pd.DataFrame({
        "response": by_item["response"].to_numpy(),
        "name": [f"{instrument_of[r]}.{item}" for r, item in
                 zip(by_item["response"].to_numpy(), by_item["item"].astype(object),
                     strict=True)],
        "value": by_item["value"].astype(object).to_numpy(),
    })
    long = long[long["name"].isin(list(names))]
    long = long.merge(chosen[["response", "participant", "arm", "version"]], on="response")
    coded = set()  # (name, version, stored text) of every missing-data code
    for (instrument_id, version), _ in chosen.groupby(["instrument", "version"]):
        instrument = library.get(str(instrument_id), str(version))
        coded |= {(f"{instrument.id}.{item.key}", instrument.version, str(choice.value))
                  for item in instrument.items for choice in item.choices if choice.missing}
    if coded:
        keys = zip(long["name"], long["version"], long["value"].astype(str), strict=True)
        long = long[[key not in coded for key in keys]]
    return long.drop(columns="version")


def background_frame(session: Session, study: Study, library: Library,
                     items: dict[str, dict[str, Any]], *,
                     submitted: SubmittedAnswers | None = None) -> pd.DataFrame:
    """The baseline answers to ``items`` of allocated participants: one ``pre`` row each.

    Columns ``participant``, ``arm`` (blinded Arm A/B codes while the study is blinded),
    ``time`` and one text column per item (missing where not answered, not applicable or
    answered with a missing-data code). Participants whose data were withdrawn and
    questionnaires not submitted are left out, as in the exports.
    """
    columns = ["participant", "arm", "time", *items]
    if not items:
        return pd.DataFrame(columns=columns)
    if submitted is None:
        submitted = load_answers(session, study)
    long = _baseline_texts(submitted, library, list(items), allocated_only=True)
    if long.empty:
        return pd.DataFrame(columns=columns).astype({name: "string" for name in items})
    wide = long.pivot(index=["participant", "arm"], columns="name", values="value")
    wide = wide.sort_index().reset_index()
    wide.columns.name = None
    wide.insert(2, "time", "pre")
    frame = wide.reindex(columns=columns)
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.astype({name: "string" for name in items})


def _covariate_values(session: Session, study: Study, library: Library,
                      covariates: Sequence[str], submitted: SubmittedAnswers
                      ) -> dict[str, pd.Series]:
    """Per covariate, its value by participant code (numeric items as numbers)."""
    if not covariates:
        return {}
    items = {name: covariate_item(study, library, name) for name in covariates}
    out: dict[str, pd.Series] = {}
    if COHORT_COVARIATE in items:
        out[COHORT_COVARIATE] = pd.Series(dict(session.execute(
            select(Participant.code, Cohort.name).join(Cohort)
            .where(Participant.study_id == study.id).order_by(Participant.code)).all()),
            dtype=object)
    wanted = {name: item for name, item in items.items() if item is not None}
    if wanted:
        # Contact items are never research data (DESIGN §8): such a covariate stays missing.
        long = _baseline_texts(submitted, library,
                               [n for n, i in wanted.items() if not i.contact],
                               allocated_only=False)
        for name, item in wanted.items():
            chosen = long[long["name"] == name].drop_duplicates("participant")
            values = pd.Series(chosen["value"].to_numpy(), index=chosen["participant"],
                               dtype=object)
            if kind_of(item).statistics(item).measure != "nominal":
                values = pd.to_numeric(values, errors="coerce")
            out[name] = values
    return {name: out[name] for name in covariates}
