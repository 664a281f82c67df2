"""The administrator's account pages (DESIGN §1, §7): list, deactivate and reactivate, a new
password, study roles; admin-only, every change a POST with CSRF."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from study.extensions import db
from study.models import AuditEvent, Membership, Role, User
from study.services import api_tokens
from tests.helpers import Demo, StaffClient, csrf_from, staff_email

NEW_PASSWORD = "a long enough new password"
PREFIXES = ("status", "password", "role", "remove")


def user_id(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.scalars(select(User.id).where(User.email == email)).one()


def fresh(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        user.memberships  # noqa: B018 - loaded before the session closes
        db.session.expunge_all()
        return user


def post(client: FlaskClient, url: str, data: dict[str, str] | None = None
         ) -> tuple[int, str]:
    """POST ``data`` with the CSRF token under every form prefix of the account page."""
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    tokens = {f"{prefix}-csrf_token": token for prefix in PREFIXES}
    response = client.post(url, data={**tokens, **(data or {})})
    return response.status_code, response.get_data(as_text=True)


def flashed(client: FlaskClient, url: str) -> str:
    return client.get(url).get_data(as_text=True)


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_the_list_shows_every_account_with_roles_and_status(demo: Demo,
                                                            staff_client: StaffClient) -> None:
    admin = staff_client("admin")
    researcher = user_id(demo.app, "researcher@allport.example")
    post(admin, f"/admin/users/{researcher}/deactivate")
    html = admin.get("/admin/").get_data(as_text=True)
    row = re.search(rf'<tr><td><a href="/admin/users/{researcher}">researcher@allport.example'
                    r"</a></td>(.*?)</tr>", html, re.S)
    assert row is not None
    assert "researcher of demo" in row[1] and "<td>deactivated</td>" in row[1]
    assert "<td>admin</td>" in html and "<td>active</td>" in html


def test_deactivation_refuses_the_open_session_and_the_api_token(
        demo: Demo, staff_client: StaffClient) -> None:
    app = demo.app
    researcher = staff_client("researcher")
    assert researcher.get("/researcher/demo/").status_code == 200
    email = staff_email("researcher")
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        raw = api_tokens.issue_token(db.session, user, "script", actor="test")[1]
        db.session.commit()
    bearer = {"Authorization": f"Bearer {raw}"}
    assert app.test_client().get("/api/v1/studies", headers=bearer).status_code == 200

    admin = staff_client("admin")
    status, _ = post(admin, f"/admin/users/{user_id(app, email)}/deactivate")
    assert status == 303
    page = flashed(admin, f"/admin/users/{user_id(app, email)}")
    assert "is deactivated: its sessions are ended and 1 API token revoked" in page
    assert "Reactivate this account</button>" in page

    response = researcher.get("/researcher/demo/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    api = app.test_client().get("/api/v1/studies", headers=bearer)
    assert api.status_code == 401 and api.get_json()["error"] == "invalid_token"

    status, _ = post(admin, f"/admin/users/{user_id(app, email)}/reactivate")
    assert status == 303 and fresh(app, email).active
    assert staff_client("researcher").get("/researcher/demo/").status_code == 200
    assert app.test_client().get("/api/v1/studies", headers=bearer).status_code == 401
    assert actions(app)[-3:-1] == ["staff_account_deactivated", "staff_account_reactivated"]


def test_an_admin_cannot_deactivate_themself_nor_drop_their_admin_role(
        demo: Demo, staff_client: StaffClient) -> None:
    admin = staff_client("admin")
    me = user_id(demo.app, staff_email("admin"))
    page = admin.get(f"/admin/users/{me}").get_data(as_text=True)
    assert "Deactivate this account</button>" not in page and "your own account" in page
    before = actions(demo.app)
    status, _ = post(admin, f"/admin/users/{me}/deactivate")
    assert status == 303
    assert "You cannot deactivate your own account" in flashed(admin, f"/admin/users/{me}")
    status, _ = post(admin, f"/admin/users/{me}/roles/remove", {"remove-role": "admin"})
    assert status == 303
    assert "You cannot take away the admin role of your own account" in flashed(
        admin, f"/admin/users/{me}")
    user = fresh(demo.app, staff_email("admin"))
    assert user.active and user.is_admin and actions(demo.app) == before


def test_an_admin_manages_another_admin_s_account(demo: Demo,
                                                  staff_client: StaffClient) -> None:
    """On the page the acting admin is always a second active one; the last-admin guard is the
    command line's (tests/study/test_staff_cli.py) and the service's."""
    admin = staff_client("admin")
    other = user_id(demo.app, "admin@allport.example")
    assert post(admin, f"/admin/users/{other}/deactivate")[0] == 303
    assert not fresh(demo.app, "admin@allport.example").active
    assert post(admin, f"/admin/users/{other}/roles/remove", {"remove-role": "admin"})[0] == 303
    assert not fresh(demo.app, "admin@allport.example").is_admin
    page = admin.get(f"/admin/users/{other}").get_data(as_text=True)
    assert "No role: the account can sign in but sees no study." in page


def test_a_new_password_is_typed_twice_with_errors_beside_the_field(
        demo: Demo, staff_client: StaffClient) -> None:
    app = demo.app
    researcher = staff_client("researcher")
    target = user_id(app, staff_email("researcher"))
    admin = staff_client("admin")
    url = f"/admin/users/{target}/password"

    status, html = post(admin, url, {"password-password": NEW_PASSWORD,
                                     "password-confirm": "something else entirely"})
    assert status == 422
    assert re.search(r'id="password-confirm-error"[^>]*>.*The two passwords differ', html)
    assert 'class="error-summary"' in html
    status, html = post(admin, url, {"password-password": "short", "password-confirm": "short"})
    assert status == 422
    assert re.search(r'id="password-password-error"[^>]*>.*at least 10 characters', html)
    assert NEW_PASSWORD not in html and 'value="short"' not in html

    status, _ = post(admin, url, {"password-password": NEW_PASSWORD,
                                  "password-confirm": NEW_PASSWORD})
    assert status == 303
    assert fresh(app, staff_email("researcher")).check_password(NEW_PASSWORD)
    assert researcher.get("/researcher/demo/").status_code == 302  # the old session is over
    admin_id = user_id(app, staff_email("admin"))
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff_password_changed")).one()
        assert NEW_PASSWORD not in repr(event.details)
        assert event.actor == f"user:{admin_id}"


def test_roles_are_added_and_removed(demo: Demo, staff_client: StaffClient) -> None:
    app = demo.app
    coordinator = staff_client("coordinator")
    email = staff_email("coordinator")
    target = user_id(app, email)
    admin = staff_client("admin")

    status, html = post(admin, f"/admin/users/{target}/roles", {"role-role": "researcher",
                                                               "role-study": ""})
    assert status == 422
    assert re.search(r'id="role-study-error"[^>]*>.*A researcher works on a study', html)
    status, html = post(admin, f"/admin/users/{target}/roles", {"role-role": "researcher",
                                                               "role-study": "nosuch"})
    assert status == 422 and 'id="role-study-error"' in html

    status, _ = post(admin, f"/admin/users/{target}/roles", {"role-role": "researcher",
                                                            "role-study": "demo"})
    assert status == 303
    assert {m.role for m in fresh(app, email).memberships} == {Role.COORDINATOR,
                                                               Role.RESEARCHER}
    assert "is now researcher in study demo" in flashed(admin, f"/admin/users/{target}")
    assert coordinator.get("/coordinator/demo/").status_code == 200  # adding ends no session

    status, _ = post(admin, f"/admin/users/{target}/roles/remove",
                     {"remove-role": "coordinator", "remove-study": "demo"})
    assert status == 303
    assert {m.role for m in fresh(app, email).memberships} == {Role.RESEARCHER}
    assert coordinator.get("/coordinator/demo/").status_code == 302  # its sessions ended
    status, _ = post(admin, f"/admin/users/{target}/roles/remove",
                     {"remove-role": "coordinator", "remove-study": "demo"})
    assert status == 303
    assert "is not a coordinator in study &#39;demo&#39;" in flashed(
        admin, f"/admin/users/{target}")

    status, _ = post(admin, f"/admin/users/{target}/roles", {"role-role": "admin",
                                                            "role-study": ""})
    assert status == 303 and fresh(app, email).is_admin
    assert "staff_role_removed" in actions(app)


def test_a_post_without_its_token_changes_nothing(demo: Demo,
                                                  staff_client: StaffClient) -> None:
    admin = staff_client("admin")
    target = user_id(demo.app, "researcher@allport.example")
    before = actions(demo.app)
    for path, data in (("deactivate", {}), ("reactivate", {}),
                       ("password", {"password-password": NEW_PASSWORD,
                                     "password-confirm": NEW_PASSWORD}),
                       ("roles", {"role-role": "admin", "role-study": ""}),
                       ("roles/remove", {"remove-role": "researcher", "remove-study": "demo"})):
        response = admin.post(f"/admin/users/{target}/{path}", data=data)
        assert response.status_code in (400, 422), path
    user = fresh(demo.app, "researcher@allport.example")
    assert user.active and not user.is_admin and not user.check_password(NEW_PASSWORD)
    assert actions(demo.app) == before
    assert admin.get("/admin/users/99999").status_code == 404


ACCOUNT_ROUTES = [
    ("GET", "", {}),
    ("POST", "/deactivate", {}),
    ("POST", "/reactivate", {}),
    ("POST", "/password", {"password-password": NEW_PASSWORD, "password-confirm": NEW_PASSWORD}),
    ("POST", "/roles", {"role-role": "admin", "role-study": ""}),
    ("POST", "/roles/remove", {"remove-role": "researcher", "remove-study": "demo"}),
]


@pytest.mark.parametrize("who", ["coordinator", "researcher", "anonymous"])
@pytest.mark.parametrize("method, path, data", ACCOUNT_ROUTES)
def test_only_admins_manage_accounts(demo: Demo, staff_client: StaffClient, who: str,
                                     method: str, path: str, data: dict[str, str]) -> None:
    app = demo.app
    target = user_id(app, "researcher@allport.example")
    if who == "anonymous":
        client = app.test_client()
        token = csrf_from(client.get("/login").get_data(as_text=True))
    else:
        client = staff_client(who)
        token = csrf_from(client.get(f"/{who}/").get_data(as_text=True))
    before = actions(app)
    tokens = {f"{prefix}-csrf_token": token for prefix in PREFIXES}
    response = client.open(f"/admin/users/{target}{path}", method=method,
                           data={**tokens, **data} if method == "POST" else None)
    if who == "anonymous":
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    else:
        assert response.status_code == 403
    user = fresh(app, "researcher@allport.example")
    assert user.active and not user.is_admin and not user.check_password(NEW_PASSWORD)
    assert [m.role for m in user.memberships] == [Role.RESEARCHER]
    assert actions(app) == before


def test_memberships_are_rows_not_copies(demo: Demo, staff_client: StaffClient) -> None:
    """Removing a role through the page deletes the membership row."""
    admin = staff_client("admin")
    target = user_id(demo.app, "researcher@allport.example")
    post(admin, f"/admin/users/{target}/roles/remove",
         {"remove-role": "researcher", "remove-study": "demo"})
    with demo.app.app_context():
        assert db.session.scalars(select(Membership).where(
            Membership.user_id == target)).all() == []


@pytest.mark.parametrize("action", ["deactivate", "password", "roles", "roles/remove"])
def test_a_post_without_its_csrf_token_changes_nothing(demo: Demo, staff_client: StaffClient,
                                                       action: str) -> None:
    admin = staff_client("admin")
    researcher = user_id(demo.app, "researcher@allport.example")
    before = actions(demo.app)
    response = admin.post(f"/admin/users/{researcher}/{action}", data={
        "password-password": "a-new-password-1", "password-confirm": "a-new-password-1",
        "role-role": "coordinator", "remove-role": "researcher"})
    assert response.status_code == 400
    assert actions(demo.app) == before
    user = fresh(demo.app, "researcher@allport.example")
    assert user.active and [m.role for m in user.memberships] == [Role.RESEARCHER]
