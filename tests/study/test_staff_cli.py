"""The staff account commands of DESIGN §7: deactivate-user, activate-user, set-password,
remove-role, and create-user on an account that exists already."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from study.extensions import db
from study.models import AuditEvent, User
from study.services import api_tokens
from tests.helpers import Demo

RESEARCHER = "researcher@allport.example"
NEW_PASSWORD = "a long enough new password"


def account(app: Flask, email: str = RESEARCHER) -> User:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        db.session.expunge(user)
        return user


def issue_token(app: Flask, email: str = RESEARCHER) -> str:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        raw = api_tokens.issue_token(db.session, user, "script", actor="test")[1]
        db.session.commit()
    return raw


def api_status(app: Flask, raw: str) -> int:
    return app.test_client().get("/api/v1/studies",
                                 headers={"Authorization": f"Bearer {raw}"}).status_code


def audit_actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_deactivate_and_activate_a_user(demo: Demo, runner: FlaskCliRunner) -> None:
    app = demo.app
    raw = issue_token(app)
    before = account(app).session_version
    result = runner.invoke(args=["deactivate-user", "Researcher@Allport.example"])
    assert result.exit_code == 0, result.output
    assert "Deactivated researcher@allport.example" in result.output
    assert "1 API token revoked" in result.output and "activate-user" in result.output
    user = account(app)
    assert not user.active and user.session_version > before
    assert api_status(app, raw) == 401

    again = runner.invoke(args=["deactivate-user", RESEARCHER])
    assert again.exit_code == 1 and again.output.strip().endswith("is deactivated already.")

    result = runner.invoke(args=["activate-user", RESEARCHER])
    assert result.exit_code == 0, result.output
    assert account(app).active
    assert api_status(app, raw) == 401  # tokens stay revoked
    assert api_status(app, issue_token(app)) == 200
    assert audit_actions(app)[-3:-1] == ["staff_account_deactivated",
                                         "staff_account_reactivated"]


def test_set_password_from_the_environment(demo: Demo, runner: FlaskCliRunner) -> None:
    app = demo.app
    raw = issue_token(app)
    result = runner.invoke(args=["set-password", RESEARCHER],
                           env={"ALLPORT_PASSWORD": NEW_PASSWORD})
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output and "1 API token revoked" in result.output
    assert account(app).check_password(NEW_PASSWORD)
    assert api_status(app, raw) == 401
    assert "staff_password_changed" in audit_actions(app)

    short = runner.invoke(args=["set-password", RESEARCHER], env={"ALLPORT_PASSWORD": "short"})
    assert short.exit_code == 1
    assert short.output == "Error: The password must be at least 10 characters long.\n"
    no_terminal = runner.invoke(args=["set-password", RESEARCHER], input="")
    assert no_terminal.exit_code == 1 and "ALLPORT_PASSWORD" in no_terminal.output
    assert account(app).check_password(NEW_PASSWORD)


def test_set_password_prompts_twice_when_typed(demo: Demo, runner: FlaskCliRunner,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import study.cli_staff

    # The runner feeds ``input`` through a pipe; the command is told it runs in a terminal.
    terminal = SimpleNamespace(stdin=SimpleNamespace(isatty=lambda: True))
    monkeypatch.setattr(study.cli_staff, "sys", terminal)
    result = runner.invoke(args=["set-password", RESEARCHER],
                           input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert account(demo.app).check_password(NEW_PASSWORD)


def test_remove_role(demo: Demo, runner: FlaskCliRunner) -> None:
    app = demo.app
    before = account(app).session_version
    result = runner.invoke(args=["remove-role", RESEARCHER, "--study", "demo"])
    assert result.exit_code == 0, result.output
    assert "is no longer researcher in study 'demo'" in result.output
    user = account(app)
    assert user.session_version > before
    with app.app_context():
        assert db.session.get(User, user.id).memberships == []
    assert "staff_role_removed" in audit_actions(app)


@pytest.mark.parametrize("args, message", [
    (["remove-role", RESEARCHER, "--study", "demo", "--role", "coordinator"],
     "researcher@allport.example is not a coordinator in study 'demo'."),
    (["remove-role", RESEARCHER, "--study", "nosuch"], "No study with the slug 'nosuch'."),
    (["remove-role", RESEARCHER], "Name the study with --study SLUG (or give --role admin)."),
    (["remove-role", RESEARCHER, "--role", "admin", "--study", "demo"],
     "The admin role belongs to no study"),
    (["remove-role", RESEARCHER, "--role", "admin"],
     "researcher@allport.example is not an admin."),
    (["remove-role", "admin@allport.example", "--role", "admin"],
     "admin@allport.example is the last active administrator"),
    (["deactivate-user", "admin@allport.example"],
     "admin@allport.example is the last active administrator"),
    (["deactivate-user", "nobody@example.org"], "No staff account 'nobody@example.org'."),
    (["activate-user", RESEARCHER], "researcher@allport.example is active already."),
    (["set-password", "nobody@example.org"], "No staff account 'nobody@example.org'."),
])
def test_misuse_is_one_readable_line(demo: Demo, runner: FlaskCliRunner, args: list[str],
                                     message: str) -> None:
    before = audit_actions(demo.app)
    result = runner.invoke(args=args, env={"ALLPORT_PASSWORD": NEW_PASSWORD})
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert message in result.output
    assert audit_actions(demo.app) == before


def test_create_user_on_an_existing_account_refuses_a_password(demo: Demo,
                                                               runner: FlaskCliRunner) -> None:
    app = demo.app
    result = runner.invoke(args=["create-user", RESEARCHER, "--role", "coordinator", "--study",
                                 "demo"], env={"ALLPORT_PASSWORD": NEW_PASSWORD})
    assert result.exit_code == 1
    assert "has an account already; its password is not changed here: use set-password" \
        in result.output
    user = account(app)
    assert not user.check_password(NEW_PASSWORD)
    with app.app_context():
        assert [m.role.value for m in db.session.get(User, user.id).memberships] == [
            "researcher"]

    added = runner.invoke(args=["create-user", RESEARCHER, "--role", "coordinator", "--study",
                                "demo"], input="")
    assert added.exit_code == 0, added.output
    assert "Updated researcher@allport.example: coordinator on study 'demo'." in added.output
    same = runner.invoke(args=["create-user", RESEARCHER, "--role", "coordinator", "--study",
                               "demo"], input="")
    assert same.exit_code == 0 and "nothing changed" in same.output


def test_create_user_says_when_the_account_is_deactivated(demo: Demo,
                                                          runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["deactivate-user", RESEARCHER]).exit_code == 0
    result = runner.invoke(args=["create-user", RESEARCHER, "--role", "admin"], input="")
    assert result.exit_code == 0, result.output
    assert "is deactivated: activate-user researcher@allport.example" in result.output
