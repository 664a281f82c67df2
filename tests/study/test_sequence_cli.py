"""``flask --app app verify-sequence STUDY``: exit 0 on an honest sequence, 1 on any tampering."""

from __future__ import annotations

from flask.testing import FlaskCliRunner
from sqlalchemy import select, text

from study.extensions import db
from study.models import Allocation, Arm, Participant
from tests.helpers import Demo


def verify(runner: FlaskCliRunner, slug: str = "demo"):
    return runner.invoke(args=["verify-sequence", slug])


def test_a_simulated_demo_verifies(simulated_demo: Demo, runner: FlaskCliRunner) -> None:
    with simulated_demo.app.app_context():
        allocated = len(db.session.scalars(select(Allocation)).all())
        assert simulated_demo.study().sequence_scheme == 2
    assert allocated > 0
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert f"{allocated} allocation(s) in 1 stratum" in result.output
    assert "sequence scheme 2" in result.output
    assert "seed matches its recorded SHA-256" in result.output


def test_an_arm_changed_by_hand_is_named(simulated_demo: Demo, runner: FlaskCliRunner) -> None:
    with simulated_demo.app.app_context():
        allocation, code = db.session.execute(
            select(Allocation, Participant.code).join(Participant)
            .order_by(Allocation.position)).first()
        position = allocation.position
        other = db.session.scalars(select(Arm.id).where(Arm.id != allocation.arm_id)).first()
        db.session.execute(text("UPDATE allocations SET arm_id = :arm WHERE id = :id"),
                           {"arm": other, "id": allocation.id})
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(code)]
    assert len(lines) == 1
    assert f"{code} (position {position}): arm expected" in lines[0]
    assert "1 mismatch(es)" in result.output
    assert "Traceback" not in result.output


def test_a_changed_seed_or_block_size_fails(simulated_demo: Demo, runner: FlaskCliRunner) -> None:
    with simulated_demo.app.app_context():
        db.session.execute(text("UPDATE allocations SET block_size = 99 WHERE position = 0"))
        db.session.execute(text("UPDATE studies SET allocation_seed = :seed"), {"seed": "1" * 64})
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1
    assert "differs from the one recorded in the study" in result.output
    assert "differs from the one recorded in the audit trail" in result.output
    assert "recorded 99" in result.output


def test_a_removed_allocation_is_noticed(simulated_demo: Demo, runner: FlaskCliRunner) -> None:
    with simulated_demo.app.app_context():
        last = db.session.scalars(select(Allocation).order_by(Allocation.position.desc())).first()
        assert last is not None
        db.session.execute(text("DELETE FROM allocations WHERE id = :id"), {"id": last.id})
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1
    assert "an allocation was removed" in result.output


def test_an_unknown_study_is_one_line(app, runner: FlaskCliRunner) -> None:
    runner.invoke(args=["init-db"])
    result = verify(runner, "nosuch")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: No study with the slug 'nosuch'."


def test_a_scheme_1_study_verifies_by_its_own_scheme(demo: Demo, runner: FlaskCliRunner) -> None:
    from study.models import ParticipantStatus
    from study.services import invitations
    from study.services.allocation import allocate, lock_participant

    with demo.app.app_context():
        study = demo.study()
        study.sequence_scheme = 1  # as a study opened before scheme 2 keeps it
        for invitation in invitations.invite(db.session, study, study.cohorts[0], 10,
                                             actor="test"):
            invitation.participant.status = ParticipantStatus.BASELINE_DONE
            allocate(db.session, lock_participant(db.session, invitation.participant.id),
                     actor="test")
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert "10 allocation(s) in 1 stratum checked against sequence scheme 1" in result.output
