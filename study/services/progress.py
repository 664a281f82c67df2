"""Live counts of where a study's trainees are (coordinator and researcher landing pages)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from study.models import (
    JOURNEY_ORDER,
    Allocation,
    Arm,
    Participant,
    ParticipantStatus,
    Study,
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
    return StudyProgress(by_status=by_status, by_arm={key: count for key, count in arm_rows})


def journey_rows(progress: StudyProgress) -> list[tuple[str, int]]:
    """(label, count) for each step of the journey, in order."""
    return [(STEP_LABELS[status], progress.at(status)) for status in JOURNEY_ORDER]


def exit_rows(progress: StudyProgress) -> list[tuple[str, int]]:
    """(label, count) for each way out of the journey: declined, ineligible, withdrawn, lost."""
    exits = [ParticipantStatus.DECLINED, ParticipantStatus.INELIGIBLE,
             ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST]
    return [(STEP_LABELS[status], progress.at(status)) for status in exits]

