"""Live counts of where a study's trainees are (coordinator and researcher landing pages).

Coordinators get theirs through :func:`coordinator_progress`, which hides the split by arm while
recruitment is open (DESIGN §4): with blocks of 2, 4 and 6, running tallies per arm let the
next arm be guessed about 70% of the time instead of 50%.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from study.models import (
    JOURNEY_ORDER,
    Allocation,
    Arm,
    Participant,
    ParticipantStatus,
    Study,
    StudyStatus,
)

STEP_LABELS = {
    ParticipantStatus.INVITED: "Invited",
    ParticipantStatus.CONSENTED: "Consented",
    ParticipantStatus.BASELINE_DONE: "Baseline done",
    ParticipantStatus.ALLOCATED: "Allocated",
    ParticipantStatus.INTERVENTION_DONE: "Intervention done",
    ParticipantStatus.POST_DONE: "Post done",
    ParticipantStatus.FOLLOWUP_DONE: "Follow-up done",
    ParticipantStatus.DECLINED: "Declined",
    ParticipantStatus.INELIGIBLE: "Ineligible",
    ParticipantStatus.WITHDRAWN: "Withdrawn",
    ParticipantStatus.LOST: "Lost to follow-up",
}


@dataclass(frozen=True)
class StudyProgress:
    by_status: dict[ParticipantStatus, int]
    by_arm: dict[str, int]
    # Set for a coordinator while recruiting: ``by_arm`` is empty and only ``allocated`` shows.
    arm_split_hidden: bool = False
    allocated: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def at(self, status: ParticipantStatus) -> int:
        return self.by_status.get(status, 0)


def study_progress(session: Session, study: Study) -> StudyProgress:
    """How many of the study's trainees are at each status now."""
    rows = session.execute(
        select(Participant.status, func.count())
        .where(Participant.study_id == study.id)
        .group_by(Participant.status)
    ).all()
    by_status = {status: 0 for status in STEP_LABELS}
    by_status.update({status: count for status, count in rows})
    arm_rows = session.execute(
        select(Arm.key, func.count(Allocation.id))
        .join(Allocation, Allocation.arm_id == Arm.id, isouter=True)
        .where(Arm.study_id == study.id)
        .group_by(Arm.key)
    ).all()
    by_arm = {key: count for key, count in arm_rows}
    return StudyProgress(by_status=by_status, by_arm=by_arm, allocated=sum(by_arm.values()))


def arm_split_hidden_from_coordinators(study: Study) -> bool:
    """Whether coordinators see allocation totals only: until recruitment has closed."""
    return study.status is not StudyStatus.CLOSED


def coordinator_progress(session: Session, study: Study) -> StudyProgress:
    """The counts a coordinator may see: no split by arm (or stratum) while recruiting."""
    counts = study_progress(session, study)
    if arm_split_hidden_from_coordinators(study):
        return replace(counts, by_arm={}, arm_split_hidden=True)
    return counts


def journey_rows(progress: StudyProgress) -> list[tuple[str, int]]:
    """(label, count) for each step of the journey, in order."""
    return [(STEP_LABELS[status], progress.at(status)) for status in JOURNEY_ORDER]


def exit_rows(progress: StudyProgress) -> list[tuple[str, int]]:
    """(label, count) for each way out of the journey: declined, ineligible, withdrawn, lost."""
    exits = [ParticipantStatus.DECLINED, ParticipantStatus.INELIGIBLE,
             ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST]
    return [(STEP_LABELS[status], progress.at(status)) for status in exits]

