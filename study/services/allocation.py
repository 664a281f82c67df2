"""Race-free allocation (DESIGN §4, §9).

Order of locks, always: the participant row, then the stratum's state row. On PostgreSQL both
are ``SELECT … FOR UPDATE``; on SQLite every transaction already holds the database write lock
(``BEGIN IMMEDIATE``, see ``study.database``). The "already allocated?" check runs only after
the stratum lock is held, and unique constraints on (participant) and (stratum, position) stand
behind it all.

The stratum's lock row is keyed by its label, computed from the trainee's cohort and baseline
answers. Allocations and their audit events record only the stratum's opaque id (HMAC of the
label with the study's key), under every sequence scheme: they are part of the minimal trial
record that outlives a withdrawal deleting the trainee's data (DESIGN §8). Scheme 2 keys the
sequence itself by that id; scheme 1 by the label, which ``verify-sequence`` then reads from the
state row.
"""

from __future__ import annotations

import functools

from sqlalchemy import Select, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from study import audit
from study.errors import NotAllowed
from study.models import (
    Allocation,
    AllocationState,
    Answer,
    AnswerStatus,
    Participant,
    ParticipantStatus,
    Response,
    Study,
    Timepoint,
)
from study.services.sequence import parse_block_sizes, sequence_key, slot_at, stratum_id


def lock_participant(session: Session, participant_id: int) -> Participant:
    """Re-read a participant under a row lock; every trainee write starts here.

    Its study is read again in the same round trip (a write checks its status and data lock);
    only the participant's row is locked.
    """
    return session.execute(_lock_query(), {"participant_id": participant_id}).scalar_one()


@functools.cache
def _lock_query() -> Select[Participant]:
    """:func:`lock_participant`'s query, built once (every trainee write runs it)."""
    return (select(Participant)
            .where(Participant.id == bindparam("participant_id"))
            .options(joinedload(Participant.study, innerjoin=True))
            .with_for_update(of=Participant)
            .execution_options(populate_existing=True))


def strata_factors(study: Study) -> list[str]:
    """The study's stratification factors, each ``instrument.item`` of a baseline questionnaire."""
    return [factor for factor in (f.strip() for f in study.strata_factors.split(",")) if factor]


def stratum_of(session: Session, participant: Participant) -> str:
    """The participant's stratum: the cohort, then each baseline factor the study names."""
    parts = [f"cohort={participant.cohort.name}"]
    for factor in strata_factors(participant.study):
        instrument_id, _, item_key = factor.partition(".")
        value = session.execute(
            select(Answer.value)
            .join(Response, Answer.response_id == Response.id)
            .join(Timepoint, Response.timepoint_id == Timepoint.id)
            .where(
                Response.participant_id == participant.id,
                Timepoint.name == "baseline",
                Response.instrument_id == instrument_id,
                Answer.item_key == item_key,
                Answer.status == AnswerStatus.ANSWERED,  # not asked: no answer to stratify by
            )
        ).scalar_one_or_none()
        parts.append(f"{item_key}={value or 'missing'}")  # "" is not applicable
    return "|".join(parts)


def _lock_state(session: Session, study: Study, stratum: str, opaque_id: str
                ) -> AllocationState:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(AllocationState)
        .values(study_id=study.id, stratum=stratum, stratum_id=opaque_id, next_position=0)
        # Any conflict, not only on (study_id, stratum): the row is unique on its opaque
        # stratum_id too, and PostgreSQL raises a conflict on a unique index that ON CONFLICT
        # does not name, which two trainees opening a stratum at once would meet.
        .on_conflict_do_nothing()
    )
    return session.execute(
        select(AllocationState)
        .where(AllocationState.study_id == study.id, AllocationState.stratum == stratum)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def existing_allocation(session: Session, participant: Participant) -> Allocation | None:
    """The participant's allocation, read afresh from the database, or None before allocation."""
    return session.execute(
        select(Allocation)
        .where(Allocation.participant_id == participant.id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def allocate(session: Session, participant: Participant, *, actor: str) -> Allocation:
    """Allocate a participant whose baseline is complete; a second call returns the first result.

    The caller must hold the participant's row lock (``lock_participant``).
    """
    study = participant.study
    seed = study.allocation_seed
    if seed is None:  # no sequence, so no allocation can exist yet either
        raise NotAllowed("This study has not opened recruitment.")
    stratum = stratum_of(session, participant)
    opaque_id = stratum_id(seed, stratum)
    state = _lock_state(session, study, stratum, opaque_id)

    allocation = existing_allocation(session, participant)
    if allocation is not None:
        return allocation
    if participant.status is not ParticipantStatus.BASELINE_DONE:
        raise NotAllowed("Allocation happens only after every baseline questionnaire is complete.")

    ratios = {arm.key: arm.ratio for arm in study.arms}
    block_sizes = parse_block_sizes(study.block_sizes)
    key = sequence_key(study.sequence_scheme, seed, stratum)
    slot = slot_at(seed, key, ratios, block_sizes, state.next_position,
                   scheme=study.sequence_scheme)
    arm = study.arm_by_key(slot.arm)
    assert arm is not None
    allocation = Allocation(
        study_id=study.id,
        participant_id=participant.id,
        arm_id=arm.id,
        stratum_id=opaque_id,
        position=slot.position,
        block_size=slot.block_size,
    )
    session.add(allocation)
    state.next_position += 1
    participant.move_to(ParticipantStatus.ALLOCATED)
    session.flush()
    audit.record(
        session, "allocation", actor=actor, participant=participant,
        arm=arm.key, stratum_id=opaque_id, position=slot.position,
        block_size=slot.block_size,
    )
    return allocation
