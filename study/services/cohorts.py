"""Cohorts: the groups a study recruits in (a site, a term), opened, closed and reopened.

A closed cohort takes no new invitations (``invitations.invite`` refuses them); its trainees
carry on. Closing is undone by reopening, because a coordinator who closed the wrong cohort
must be able to put it right. Counts are pooled over the arms: while recruiting, coordinators
never see a tally per arm (DESIGN §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from study import audit
from study.errors import DomainError, NotAllowed
from study.models import (
    Allocation,
    Cohort,
    Consent,
    ConsentChoice,
    Participant,
    ParticipantStatus,
    Study,
    utcnow,
)

NAME_LENGTH = 100
SITE_LENGTH = 200


class CohortNameTaken(DomainError):
    """Another cohort of the study has this name (names pick cohorts in spreadsheets)."""


class CohortDatesOutOfOrder(DomainError):
    """The cohort would end before it starts."""


@dataclass(frozen=True)
class CohortCounts:
    """How far a cohort's trainees got, pooled over the arms."""

    invited: int = 0
    consented: int = 0
    allocated: int = 0
    completed_post: int = 0


def _check(session: Session, study: Study, name: str, starts_on: date | None,
           ends_on: date | None, *, cohort: Cohort | None = None) -> str:
    name = name.strip()
    if not name:
        raise NotAllowed("Give the cohort a name.")
    if len(name) > NAME_LENGTH:
        raise NotAllowed(f"A cohort name has at most {NAME_LENGTH} characters.")
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise CohortDatesOutOfOrder("The cohort cannot end before it starts.")
    clash = session.scalars(
        select(Cohort).where(Cohort.study_id == study.id,
                             func.lower(Cohort.name) == name.lower())
    ).first()
    if clash is not None and clash is not cohort:
        raise CohortNameTaken(f"The study already has a cohort named {clash.name!r}.")
    return name


def create_cohort(session: Session, study: Study, *, name: str, site: str = "",
                  starts_on: date | None = None, ends_on: date | None = None,
                  actor: str) -> Cohort:
    """A new open cohort of ``study``, audited."""
    name = _check(session, study, name, starts_on, ends_on)
    cohort = Cohort(study_id=study.id, name=name, site=site.strip()[:SITE_LENGTH],
                    starts_on=starts_on, ends_on=ends_on)
    session.add(cohort)
    session.flush()
    audit.record(session, "cohort_created", actor=actor, study=study, cohort=name)
    return cohort


def update_cohort(session: Session, cohort: Cohort, *, name: str, site: str,
                  starts_on: date | None, ends_on: date | None, actor: str) -> None:
    """Rename a cohort or change its site and dates, audited with what changed."""
    name = _check(session, cohort.study, name, starts_on, ends_on, cohort=cohort)
    before = {"name": cohort.name, "site": cohort.site,
              "starts_on": cohort.starts_on, "ends_on": cohort.ends_on}
    after = {"name": name, "site": site.strip()[:SITE_LENGTH],
             "starts_on": starts_on, "ends_on": ends_on}
    changed = sorted(key for key in after if after[key] != before[key])
    if not changed:
        return
    cohort.name, cohort.site = after["name"], after["site"]  # type: ignore[assignment]
    cohort.starts_on, cohort.ends_on = starts_on, ends_on
    session.flush()
    audit.record(session, "cohort_changed", actor=actor, study=cohort.study, cohort=name,
                 previous_name=before["name"], changed=changed)


def close_cohort(session: Session, cohort: Cohort, *, actor: str) -> None:
    """Stop new invitations to ``cohort``; its trainees carry on."""
    if cohort.closed_at is not None:
        raise NotAllowed(f"Cohort {cohort.name!r} is closed already.")
    cohort.closed_at = utcnow()
    audit.record(session, "cohort_closed", actor=actor, study=cohort.study, cohort=cohort.name)


def reopen_cohort(session: Session, cohort: Cohort, *, actor: str) -> None:
    """Undo :func:`close_cohort`: the cohort takes invitations again."""
    if cohort.closed_at is None:
        raise NotAllowed(f"Cohort {cohort.name!r} is open already.")
    cohort.closed_at = None
    audit.record(session, "cohort_reopened", actor=actor, study=cohort.study,
                 cohort=cohort.name)


# Statuses of a trainee who has answered the post questionnaire and not left since.
AFTER_POST = (ParticipantStatus.POST_DONE, ParticipantStatus.FOLLOWUP_DONE)


def cohort_counts(session: Session, study: Study) -> dict[int, CohortCounts]:
    """Per cohort id: trainees invited, consented, allocated and past the post questionnaire.

    Pooled over the arms, whatever the study's status. ``consented`` counts everyone who agreed
    (also those who left later), ``allocated`` everyone randomized; ``completed_post`` counts
    trainees whose current step is after the post questionnaire.
    """
    def per_cohort(query: Select[int, int]) -> dict[int, int]:
        return {cohort_id: count for cohort_id, count in session.execute(query)}

    by_cohort = Participant.cohort_id
    in_study = Participant.study_id == study.id
    invited = per_cohort(select(by_cohort, func.count(Participant.id)).where(in_study)
                         .group_by(by_cohort))
    consented = per_cohort(
        select(by_cohort, func.count(func.distinct(Participant.id)))
        .join(Consent, Consent.participant_id == Participant.id)
        .where(in_study, Consent.choice == ConsentChoice.AGREE).group_by(by_cohort))
    allocated = per_cohort(
        select(by_cohort, func.count(Allocation.id))
        .join(Allocation, Allocation.participant_id == Participant.id)
        .where(in_study).group_by(by_cohort))
    completed = per_cohort(
        select(by_cohort, func.count(Participant.id))
        .where(in_study, Participant.status.in_(AFTER_POST)).group_by(by_cohort))
    return {cohort.id: CohortCounts(invited.get(cohort.id, 0), consented.get(cohort.id, 0),
                                    allocated.get(cohort.id, 0), completed.get(cohort.id, 0))
            for cohort in study.cohorts}
