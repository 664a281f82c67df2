"""De-identified exports (DESIGN §7, §8): pseudonymous codes only, every export audited.

Times are exported as dates: a time of day could tell who was in a session together. A trainee
whose data were deleted on withdrawal appears with the arm and "data withdrawn" only.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import AnswerError, Item, Library, parse_answers, score
from instruments.csvfiles import table_text
from instruments.kinds import kind_of, parse_answer
from study import audit
from study.models import (
    Allocation,
    AllocationState,
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

TABLES = ("allocations", "scores", "responses", "participants")
# The analysis contract's time labels (DESIGN §6).
TIME_LABELS = {"baseline": "pre", "post": "post", "followup": "followup"}


def _arms_by_participant(session: Session, study: Study) -> dict[int, str]:
    rows = session.execute(
        select(Allocation.participant_id, Arm.key).join(Arm, Allocation.arm_id == Arm.id)
        .where(Allocation.study_id == study.id)
    )
    return {pid: arm_code(study, key) for pid, key in rows}


class Stored(NamedTuple):
    """One answer as the database holds it: the text (``""`` when not applicable) and status."""

    value: str
    status: AnswerStatus


def _submitted_responses(session: Session, study: Study
                         ) -> Iterator[tuple[Participant, Timepoint, Response, dict[str, Stored]]]:
    rows = session.execute(
        select(Participant, Timepoint, Response)
        .join(Response, Response.participant_id == Participant.id)
        .join(Timepoint, Response.timepoint_id == Timepoint.id)
        .where(Participant.study_id == study.id, Participant.data_withdrawn.is_(False),
               Response.status == ResponseStatus.SUBMITTED)
        .order_by(Participant.code, Timepoint.position, Response.instrument_id)
    ).all()
    answers: dict[int, dict[str, Stored]] = {}
    response_ids = [r.id for _, _, r in rows]
    for start in range(0, len(response_ids), 500):
        for answer in session.scalars(
            select(Answer).where(Answer.response_id.in_(response_ids[start:start + 500]))
        ):
            answers.setdefault(answer.response_id, {})[answer.item_key] = Stored(
                answer.value, answer.status)
    for participant, timepoint, response in rows:
        yield participant, timepoint, response, answers.get(response.id, {})


# --- an answer as the exports show it ------------------------------------------------------------

ANSWERED = "answered"
NOT_APPLICABLE = "not_applicable"
MISSING_CODE = "missing_code"
STATUSES = (ANSWERED, NOT_APPLICABLE, MISSING_CODE)


def is_missing_code(item: Item, value: Any) -> bool:
    """True when ``value`` (in its stored type) is one of ``item``'s missing-data codes."""
    return value is not None and any(c.missing and c.value == value for c in item.choices)


@dataclass(frozen=True)
class Cell:
    """One exported value of an answer: its column, the value and the export ``status``.

    ``column`` is the item's key, or ``<key>___<code>`` for each choice of an item that takes
    several (a checkbox). ``value`` is a number for the kinds that store one (a scale, an
    integer, a checkbox's 1 or 0), else the stored text, ``""`` when not applicable. ``status``
    is one of :data:`STATUSES`: ``not_applicable`` when the item's branching logic left it out,
    ``missing_code`` when the answer is a missing-data code (kept as given, never scored).
    """

    column: str
    value: Any
    status: str


def answer_cells(item: Item, stored: Stored) -> list[Cell]:
    """The cells an answer becomes in the exports: one, or one per choice of a checkbox.

    A stored text the item cannot take (an answer from before a correction of the data) is
    kept as it is, as one ``answered`` cell under the item's key, never dropped.
    """
    kind = kind_of(item)
    columns = kind.columns(item)
    if stored.status == AnswerStatus.NOT_APPLICABLE:
        return [Cell(column, "", NOT_APPLICABLE) for column in columns]
    try:
        parsed = parse_answer(item, stored.value)
    except AnswerError:
        return [Cell(item.key, stored.value, ANSWERED)]
    if kind.multiple:
        return [
            Cell(column, "" if cell is None else cell,
                 MISSING_CODE if cell == 1 and choice.missing else ANSWERED)
            for column, cell, choice in zip(columns, kind.cells(item, parsed), item.choices,
                                            strict=True)]
    number = isinstance(parsed, numbers.Real) and not isinstance(parsed, bool)
    return [Cell(item.key, parsed if number else stored.value,
                 MISSING_CODE if is_missing_code(item, parsed) else ANSWERED)]


ALLOCATION_HEADER = ["participant", "arm", "stratum", "allocated_at", "data_withdrawn"]
RESPONSES_HEADER = ["participant", "arm", "time", "instrument", "version", "item", "value",
                    "status"]


def allocation_rows(session: Session, study: Study) -> list[dict[str, Any]]:
    """The allocations export: the stratum's label and the date, or "data withdrawn" (DESIGN §8).

    For a trainee whose data are kept, ``stratum`` is the label of the stratum they were
    randomized in (``cohort=…|profession=…``, read from the stratum's state row), which
    stratified analyses need, and ``allocated_at`` the date (never the time of day, which could
    tell who sat together in a session). A trainee whose data were deleted on withdrawal is
    listed with the arm and ``data_withdrawn`` = 1 only: no label, no opaque id (which, matched
    with the rows of other trainees, would name the stratum), no date; rows are in code order,
    so neither does a row's place tell when it was allocated.
    """
    rows: list[dict[str, Any]] = []
    for allocation, code, key, data_withdrawn, label in session.execute(
            select(Allocation, Participant.code, Arm.key, Participant.data_withdrawn,
                   AllocationState.stratum)
            .join(Participant, Allocation.participant_id == Participant.id)
            .join(Arm, Allocation.arm_id == Arm.id)
            .outerjoin(AllocationState, (AllocationState.study_id == Allocation.study_id)
                       & (AllocationState.stratum_id == Allocation.stratum_id))
            .where(Allocation.study_id == study.id)
            .order_by(Participant.code)):  # random codes: the order tells nothing of time
        if data_withdrawn:
            rows.append({"participant": code, "arm": arm_code(study, key), "stratum": "",
                         "allocated_at": "", "data_withdrawn": 1})
        else:
            rows.append({"participant": code, "arm": arm_code(study, key),
                         "stratum": label or "",
                         "allocated_at": allocation.allocated_at.date().isoformat(),
                         "data_withdrawn": 0})
    return rows


def rows_for(session: Session, study: Study, table: str, library: Library
             ) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and de-identified rows of one export table (DESIGN §7).

    ``responses`` has a row per exported cell of each answer (:func:`answer_cells`): its
    ``value`` (a number where the item stores one) and ``status`` (``answered``,
    ``not_applicable`` with an empty value, or ``missing_code``). An item asked and left blank
    has no row.
    """
    arms = _arms_by_participant(session, study)
    rows: list[dict[str, Any]]
    if table == "participants":
        header = ["participant", "cohort", "arm", "status", "status_changed_on", "withdrawn",
                  "data_withdrawn"]
        rows = []
        for p, cohort in session.execute(
                select(Participant, Cohort.name).join(Cohort)
                .where(Participant.study_id == study.id).order_by(Participant.code)):
            kept = not p.data_withdrawn
            rows.append({"participant": p.code, "cohort": cohort if kept else "",
                         "arm": arms.get(p.id, ""), "status": p.status.value,
                         "status_changed_on": p.status_changed_at.date().isoformat() if kept
                         else "",
                         "withdrawn": int(p.withdrawn_at is not None),
                         "data_withdrawn": int(p.data_withdrawn)})
        return header, rows
    if table == "allocations":
        return ALLOCATION_HEADER, allocation_rows(session, study)
    if table == "responses":
        rows = []
        for participant, timepoint, response, answers in _submitted_responses(session, study):
            instrument = library.get(response.instrument_id, response.instrument_version)
            # Contact data (§8) and text shown on its own (descriptive) are never exported.
            for item in instrument.research_items:
                if item.key not in answers:
                    continue  # asked and left blank: missing, no row
                for cell in answer_cells(item, answers[item.key]):
                    rows.append({"participant": participant.code,
                                 "arm": arms.get(participant.id, ""),
                                 "time": TIME_LABELS.get(timepoint.name, timepoint.name),
                                 "instrument": instrument.id, "version": instrument.version,
                                 "item": cell.column, "value": cell.value,
                                 "status": cell.status})
        return RESPONSES_HEADER, rows
    if table == "scores":
        header = ["participant", "arm", "time", "instrument", "scale", "score"]
        rows = []
        for participant, timepoint, response, answers in _submitted_responses(session, study):
            instrument = library.get(response.instrument_id, response.instrument_version)
            if not instrument.scales:
                continue
            texts = {key: stored.value for key, stored in answers.items()}  # "" = unanswered
            for name, result in score(instrument, parse_answers(instrument, texts)).items():
                rows.append({"participant": participant.code,
                             "arm": arms.get(participant.id, ""),
                             "time": TIME_LABELS.get(timepoint.name, timepoint.name),
                             "instrument": instrument.id, "scale": name,
                             "score": "" if result.value is None else result.value})
        return header, rows
    raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")


def export_csv(session: Session, study: Study, table: str, library: Library, *,
               actor: str) -> str:
    """One export table as CSV text; the export is audited.

    Scores are numbers, and so is an answer whose item's kind stores one (:func:`answer_cells`);
    the writer neutralises text that a spreadsheet would take for a formula (DESIGN §9), so a
    free-text answer "-1.5" is written '-1.5 and a score -1.5 as it is.
    """
    header, rows = rows_for(session, study, table, library)
    audit.record(session, "export", actor=actor, study=study, table=table, rows=len(rows))
    return table_text(header, rows, numeric={"score"})
