"""De-identified exports (DESIGN §7, §8): pseudonymous codes only, every export audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import AnswerError, Library, parse_answers, score
from instruments.csvfiles import table_text
from instruments.kinds import parse_answer
from study import audit
from study.models import (
    Allocation,
    Answer,
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


def _submitted_responses(session: Session, study: Study
                         ) -> Iterator[tuple[Participant, Timepoint, Response, dict[str, str]]]:
    rows = session.execute(
        select(Participant, Timepoint, Response)
        .join(Response, Response.participant_id == Participant.id)
        .join(Timepoint, Response.timepoint_id == Timepoint.id)
        .where(Participant.study_id == study.id, Participant.data_withdrawn.is_(False),
               Response.status == ResponseStatus.SUBMITTED)
        .order_by(Participant.code, Timepoint.position, Response.instrument_id)
    ).all()
    answers: dict[int, dict[str, str]] = {}
    response_ids = [r.id for _, _, r in rows]
    for start in range(0, len(response_ids), 500):
        for answer in session.scalars(
            select(Answer).where(Answer.response_id.in_(response_ids[start:start + 500]))
        ):
            answers.setdefault(answer.response_id, {})[answer.item_key] = answer.value
    for participant, timepoint, response in rows:
        yield participant, timepoint, response, answers.get(response.id, {})


def rows_for(session: Session, study: Study, table: str, library: Library
             ) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and de-identified rows of one export table (DESIGN §7)."""
    arms = _arms_by_participant(session, study)
    rows: list[dict[str, Any]]
    if table == "participants":
        header = ["participant", "cohort", "arm", "status", "status_changed_on", "withdrawn",
                  "data_withdrawn"]
        rows = [
            {"participant": p.code, "cohort": cohort, "arm": arms.get(p.id, ""),
             "status": p.status.value, "status_changed_on": p.status_changed_at.date().isoformat(),
             "withdrawn": int(p.withdrawn_at is not None), "data_withdrawn": int(p.data_withdrawn)}
            for p, cohort in session.execute(
                select(Participant, Cohort.name).join(Cohort)
                .where(Participant.study_id == study.id).order_by(Participant.code))
        ]
        return header, rows
    if table == "allocations":
        header = ["participant", "arm", "stratum", "allocated_at"]
        rows = [
            {"participant": code, "arm": arm_code(study, key), "stratum": a.stratum,
             "allocated_at": a.allocated_at.isoformat()}
            for a, code, key in session.execute(
                select(Allocation, Participant.code, Arm.key)
                .join(Participant, Allocation.participant_id == Participant.id)
                .join(Arm, Allocation.arm_id == Arm.id)
                .where(Allocation.study_id == study.id).order_by(Allocation.allocated_at))
        ]
        return header, rows
    if table == "responses":
        header = ["participant", "arm", "time", "instrument", "version", "item", "value"]
        rows = []
        for participant, timepoint, response, answers in _submitted_responses(session, study):
            instrument = library.get(response.instrument_id, response.instrument_version)
            for item in instrument.research_items:  # contact data is never exported (§8)
                if item.key in answers:
                    rows.append({"participant": participant.code,
                                 "arm": arms.get(participant.id, ""),
                                 "time": TIME_LABELS.get(timepoint.name, timepoint.name),
                                 "instrument": instrument.id, "version": instrument.version,
                                 "item": item.key, "value": answers[item.key]})
        return header, rows
    if table == "scores":
        header = ["participant", "arm", "time", "instrument", "scale", "score"]
        rows = []
        for participant, timepoint, response, answers in _submitted_responses(session, study):
            instrument = library.get(response.instrument_id, response.instrument_version)
            if not instrument.scales:
                continue
            for name, result in score(instrument, parse_answers(instrument, answers)).items():
                rows.append({"participant": participant.code,
                             "arm": arms.get(participant.id, ""),
                             "time": TIME_LABELS.get(timepoint.name, timepoint.name),
                             "instrument": instrument.id, "scale": name,
                             "score": "" if result.value is None else result.value})
        return header, rows
    raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")


def export_csv(session: Session, study: Study, table: str, library: Library, *,
               actor: str) -> str:
    """One export table as CSV text; the export is audited."""
    header, rows = rows_for(session, study, table, library)
    if table == "responses":
        rows = [{**row, "value": _typed_answer(library, row)} for row in rows]
    audit.record(session, "export", actor=actor, study=study, table=table, rows=len(rows))
    # Scores are numbers; an answer is a number when its item's kind stores one (_typed_answer).
    return table_text(header, rows, numeric={"score"})


def _typed_answer(library: Library, row: dict[str, Any]) -> Any:
    """An answer as its item stores it: a number for scale and integer items, else the text.

    The CSV writer leaves numbers alone and neutralises text that a spreadsheet would take for a
    formula (DESIGN §9), so a free-text answer "-1.5" is written '-1.5 and a score -1.5 as it is.
    """
    item = library.get(row["instrument"], row["version"]).item(row["item"])
    try:
        value = parse_answer(item, row["value"])
    except AnswerError:
        return row["value"]
    return value if isinstance(value, int | float) else row["value"]
