"""Staff sign-in, sessions, and per-study authorization on every staff route (DESIGN §1, §8)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from study.config import ConfigurationError
from study.extensions import db
from study.models import User
from study.services import invitations
from tests.helpers import Demo, StaffClient, csrf_from

Accounts = dict[str, tuple[str, str]]


@pytest.fixture
def accounts(demo: Demo) -> Accounts:
    """The demo's staff accounts, by role: (email, password)."""
    return {"admin": demo.accounts.admin, "coordinator": demo.accounts.coordinator,
            "researcher": demo.accounts.researcher}


@pytest.fixture
def trainee_code(demo: Demo) -> str:
    """The code of a trainee invited to the demo study."""
    with demo.app.app_context():
        study = demo.study()
        code = invitations.invite(db.session, study, study.cohorts[0], 1,
                                  actor="test")[0].participant.code
        db.session.commit()
    return code


def login(client: FlaskClient, account: tuple[str, str],
          next_url: str | None = None) -> TestResponse:
    """Sign in through the login form: the tests here are about signing in itself."""
    email, password = account
    html = client.get("/login").get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def test_login_and_landing_pages(client: FlaskClient, accounts: Accounts) -> None:
    response = login(client, accounts["coordinator"])
    assert response.status_code == 303
    page = client.get("/", follow_redirects=True)
    assert page.request.path == "/coordinator/"
    html = page.get_data(as_text=True)
    assert "Meeting as equals" in html and "Invited" in html


def test_wrong_password_message_beside_the_field(client: FlaskClient, accounts: Accounts) -> None:
    response = login(client, (accounts["coordinator"][0], "wrong password"))
    assert response.status_code == 422
    assert "do not match an active account" in response.get_data(as_text=True)


def test_login_form_needs_csrf(client: FlaskClient, accounts: Accounts) -> None:
    email, password = accounts["coordinator"]
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 400
    assert client.get("/coordinator/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/",
                                    "/\\/evil.example", "javascript:alert(1)", "/\tevil"])
def test_next_never_leaves_the_site(client: FlaskClient, accounts: Accounts,
                                   target: str) -> None:
    response = login(client, accounts["coordinator"], next_url=target)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "evil" not in location and not location.startswith(("//", "http", "javascript"))


def test_next_inside_the_site_is_followed(client: FlaskClient, accounts: Accounts) -> None:
    response = login(client, accounts["coordinator"], next_url="/coordinator/demo/sessions")
    assert response.headers["Location"] == "/coordinator/demo/sessions"


def test_logout_ends_every_session_of_the_user(app: Flask, accounts: Accounts) -> None:
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, accounts["coordinator"])
    login(phone, accounts["coordinator"])
    assert phone.get("/coordinator/").status_code == 200
    html = laptop.get("/coordinator/").get_data(as_text=True)
    laptop.post("/logout", data={"csrf_token": csrf_from(html)})
    assert laptop.get("/coordinator/").status_code == 302
    # The phone's cookie is still signed, but its session version is gone.
    assert phone.get("/coordinator/").status_code == 302


def test_password_change_ends_sessions(app: Flask, accounts: Accounts) -> None:
    client = app.test_client()
    login(client, accounts["researcher"])
    assert client.get("/researcher/").status_code == 200
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == accounts["researcher"][0])).one()
        user.set_password("a brand new password")
        db.session.commit()
    assert client.get("/researcher/").status_code == 302


def test_idle_timeout_signs_out(make_app: Callable[..., Flask], accounts: Accounts) -> None:
    from datetime import timedelta

    app = make_app(STAFF_IDLE_TIMEOUT=timedelta(seconds=0))
    client = app.test_client()
    login(client, accounts["coordinator"])
    response = client.get("/coordinator/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_attempts_are_rate_limited(make_app: Callable[..., Flask],
                                         accounts: Accounts) -> None:
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    responses = [login(client, (accounts["coordinator"][0], "wrong")) for _ in range(4)]
    assert [r.status_code for r in responses] == [422, 422, 422, 429]
    assert "Too many attempts" in responses[3].get_data(as_text=True)


def test_secret_key_is_required_in_production(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    from app import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "sqlite://"})


def test_production_cookies_are_secure(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    from app import create_app

    app = create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "sqlite://",
                      "SECRET_KEY": "x" * 32})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_postgres_url_forms_are_accepted() -> None:
    from study.database import normalise_database_url

    assert normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("sqlite:///x") == "sqlite:///x"


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["database"] == "ok"


# --- every staff route -------------------------------------------------------------------

STAFF_PREFIXES = ("coordinator.", "researcher.", "admin.", "api.")
ROUTE_ARGS = {"slug": "demo", "session_id": 1, "table": "scores", "user_id": 1, "position": 0,
              "facilitator_id": 1}
# Pages outside any study that only some staff may open (403 for an account with no role).
NOT_FOR_EVERY_ACCOUNT = {"coordinator.new_study": 403}


def staff_routes(app: Flask, code: str = "PNOSUCH00") -> list[tuple[str, str, str, bool]]:
    """Every staff route with real arguments (``code``: a demo trainee's code)."""
    routes = []
    arguments = {**ROUTE_ARGS, "code": code}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(STAFF_PREFIXES):
            continue
        url = rule.build({k: v for k, v in arguments.items() if k in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, url, rule.endpoint, "slug" in rule.arguments))
    return routes


def test_the_staff_route_list_is_not_empty(app: Flask) -> None:
    endpoints = {endpoint for _, _, endpoint, _ in staff_routes(app)}
    assert {"coordinator.index", "coordinator.attendance", "researcher.export",
            "admin.index"} <= endpoints


def test_every_staff_route_refuses_anonymous_users(app: Flask, trainee_code: str) -> None:
    client = app.test_client()
    for method, url, endpoint, _ in staff_routes(app, trainee_code):
        response = client.open(url, method=method)
        if endpoint.startswith("api."):
            assert response.status_code == 401, (method, url)
        elif method == "GET":
            assert response.status_code == 302, (method, url)
            assert "/login" in response.headers["Location"]
        else:  # a POST without a session fails CSRF (400) or sign-in (302), never succeeds
            assert response.status_code in (302, 400), (method, url)


def test_every_study_route_refuses_staff_without_a_role_in_the_study(
        app: Flask, trainee_code: str, staff_client: StaffClient) -> None:
    client = staff_client("outsider")
    token = csrf_from(client.get("/coordinator/").get_data(as_text=True))
    for method, url, endpoint, per_study in staff_routes(app, trainee_code):
        if endpoint.startswith("api."):
            continue
        response = client.open(url, method=method, data={"csrf_token": token})
        if endpoint.startswith("admin."):
            assert response.status_code == 403, (method, url)
        elif per_study:  # as if the study did not exist: slugs cannot be probed
            assert response.status_code == 404, (method, url)
            assert response.get_data() == client.open(
                url.replace("/demo/", "/nosuch/"), method=method,
                data={"csrf_token": token}).get_data(), (method, url)
        elif endpoint in NOT_FOR_EVERY_ACCOUNT:
            assert response.status_code == NOT_FOR_EVERY_ACCOUNT[endpoint], (method, url)
        else:
            assert response.status_code == 200, (method, url)
            assert "demo" not in response.get_data(as_text=True).lower().split("</nav>")[-1]


def test_roles_do_not_cross(app: Flask, trainee_code: str, staff_client: StaffClient) -> None:
    researcher, coordinator = staff_client("researcher"), staff_client("coordinator")
    for method, url, endpoint, per_study in staff_routes(app, trainee_code):
        if not per_study or method != "GET":
            continue
        if endpoint.startswith("coordinator."):
            assert researcher.get(url).status_code == 403, url
            assert coordinator.get(url).status_code == 200, url
        if endpoint.startswith("researcher."):
            assert coordinator.get(url).status_code == 403, url
            assert researcher.get(url).status_code == 200, url


def test_a_coordinator_of_another_study_sees_nothing_of_demo(
        demo: Demo, staff_client: StaffClient) -> None:
    from study.services.studies import StudySpec, create_study

    with demo.app.app_context():
        create_study(db.session, StudySpec(slug="other", title="Other study", consent_text="x"),
                     demo.library, actor="test")
        db.session.commit()
    client = staff_client("coordinator", study="other")
    index = client.get("/coordinator/").get_data(as_text=True)
    assert "Other study" in index and "Meeting as equals" not in index
    assert client.get("/coordinator/demo/").status_code == 404
    assert client.get("/coordinator/other/").status_code == 200
