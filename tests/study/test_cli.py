"""The command-line interface of DESIGN §7: happy paths and one clear line on misuse."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import inspect, select

from study.extensions import db
from study.models import AuditEvent, Participant, User


def run(runner, *args: str, **env: str):
    return runner.invoke(args=list(args), env=env or None, catch_exceptions=False)


def test_init_db_runs_the_migrations_and_is_idempotent(make_app, database_url) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL schema is created once per session by the fixtures")
    app = make_app()
    with app.app_context():
        from study.models import Base

        Base.metadata.drop_all(db.engine)
    runner = app.test_cli_runner()
    assert run(runner, "init-db").exit_code == 0
    assert run(runner, "init-db").exit_code == 0
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {"participants", "allocations", "audit_events", "alembic_version"} <= tables


def test_migrations_match_the_models(make_app, database_url) -> None:
    """A model change without a migration fails here."""
    if database_url.startswith("postgresql"):
        pytest.skip("checked on SQLite")
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from study.migrate import upgrade
    from study.models import Base
    from study.models.data_version import mapped_name

    app = make_app()
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        upgrade(app)
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": False, "include_name": mapped_name})
            diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_demo_seeds_once_and_prints_logins(app, runner) -> None:
    result = run(runner, "demo")
    assert result.exit_code == 0
    assert "coordinator@allport.example" in result.output
    assert "password:" in result.output
    again = run(runner, "demo")
    assert again.exit_code == 0 and "exists already" in again.output


def test_demo_simulate_fills_journeys(app, runner) -> None:
    from study.models import ContactSession

    run(runner, "demo")
    with app.app_context():  # tiny sessions: simulation must schedule more as they fill
        for contact_session in db.session.scalars(select(ContactSession)):
            contact_session.capacity = 1
        db.session.commit()
    result = run(runner, "demo", "--simulate", "--trainees", "20")
    assert result.exit_code == 0, result.output
    assert "Simulated 20 trainees" in result.output
    with app.app_context():
        statuses = list(db.session.scalars(select(Participant.status)))
    assert len(statuses) == 20
    assert sum(s.value == "post_done" for s in statuses) >= 14
    with app.app_context():
        assert len(db.session.scalars(select(ContactSession)).all()) > 3


def test_invite_prints_absolute_links_that_work(app, runner) -> None:
    run(runner, "demo")
    result = run(runner, "invite", "demo", "--count", "3", "--base-url", "https://allport.test/")
    assert result.exit_code == 0, result.output
    links = result.output.split()
    assert len(links) == 3 and all(link.startswith("https://allport.test/t/") for link in links)
    token = links[0].rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 bits, base64url
    response = app.test_client().get(f"/t/{token}", follow_redirects=True)
    assert response.request.path.endswith("/welcome")


@pytest.mark.parametrize("args, message", [
    (["invite", "nosuch", "--count", "2"], "No study with the slug 'nosuch'."),
    (["invite", "demo", "--count", "0"], "--count must be at least 1."),
    (["invite", "demo", "--cohort", "Spring", "--count", "2"], "no cohort named 'Spring'"),
    (["export", "demo", "--table", "emails", "--out", "x.csv"], "Invalid value for '--table'"),
    (["export", "nosuch", "--table", "scores", "--out", "x.csv"], "No study with the slug"),
    (["create-user", "not-an-email", "--role", "admin"], "Not a valid email address"),
    (["create-user", "a@b.example", "--role", "researcher"], "needs --study SLUG"),
    (["analyze", "--json", "out.json"], "Give either a CSV file or --study SLUG"),
])
def test_cli_misuse_is_one_clear_line(app, runner, args, message) -> None:
    run(runner, "demo")
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_create_user_reads_the_password_from_the_environment(app, runner) -> None:
    run(runner, "demo")
    result = run(runner, "create-user", "Sam@Example.org", "--role", "coordinator", "--study",
                 "demo", ALLPORT_PASSWORD="a long enough password")
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == "sam@example.org")).one()
        assert user.check_password("a long enough password")
        assert [m.role.value for m in user.memberships] == ["coordinator"]


def test_create_user_without_password_or_terminal_fails_cleanly(app, runner) -> None:
    result = runner.invoke(args=["create-user", "x@example.org", "--role", "admin"], input="")
    assert result.exit_code != 0
    assert "ALLPORT_PASSWORD" in result.output


def test_export_tables_are_deidentified_and_audited(app, runner, tmp_path) -> None:
    run(runner, "demo", "--simulate", "--trainees", "12")
    expected = {
        "allocations": {"participant", "arm", "stratum", "allocated_at"},
        "scores": {"participant", "arm", "time", "instrument", "scale", "score"},
        "responses": {"participant", "arm", "time", "instrument", "version", "item", "value"},
        "participants": {"participant", "cohort", "arm", "status"},
    }
    for table, columns in expected.items():
        out = tmp_path / f"{table}.csv"
        result = run(runner, "export", "demo", "--table", table, "--out", str(out))
        assert result.exit_code == 0, result.output
        text = out.read_text()
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows and columns <= set(rows[0])
        assert "@" not in text  # no email addresses anywhere
        assert all(row["participant"].startswith("P") for row in rows)
    with app.app_context():
        scores = list(csv.DictReader(io.StringIO((tmp_path / "scores.csv").read_text())))
        assert {row["time"] for row in scores} == {"pre", "post"}
        assert {row["arm"] for row in scores} == {"arm_a", "arm_b"}  # blinded
        exports = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
        assert {e.details["table"] for e in exports} == set(expected)


def test_commands_on_an_empty_database_say_to_run_init_db(make_app, database_url) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL schema is shared by the whole run")
    app = make_app()
    with app.app_context():
        from study.models import Base

        Base.metadata.drop_all(db.engine)
    for args in (["invite", "demo", "--count", "1"], ["demo"],
                 ["export", "demo", "--table", "scores", "--out", "x.csv"],
                 ["analyze", "--study", "demo", "--json", "x.json"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code != 0, args
        assert "has no Allport tables yet: run flask --app app init-db first." in result.output
        assert "Traceback" not in result.output


def test_an_unreachable_database_is_one_line(tmp_path) -> None:
    from app import create_app

    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path),
                      "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"})
    result = app.test_cli_runner().invoke(args=["invite", "demo", "--count", "1"])
    assert result.exit_code != 0
    assert "Cannot reach the database postgresql+psycopg://nobody@127.0.0.1:9/none" in result.output
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code != 0 and "Cannot reach the database" in result.output


def test_migration_0007_keeps_existing_tokens_and_goes_back(make_app, database_url) -> None:
    """API tokens from before expiry and study limits keep working, unlimited; downgrade works."""
    if database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL schema is created once per session by the fixtures")
    from alembic import command
    from sqlalchemy import text

    from study.migrate import alembic_config, upgrade
    from study.models import Base

    app = make_app()
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        upgrade(app, "0006")
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO users (id, email, password_hash, is_admin, active, "
                "session_version, created_at) VALUES (1, 'r@example.org', 'x', 0, 1, 1, "
                "'2026-01-01 00:00:00')"))
            connection.execute(text(
                "INSERT INTO api_tokens (id, user_id, name, token_sha256, created_at) "
                "VALUES (1, 1, 'old', :sha, '2026-01-01 00:00:00')"), {"sha": "a" * 64})
        upgrade(app)
        with db.engine.connect() as connection:
            row = connection.execute(text(
                "SELECT name, expires_at, study_id FROM api_tokens")).one()
        assert tuple(row) == ("old", None, None)
        command.downgrade(alembic_config(app), "0006")
        columns = {c["name"] for c in inspect(db.engine).get_columns("api_tokens")}
        assert "expires_at" not in columns and "study_id" not in columns
        upgrade(app)
