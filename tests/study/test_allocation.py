"""Randomization in the database: the guards, the stratum ids of sequence scheme 2, and
race-freedom under concurrency (DESIGN §4, §9). The sequence itself: test_sequence.py."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import islice

import pytest
from sqlalchemy import select

from study.errors import NotAllowed
from study.extensions import db
from study.models import (
    Allocation,
    AllocationState,
    Arm,
    AuditEvent,
    Participant,
    ParticipantStatus,
)
from study.services import invitations, sequence
from study.services.allocation import allocate, lock_participant
from tests.helpers import Demo

RATIOS = {"contact": 1, "education": 1}


@pytest.fixture
def study_with_baseline_done(demo: Demo) -> Callable[[int], list[int]]:
    """A factory of demo trainees whose baseline is complete: ``make(count)`` -> their ids."""

    def make(count: int) -> list[int]:
        with demo.app.app_context():
            study = demo.study()
            issued = invitations.invite(db.session, study, study.cohorts[0], count, actor="test")
            for invitation in issued:
                invitation.participant.status = ParticipantStatus.BASELINE_DONE
            db.session.commit()
            return [i.participant.id for i in issued]

    return make


def test_allocation_before_baseline_is_refused(demo: Demo) -> None:
    with demo.app.app_context():
        study = demo.study()
        participant = invitations.invite(db.session, study, study.cohorts[0], 1,
                                         actor="test")[0].participant
        participant.status = ParticipantStatus.CONSENTED
        db.session.flush()
        with pytest.raises(NotAllowed, match="after every baseline questionnaire"):
            allocate(db.session, lock_participant(db.session, participant.id), actor="test")


def test_second_allocation_returns_the_first(app, study_with_baseline_done) -> None:
    (pid,) = study_with_baseline_done(1)
    with app.app_context():
        first = allocate(db.session, lock_participant(db.session, pid), actor="test")
        db.session.commit()
        again = allocate(db.session, lock_participant(db.session, pid), actor="test")
        assert (again.id, again.arm_id, again.position) == (first.id, first.arm_id, first.position)
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "allocation"))
        assert len(list(events)) == 1


@pytest.mark.parametrize("threads", [48])
def test_concurrent_allocation_is_race_free(app, study_with_baseline_done, threads) -> None:
    """Every trainee is allocated by two requests at once, 48 threads in all."""
    participant_ids = study_with_baseline_done(threads // 2)
    work = [pid for pid in participant_ids for _ in range(2)]
    start = threading.Barrier(len(work))
    errors: list[BaseException] = []
    results: dict[int, set[tuple[int, int]]] = defaultdict(set)
    lock = threading.Lock()

    def run(pid: int) -> None:
        try:
            with app.app_context():
                start.wait()
                participant = lock_participant(db.session, pid)
                allocation = allocate(db.session, participant, actor="test")
                db.session.commit()
                with lock:
                    results[pid].add((allocation.arm_id, allocation.position))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=run, args=(pid,)) for pid in work]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    # Both requests for a trainee saw the same single allocation.
    assert all(len(seen) == 1 for seen in results.values())

    with app.app_context():
        allocations = list(db.session.scalars(select(Allocation).order_by(Allocation.position)))
        assert len(allocations) == len(participant_ids)
        assert len({a.participant_id for a in allocations}) == len(participant_ids)
        assert [a.position for a in allocations] == list(range(len(participant_ids)))
        state = db.session.scalars(select(AllocationState)).one()
        assert state.next_position == len(participant_ids)
        arms = {arm.id: arm.key for arm in db.session.scalars(select(Arm))}
        counts: Counter[str] = Counter()
        for allocation in allocations:
            counts[arms[allocation.arm_id]] += 1
            assert abs(counts["contact"] - counts["education"]) <= 3  # largest block is 6
        statuses = set(db.session.scalars(select(Participant.status)))
        assert statuses == {ParticipantStatus.ALLOCATED}


def test_the_audit_trail_is_append_only(app, study_with_baseline_done) -> None:
    (pid,) = study_with_baseline_done(1)
    with app.app_context():
        allocate(db.session, lock_participant(db.session, pid), actor="test")
        db.session.commit()
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "allocation")).one()
        event.details = {"arm": "something else"}
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(AuditEvent, event.id))
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()


def test_which_arm_is_blinded_arm_a_comes_from_the_secret_seed(demo: Demo) -> None:
    from study.services.blinding import blinded_order

    with demo.app.app_context():
        study = demo.study()
        firsts = set()
        for number in range(40):
            study.allocation_seed = f"seed-{number}"
            firsts.add(blinded_order(study)[0])
        assert firsts == {"contact", "education"}  # not fixed by the keys' sort order


def test_scheme_2_keys_the_sequence_by_an_opaque_stratum_id(app, study_with_baseline_done
                                                            ) -> None:
    pids = study_with_baseline_done(8)
    with app.app_context():
        for pid in pids:
            allocate(db.session, lock_participant(db.session, pid), actor="test")
        db.session.commit()
        study = db.session.scalars(select(Allocation)).first().participant.study
        assert study.sequence_scheme == 2
        expected_id = sequence.stratum_id(study.allocation_seed, "cohort=Autumn 2026")
        expected = list(islice(sequence.slots(study.allocation_seed, expected_id,
                                              RATIOS, [2, 4, 6], scheme=2), 8))
        allocations = list(db.session.scalars(select(Allocation).order_by(Allocation.position)))
        assert [(a.arm.key, a.block_size) for a in allocations] == \
            [(s.arm, s.block_size) for s in expected]
        assert {a.stratum_id for a in allocations} == {expected_id}
        assert db.session.scalars(select(AllocationState.stratum_id)).one() == expected_id
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "allocation")
                                   .order_by(AuditEvent.id)).first()
        assert event is not None
        assert event.details["stratum_id"] == expected_id and event.details["position"] == 0


def test_a_study_opened_under_scheme_1_keeps_allocating_by_it(app, study_with_baseline_done
                                                              ) -> None:
    pids = study_with_baseline_done(8)
    with app.app_context():
        study = db.session.get(Participant, pids[0]).study
        study.sequence_scheme = 1
        db.session.commit()
        for pid in pids:
            allocate(db.session, lock_participant(db.session, pid), actor="test")
        db.session.commit()
        expected = list(islice(sequence.slots(study.allocation_seed, "cohort=Autumn 2026",
                                              RATIOS, [2, 4, 6], scheme=1), 8))
        allocations = list(db.session.scalars(select(Allocation).order_by(Allocation.position)))
        assert [(a.arm.key, a.block_size) for a in allocations] == \
            [(s.arm, s.block_size) for s in expected]
        # The sequence is keyed by the label; the rows record only the opaque id (DESIGN §8).
        assert {a.stratum_id for a in allocations} == {
            sequence.stratum_id(study.allocation_seed, "cohort=Autumn 2026")}
