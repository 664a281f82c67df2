"""CONSORT flow counts (DESIGN §6): one service for the dashboard, the API and the report.

Counts are cumulative ("reached at least this step") and derived from facts rather than from
the trainee's current status alone: consent rows, allocation rows, submitted questionnaires
(the responses, and the audit trail for trainees whose answers were deleted on withdrawal),
attendance and module completion, and the exit status with its reason category
(``Participant.exit_reason``). A trainee who withdrew after the post questionnaire still
counts in ``post_done``.

Reason categories
-----------------
- ``enrolment.excluded`` (invited, never allocated, journey ended): ``ineligible`` (marked
  ineligible by a coordinator), ``declined`` (declined consent, or withdrew after consenting
  but before allocation), ``other`` (marked ineligible with the reason "other").
- ``allocation.ARM.not_received``: ``not_started`` (never booked a session / never opened the
  module), ``not_completed`` (booked but did not attend / started the module but did not
  finish it), ``in_progress`` (still within the study's intervention period). The names are
  the same for both arms on purpose: "did not attend" against "did not complete the module"
  would tell a blinded reader which arm is contact.
- ``follow_up.ARM.lost``: ``no_response``, ``unreachable``, ``other``;
  ``follow_up.ARM.discontinued`` (withdrew after allocation): ``withdrew``, ``other``.
- ``analysis.ARM.excluded`` (not in the intention-to-treat analysis of the primary outcome):
  ``data_withdrawn``, ``missing_pre``, ``missing_post`` (``missing_followup`` when the plan's
  primary time point is the follow-up), checked in that order.

ARM keys are arm codes from :mod:`study.services.blinding` (``arm_a``/``arm_b`` while blinded).
Every category is always present, with 0, so the shape never depends on the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from study.models import (
    Allocation,
    ArmKind,
    AuditEvent,
    Booking,
    Cohort,
    Consent,
    ConsentChoice,
    ModuleProgress,
    Participant,
    ParticipantStatus,
    Response,
    ResponseStatus,
    Study,
    Timepoint,
    utcnow,
)
from study.services import sap
from study.services.blinding import arm_code, arm_labels, display_arms

EXCLUSION_REASONS = ("ineligible", "declined", "other")
# What a coordinator can give when marking a consented trainee ineligible.
INELIGIBILITY_REASONS = ("ineligible", "other")
NOT_RECEIVED_REASONS = ("not_started", "not_completed", "in_progress")
LOST_REASONS = ("no_response", "unreachable", "other")
DISCONTINUATION_REASONS = ("withdrew", "other")

REASON_LABELS = {
    "ineligible": "Not meeting the inclusion criteria",
    "declined": "Declined to take part",
    "other": "Other reasons",
    "not_started": "Did not start their activity",
    "not_completed": "Started but did not complete their activity",
    "in_progress": "Still within the intervention period",
    "no_response": "Stopped responding",
    "unreachable": "Could not be reached",
    "withdrew": "Withdrew",
    "data_withdrawn": "Data withdrawn",
    "missing_pre": "No baseline score",
    "missing_post": "No post score",
    "missing_followup": "No follow-up score",
}


def _tally(reasons: Iterable[str], values: Iterable[str | None]) -> dict[str, int]:
    """Counts per category, every category present; an unknown value counts as ``other``."""
    counts = dict.fromkeys(reasons, 0)
    for value in values:
        key = value if value in counts else "other"
        if key in counts:
            counts[key] += 1
    return counts


def primary_measure(session: Session, study: Study) -> tuple[str | None, str]:
    """The instrument of the primary outcome and its time point (``post`` or ``followup``).

    From the current analysis plan (DESIGN §6), else the first post instrument also given at
    baseline (the analysis default, for a study opened before plans existed).
    """
    plan = sap.current_plan(session, study)
    document: dict[str, Any] = plan.plan if plan is not None else {}
    time = document.get("primary_time") or "post"
    outcome = document.get("primary_outcome")
    if outcome:
        return str(outcome).split(".", 1)[0], str(time)
    baseline, post = study.timepoint("baseline"), study.timepoint("post")
    if baseline is None or post is None:
        return None, str(time)
    at_baseline = {pinned.instrument_id for pinned in baseline.instruments}
    first = next((p.instrument_id for p in post.instruments if p.instrument_id in at_baseline),
                 None)
    return first, str(time)


def _submitted(session: Session, study: Study, codes: dict[str, int]) -> set[tuple[int, str, str]]:
    """(participant id, time point, instrument) of every questionnaire ever submitted."""
    done = {(pid, tp, instrument) for pid, tp, instrument in session.execute(
        select(Response.participant_id, Timepoint.name, Response.instrument_id)
        .join(Timepoint, Response.timepoint_id == Timepoint.id)
        .where(Timepoint.study_id == study.id, Response.status == ResponseStatus.SUBMITTED))}
    # Answers deleted on withdrawal leave their submission in the audit trail.
    for code, details in session.execute(
        select(AuditEvent.participant_code, AuditEvent.details)
        .where(AuditEvent.study_id == study.id, AuditEvent.action == "questionnaire_submitted")
    ):
        if code in codes and isinstance(details, dict):
            done.add((codes[code], str(details.get("timepoint")), str(details.get("instrument"))))
    return done


def consort_counts(session: Session, study: Study, cohort: Cohort | None = None, *,
                   now: datetime | None = None) -> dict[str, Any]:
    """The CONSORT counts of ``study`` in the shape DESIGN §6 gives (see the module docstring).

    With ``cohort``, the counts of that cohort's trainees only. ``now`` (default: now) decides
    who is still within the intervention period.
    """
    in_scope: ColumnElement[bool] = Participant.study_id == study.id
    if cohort is not None:
        in_scope = and_(in_scope, Participant.cohort_id == cohort.id)
    participants = list(session.scalars(select(Participant).where(in_scope)))
    codes = {p.code: p.id for p in participants}
    consents: dict[int, set[ConsentChoice]] = {}
    for pid, choice in session.execute(
        select(Consent.participant_id, Consent.choice).join(Participant).where(in_scope)
    ):
        consents.setdefault(pid, set()).add(choice)
    allocations = {a.participant_id: a for a in session.scalars(
        select(Allocation).join(Participant, Allocation.participant_id == Participant.id)
        .where(in_scope))}
    bookings = dict(session.execute(
        select(Booking.participant_id, Booking.attended).join(Participant)
        .where(in_scope)).all())
    modules = dict(session.execute(
        select(ModuleProgress.participant_id, ModuleProgress.completed_at).join(Participant)
        .where(in_scope)).all())
    submitted = _submitted(session, study, codes)
    instruments = {tp.name: {p.instrument_id for p in tp.instruments} for tp in study.timepoints}
    primary_instrument, primary_time = primary_measure(session, study)
    now = now or utcnow()
    period = timedelta(days=study.intervention_period_days or 0)

    def completed(pid: int, timepoint: str) -> bool:
        wanted = instruments.get(timepoint) or set()
        return bool(wanted) and all((pid, timepoint, i) in submitted for i in wanted)

    excluded: list[str] = []
    arm_of: dict[int, str] = {}
    for p in participants:
        allocation = allocations.get(p.id)
        if allocation is not None:
            arm_of[p.id] = allocation.arm.key
        elif p.status is ParticipantStatus.DECLINED or p.status is ParticipantStatus.WITHDRAWN:
            excluded.append("declined")
        elif p.status is ParticipantStatus.INELIGIBLE:
            excluded.append(p.exit_reason if p.exit_reason in INELIGIBILITY_REASONS
                            else "ineligible")

    by_arm: dict[str, list[Participant]] = {arm.key: [] for arm in study.arms}
    for p in participants:
        if p.id in arm_of:
            by_arm[arm_of[p.id]].append(p)

    allocation_counts: dict[str, Any] = {}
    follow_up: dict[str, Any] = {}
    analysis: dict[str, Any] = {}
    missing_time = f"missing_{primary_time}"
    for arm in display_arms(study):
        members = by_arm[arm.key]
        received, not_received = 0, []
        for p in members:
            if arm.kind is ArmKind.CONTACT:
                got, started = bookings.get(p.id) is True, p.id in bookings
            else:
                got, started = modules.get(p.id) is not None, p.id in modules
            if got:
                received += 1
            elif (p.status is ParticipantStatus.ALLOCATED
                  and allocations[p.id].allocated_at + period > now):
                not_received.append("in_progress")
            else:
                not_received.append("not_completed" if started else "not_started")
        exclusions = []
        for p in members:
            if p.data_withdrawn:
                exclusions.append("data_withdrawn")
            elif (p.id, "baseline", primary_instrument) not in submitted:
                exclusions.append("missing_pre")
            elif (p.id, primary_time, primary_instrument) not in submitted:
                exclusions.append(missing_time)
        code = arm_code(study, arm.key)
        allocation_counts[code] = {
            "allocated": len(members), "received": received,
            "not_received": _tally(NOT_RECEIVED_REASONS, not_received)}
        follow_up[code] = {
            "post_done": sum(completed(p.id, "post") for p in members),
            "followup_done": sum(completed(p.id, "followup") for p in members),
            "lost": _tally(LOST_REASONS, [p.exit_reason for p in members
                                          if p.status is ParticipantStatus.LOST]),
            "discontinued": _tally(DISCONTINUATION_REASONS, [
                p.exit_reason for p in members if p.status is ParticipantStatus.WITHDRAWN]),
        }
        analysis[code] = {
            "analysed": len(members) - len(exclusions),
            "excluded": _tally(("data_withdrawn", "missing_pre", missing_time), exclusions)}

    return {
        "enrolment": {
            "invited": len(participants),
            "consented": sum(ConsentChoice.AGREE in c for c in consents.values()),
            "declined": sum(ConsentChoice.AGREE not in c for c in consents.values()),
            "excluded": _tally(EXCLUSION_REASONS, excluded),
        },
        "allocation": allocation_counts,
        "follow_up": follow_up,
        "analysis": analysis,
    }


TOTAL = "all"


def pooled(counts: dict[str, Any]) -> dict[str, Any]:
    """The counts with the arms added together under one key, ``"all"``.

    What coordinators see while recruitment is open (DESIGN §4): running tallies per arm would
    let them guess the next allocation.
    """

    def add(values: list[Any]) -> Any:
        if isinstance(values[0], dict):
            return {key: add([v[key] for v in values]) for key in values[0]}
        return sum(values)

    result: dict[str, Any] = {"enrolment": counts["enrolment"]}
    for stage in ("allocation", "follow_up", "analysis"):
        arms = list(counts[stage].values())
        result[stage] = {TOTAL: add(arms)} if arms else {}
    return result


@dataclass(frozen=True)
class ConsortTable:
    """The counts as the pages show them: enrolment rows, then one column per arm."""

    enrolment: list[tuple[str, int, bool]]
    arms: list[str]
    rows: list[tuple[str, list[int], bool]]


def consort_table(study: Study, counts: dict[str, Any]) -> ConsortTable:
    """Rows (label, numbers, is a reason) for the CONSORT partial, in the order of the diagram."""
    enrolment = counts["enrolment"]
    enrolment_rows = [("Invited", enrolment["invited"], False),
                      ("Consented", enrolment["consented"], False),
                      ("Declined consent", enrolment["declined"], False),
                      ("Not allocated (excluded)", sum(enrolment["excluded"].values()), False)]
    enrolment_rows += [(REASON_LABELS[r], n, True) for r, n in enrolment["excluded"].items()]
    codes = list(counts["allocation"])
    labels = {**arm_labels(study), TOTAL: "All arms"}
    rows: list[tuple[str, list[int], bool]] = []

    def row(label: str, stage: str, key: str) -> None:
        rows.append((label, [counts[stage][c][key] for c in codes], False))

    def reasons(label: str, stage: str, key: str) -> None:
        values = [counts[stage][c][key] for c in codes]
        rows.append((label, [sum(v.values()) for v in values], False))
        for reason in (values[0] if values else {}):
            rows.append((REASON_LABELS[reason], [v[reason] for v in values], True))

    row("Allocated", "allocation", "allocated")
    row("Received their activity", "allocation", "received")
    reasons("Did not receive it", "allocation", "not_received")
    row("Post questionnaire done", "follow_up", "post_done")
    row("Follow-up questionnaire done", "follow_up", "followup_done")
    reasons("Lost to follow-up", "follow_up", "lost")
    reasons("Discontinued", "follow_up", "discontinued")
    row("Analysed (primary outcome, intention to treat)", "analysis", "analysed")
    reasons("Not analysed", "analysis", "excluded")
    return ConsortTable(enrolment_rows, [labels.get(c, c) for c in codes], rows)
