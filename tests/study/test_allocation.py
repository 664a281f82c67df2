"""Randomization: the sequence, the guards, and race-freedom under concurrency (DESIGN §4, §9)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable

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


def test_sequence_is_reproducible_and_secret_dependent() -> None:
    first = [s.arm for s, _ in zip(sequence.slots("seed-1", "cohort=A", RATIOS, [2, 4, 6]),
                                   range(200), strict=False)]
    again = [s.arm for s, _ in zip(sequence.slots("seed-1", "cohort=A", RATIOS, [2, 4, 6]),
                                   range(200), strict=False)]
    other = [s.arm for s, _ in zip(sequence.slots("seed-2", "cohort=A", RATIOS, [2, 4, 6]),
                                   range(200), strict=False)]
    assert first == again
    assert first != other


def test_blocks_vary_in_size_and_balance_at_every_block_end() -> None:
    sizes: Counter[int] = Counter()
    counts: Counter[str] = Counter()
    for slot, _ in zip(sequence.slots("s", "cohort=A", RATIOS, [2, 4, 6]), range(3000),
                       strict=False):
        counts[slot.arm] += 1
        sizes[slot.block_size] += 1
        # Within a block the imbalance never exceeds half the largest block.
        assert abs(counts["contact"] - counts["education"]) <= 3
    assert set(sizes) == {2, 4, 6}


def test_unequal_ratio_blocks() -> None:
    ratios = {"contact": 2, "education": 1}
    block = [s.arm for s, _ in zip(sequence.slots("s", "x", ratios, [3]), range(30), strict=False)]
    assert Counter(block) == {"contact": 20, "education": 10}
    with pytest.raises(ValueError, match="not a positive multiple"):
        list(zip(sequence.slots("s", "x", ratios, [4]), range(1), strict=False))


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
