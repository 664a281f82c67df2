"""The data version (migration 0015): changed by every reported write, and by nothing else.

Then the remembered digest: hashed once per data version, given again without hashing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Connection, inspect, select, text, update

from study import audit
from study.database import read_snapshot
from study.extensions import db
from study.models import (
    UNREPORTED,
    UNREPORTED_COLUMNS,
    Answer,
    Booking,
    Invitation,
    ModuleProgress,
    Participant,
    ParticipantStatus,
    Response,
    ResponseStatus,
    Study,
)
from study.models import data_version as version_module
from study.services import journey, report_cache
from tests.helpers import Demo

VERSION_TABLES = {version_module.SQLITE_TABLE, version_module.POSTGRESQL_TABLE}


# --- every reported table and column is watched ----------------------------------------------


def _expected(connection: Connection) -> dict[str, set[str]]:
    """Every table the database holds that the digest reads, with the columns it reads."""
    inspector = inspect(connection)
    return {table: {column["name"] for column in inspector.get_columns(table)}
            - UNREPORTED_COLUMNS.get(table, frozenset())
            for table in inspector.get_table_names()
            if table not in UNREPORTED | VERSION_TABLES | {"alembic_version"}}


def _watched(connection: Connection) -> dict[str, tuple[set[str], set[str]]]:
    """For each table with data version triggers: the events they fire on, the columns updated."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    if connection.dialect.name == "sqlite":
        for table, sql in connection.execute(text(
                "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND name LIKE 'data_version%'")):
            events, columns = found.setdefault(table, (set(), set()))
            verb = sql.split(" AFTER ", 1)[1].split(" ON ", 1)[0]
            events.add(verb.split()[0])
            if verb.startswith("UPDATE OF "):
                columns |= {c.strip().strip('"') for c in verb[len("UPDATE OF "):].split(",")}
        return found
    for table, event in connection.execute(text(
            "SELECT event_object_table, event_manipulation FROM information_schema.triggers "
            "WHERE trigger_name = 'data_version'")):
        found.setdefault(table, (set(), set()))[0].add(event)
    for table in connection.execute(text(
            "SELECT tgrelid::regclass::text FROM pg_trigger "
            "WHERE tgname = 'data_version_truncate' AND tgtype & 32 <> 0")).scalars():
        found.setdefault(table.strip('"'), (set(), set()))[0].add("TRUNCATE")
    for table, column in connection.execute(text(
            "SELECT event_object_table, event_object_column "
            "FROM information_schema.triggered_update_columns "
            "WHERE trigger_name = 'data_version'")):
        found.setdefault(table, (set(), set()))[1].add(column)
    return found


def _assert_every_reported_column_watched(connection: Connection) -> None:
    expected = _expected(connection)
    watched = _watched(connection)
    events = {"INSERT", "UPDATE", "DELETE"} | (
        {"TRUNCATE"} if connection.dialect.name == "postgresql" else set())
    assert set(watched) == set(expected)
    for table, columns in expected.items():
        assert watched[table] == (events, columns), table


def test_every_reported_table_and_column_has_its_triggers(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        assert "answers" in _expected(connection) and "users" not in _watched(connection)
        _assert_every_reported_column_watched(connection)


def test_the_migrations_make_the_same_triggers_and_take_them_away(
        make_app: Callable[..., Flask], database_url: str) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL schema is created once per session by the fixtures")
    from alembic import command

    from study.migrate import alembic_config, upgrade
    from study.models import Base

    app = make_app()
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        upgrade(app)
        with db.engine.connect() as connection:
            _assert_every_reported_column_watched(connection)
            assert version_module.read_version(connection) is not None
        command.downgrade(alembic_config(app), "0014")
        with db.engine.connect() as connection:
            assert _watched(connection) == {}
            assert version_module.read_version(connection) is None
        upgrade(app)
        with db.engine.connect() as connection:
            _assert_every_reported_column_watched(connection)


LATER_MIGRATION = """
from alembic import op
import sqlalchemy as sa

revision = '9999'
down_revision = '{head}'


def upgrade() -> None:
    with op.batch_alter_table('responses', recreate='always') as batch_op:
        batch_op.alter_column('instrument_version', existing_type=sa.String(32),
                              type_=sa.String(40))
"""


def test_a_later_sqlite_table_rebuild_runs_and_loses_only_that_tables_triggers(
        make_app: Callable[..., Flask], database_url: str, tmp_path: Path) -> None:
    """``legacy_alter_table`` (migrations/env.py): the RENAME of a batch rebuild would otherwise
    fail on the ``answers`` triggers, which name ``responses``."""
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL alters tables in place")
    import shutil

    from alembic import command
    from alembic.script import ScriptDirectory

    from study.migrate import MIGRATIONS, alembic_config, upgrade
    from study.models import Base

    app = make_app()
    config = alembic_config(app)
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    head = ScriptDirectory.from_config(config).get_current_head()
    (migrations / "versions" / "9999_rebuild.py").write_text(LATER_MIGRATION.format(head=head))
    config.set_main_option("script_location", str(migrations))
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        upgrade(app)
        command.upgrade(config, "head")
        with db.engine.connect() as connection:
            watched = _watched(connection)
            assert "responses" not in watched and "answers" in watched
            version_module.install(connection, version_module.reported_columns())
            connection.commit()
            _assert_every_reported_column_watched(connection)


# --- what changes the version, and what does not ---------------------------------------------


def _version() -> str:
    """The version a new transaction sees."""
    db.session.rollback()
    found = report_cache.data_version(db.session)
    db.session.rollback()
    assert found is not None
    return found


def _changes(write: Callable[[], object]) -> bool:
    """Whether ``write``, committed, changes the version."""
    before = _version()
    write()
    db.session.commit()
    return _version() != before


def _submitted() -> Response:
    found = db.session.scalars(select(Response).where(
        Response.status == ResponseStatus.SUBMITTED).order_by(Response.id)).first()
    assert found is not None
    return found


def _first_answer(response: Response) -> Answer:
    found = db.session.scalars(select(Answer).where(Answer.response_id == response.id)
                               .order_by(Answer.id)).first()
    assert found is not None
    return found


def _draft(study: Study) -> Response:
    """A new questionnaire in progress, for an instrument a trainee has not answered yet."""
    answered = set(db.session.execute(
        select(Response.participant_id, Response.timepoint_id, Response.instrument_id)).all())
    for participant in db.session.scalars(
            select(Participant).where(Participant.study_id == study.id).order_by(Participant.id)):
        for timepoint in study.timepoints:
            for pinned in timepoint.instruments:
                if (participant.id, timepoint.id, pinned.instrument_id) not in answered:
                    draft = Response(participant_id=participant.id, timepoint_id=timepoint.id,
                                     instrument_id=pinned.instrument_id,
                                     instrument_version=pinned.instrument_version)
                    db.session.add(draft)
                    return draft
    raise AssertionError("every questionnaire is answered")


def test_drafts_page_turns_and_audit_events_leave_the_version(simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        drafts: list[Response] = []
        assert not _changes(lambda: drafts.append(_draft(study)))
        draft = drafts[0]
        answer = Answer(response_id=draft.id, item_key="q1", value="3")
        assert not _changes(lambda: db.session.add(answer))

        def edit_draft() -> None:
            answer.value = "4"
            draft.current_page = 2
            draft.instrument_version = draft.instrument_version + "x"

        assert not _changes(edit_draft)
        assert not _changes(lambda: db.session.delete(answer))
        assert not _changes(lambda: db.session.delete(draft))

        invitation = db.session.scalars(select(Invitation).order_by(Invitation.id)).first()
        progress = db.session.scalars(select(ModuleProgress)).first()
        assert invitation is not None and progress is not None
        submitted = _submitted()
        submitted_answer = _first_answer(submitted)

        def use_the_site() -> None:
            invitation.last_used_at = datetime.now(UTC)
            submitted.current_page += 1
            progress.furthest_page += 1
            submitted_answer.answered_at = datetime.now(UTC)

        assert not _changes(use_the_site)
        assert not _changes(lambda: audit.record(db.session, "export", actor="test",
                                                 study=study, table="scores", rows=1))


def test_every_kind_of_reported_write_changes_the_version(simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        draft = _draft(study)
        db.session.flush()
        db.session.add(Answer(response_id=draft.id, item_key="q1", value="3"))
        db.session.commit()

        def submit() -> None:
            draft.status = ResponseStatus.SUBMITTED
            draft.submitted_at = datetime.now(UTC)

        assert _changes(submit)
        answer = _first_answer(_submitted())

        def edit() -> None:
            answer.value += "0"

        assert _changes(edit)
        assert _changes(lambda: db.session.add(
            Answer(response_id=answer.response_id, item_key="zz_new", value="1")))

        def reopen() -> None:
            draft.status = ResponseStatus.IN_PROGRESS

        assert _changes(reopen)
        assert _changes(lambda: db.session.delete(_submitted()))

        withdrawing = db.session.scalars(select(Participant).where(
            Participant.status == ParticipantStatus.ALLOCATED).order_by(Participant.id)).first()
        assert withdrawing is not None
        assert _changes(lambda: journey.withdraw(db.session, withdrawing, actor="test"))
        assert _changes(lambda: db.session.execute(
            update(Booking).values(minutes_attended=Booking.minutes_attended + 1)))
        assert _changes(lambda: db.session.execute(
            text("UPDATE arms SET name = name || ' (renamed)' WHERE study_id = :id"),
            {"id": study.id}))


def test_a_version_read_inside_a_rolled_back_write_never_comes_back(
        simulated_demo: Demo) -> None:
    """The random tag: the counter (or count) repeats after a rollback, the version does not."""
    with simulated_demo.app.app_context():
        answer = _first_answer(_submitted())
        answer.value += "0"
        db.session.flush()
        inside = report_cache.data_version(db.session)
        db.session.rollback()
        assert _version() != inside
        answer = _first_answer(_submitted())
        answer.value += "1"
        db.session.commit()
        assert _version() != inside


def test_truncate_changes_the_version_on_postgresql(simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no TRUNCATE (a DELETE fires the row triggers)")
        assert _changes(lambda: db.session.execute(text("TRUNCATE withdrawal_reasons")))


# --- PostgreSQL: writers in concurrent transactions ------------------------------------------


def _write_in(connection: Connection, arm: int) -> None:
    connection.execute(text("SET LOCAL lock_timeout = '3s'"))
    connection.execute(text("UPDATE arms SET name = name || '.' WHERE id = :id"), {"id": arm})


def test_concurrent_writers_neither_wait_nor_share_a_version(simulated_demo: Demo) -> None:
    """Two open writing transactions; the later one commits first, then the earlier one.

    Neither waits for the other (a lock wait would end in a timeout error), and each commit
    changes the version a reader sees, although the first commit has the larger txid (so the
    largest txid would not have changed at the second).
    """
    with simulated_demo.app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer at a time")
        arms = [arm.id for arm in simulated_demo.study().arms]
        db.session.rollback()
        seen = [_version()]
        with db.engine.connect() as earlier, db.engine.connect() as later:
            _write_in(earlier, arms[0])
            _write_in(later, arms[1])
            later.commit()
            seen.append(_version())
            earlier.commit()
            seen.append(_version())
        assert len(set(seen)) == 3


# --- the remembered digest -------------------------------------------------------------------


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per hashing of a study's rows."""
    done: list[int] = []
    original = report_cache._hash_rows

    def counted(session: object, study: Study) -> str:
        done.append(study.id)
        return original(session, study)  # type: ignore[arg-type]

    monkeypatch.setattr(report_cache, "_hash_rows", counted)
    return done


def _digest(study: Study, instance: Path) -> str:
    with read_snapshot(db.session):
        return report_cache.data_digest(db.session, study, instance_path=instance)


def test_the_digest_is_hashed_once_per_data_version(
        simulated_demo: Demo, tmp_path: Path, hashing: list[int]) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        first = _digest(study, tmp_path)
        assert _digest(study, tmp_path) == first
        assert len(hashing) == 1
        assert list((tmp_path / "cache" / "digests").iterdir()) == [
            tmp_path / "cache" / "digests" / "demo.json"]
        assert _digest(study, tmp_path) == report_cache.data_digest(db.session, study)

        draft = _draft(study)
        db.session.commit()
        assert _digest(study, tmp_path) == first  # a draft: nothing hashed
        assert len(hashing) == 2  # (the call without instance_path above)

        draft.status = ResponseStatus.SUBMITTED
        db.session.commit()
        second = _digest(study, tmp_path)
        assert second != first and len(hashing) == 3
        assert _digest(study, tmp_path) == second and len(hashing) == 3


def test_a_remembered_digest_of_other_code_is_not_given(
        simulated_demo: Demo, tmp_path: Path, hashing: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        first = _digest(study, tmp_path)
        monkeypatch.setattr(report_cache, "_digest_fingerprint", lambda session: "other code")
        assert _digest(study, tmp_path) == first
        assert len(hashing) == 2


def test_a_digest_hashed_outside_one_snapshot_is_not_remembered(
        simulated_demo: Demo, tmp_path: Path) -> None:
    """PostgreSQL's READ COMMITTED: each statement may see another state than the version's."""
    with simulated_demo.app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("every SQLite transaction reads one snapshot")
        study = simulated_demo.study()
        report_cache.data_digest(db.session, study, instance_path=tmp_path)
        assert not (tmp_path / "cache" / "digests" / "demo.json").exists()
        db.session.rollback()
        _digest(study, tmp_path)
        assert (tmp_path / "cache" / "digests" / "demo.json").exists()
