"""Staff sign-in, sessions, and per-study authorization on every staff route (DESIGN §1, §8)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from study.config import ConfigurationError
from study.extensions import db
from study.models import Membership, Role, User
from study.services import invitations
from study.services.demo import seed_demo
from study.services.studies import get_study
from tests.helpers import csrf_from

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(app):  # type: ignore[no-untyped-def]
    """The demo study plus: an outsider (no role anywhere) and a second study's coordinator."""
    with app.app_context():
        demo = seed_demo(db.session, app.extensions["allport.instruments"])
        outsider = User(email="outsider@example.org", password_hash="")
        outsider.set_password(PASSWORD)
        db.session.add(outsider)
        study = get_study(db.session, "demo")
        code = invitations.invite(db.session, study, study.cohorts[0], 1,
                                  actor="test")[0].participant.code
        db.session.commit()
    return {"admin": demo.admin, "coordinator": demo.coordinator,
            "researcher": demo.researcher, "outsider": ("outsider@example.org", PASSWORD),
            "code": code}


def login(client, account, next_url: str | None = None):  # type: ignore[no-untyped-def]
    email, password = account
    html = client.get("/login").get_data(as_text=True)
    data = {"csrf_token": csrf_from(html), "email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def test_login_and_landing_pages(client, accounts) -> None:  # type: ignore[no-untyped-def]
    response = login(client, accounts["coordinator"])
    assert response.status_code == 303
    page = client.get("/", follow_redirects=True)
    assert page.request.path == "/coordinator/"
    html = page.get_data(as_text=True)
    assert "Meeting as equals" in html and "Invited" in html


def test_wrong_password_message_beside_the_field(client, accounts) -> None:  # type: ignore[no-untyped-def]
    response = login(client, (accounts["coordinator"][0], "wrong password"))
    assert response.status_code == 422
    assert "do not match an active account" in response.get_data(as_text=True)


def test_login_form_needs_csrf(client, accounts) -> None:  # type: ignore[no-untyped-def]
    email, password = accounts["coordinator"]
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 400
    assert client.get("/coordinator/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/",
                                    "/\\/evil.example", "javascript:alert(1)", "/\tevil"])
def test_next_never_leaves_the_site(client, accounts, target) -> None:  # type: ignore[no-untyped-def]
    response = login(client, accounts["coordinator"], next_url=target)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "evil" not in location and not location.startswith(("//", "http", "javascript"))


def test_next_inside_the_site_is_followed(client, accounts) -> None:  # type: ignore[no-untyped-def]
    response = login(client, accounts["coordinator"], next_url="/coordinator/demo/sessions")
    assert response.headers["Location"] == "/coordinator/demo/sessions"


def test_logout_ends_every_session_of_the_user(app, accounts) -> None:  # type: ignore[no-untyped-def]
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, accounts["coordinator"])
    login(phone, accounts["coordinator"])
    assert phone.get("/coordinator/").status_code == 200
    html = laptop.get("/coordinator/").get_data(as_text=True)
    laptop.post("/logout", data={"csrf_token": csrf_from(html)})
    assert laptop.get("/coordinator/").status_code == 302
    # The phone's cookie is still signed, but its session version is gone.
    assert phone.get("/coordinator/").status_code == 302


def test_password_change_ends_sessions(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    login(client, accounts["researcher"])
    assert client.get("/researcher/").status_code == 200
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == accounts["researcher"][0])).one()
        user.set_password("a brand new password")
        db.session.commit()
    assert client.get("/researcher/").status_code == 302


def test_idle_timeout_signs_out(make_app, accounts) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    app = make_app(STAFF_IDLE_TIMEOUT=timedelta(seconds=0))
    client = app.test_client()
    login(client, accounts["coordinator"])
    response = client.get("/coordinator/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_attempts_are_rate_limited(make_app, accounts) -> None:  # type: ignore[no-untyped-def]
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    responses = [login(client, (accounts["coordinator"][0], "wrong")) for _ in range(4)]
    assert [r.status_code for r in responses] == [422, 422, 422, 429]
    assert "Too many attempts" in responses[3].get_data(as_text=True)


def test_secret_key_is_required_in_production(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "sqlite://"})


def test_production_cookies_are_secure(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
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


def test_healthz(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["database"] == "ok"


# --- every staff route -------------------------------------------------------------------

STAFF_PREFIXES = ("coordinator.", "researcher.", "admin.", "api.")
ROUTE_ARGS = {"slug": "demo", "session_id": 1, "table": "scores"}


def staff_routes(app, code: str = "PNOSUCH00"):  # type: ignore[no-untyped-def]
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


def test_the_staff_route_list_is_not_empty(app) -> None:  # type: ignore[no-untyped-def]
    endpoints = {endpoint for _, _, endpoint, _ in staff_routes(app)}
    assert {"coordinator.index", "coordinator.attendance", "researcher.export",
            "admin.index"} <= endpoints


def test_every_staff_route_refuses_anonymous_users(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    for method, url, endpoint, _ in staff_routes(app, accounts["code"]):
        response = client.open(url, method=method)
        if endpoint.startswith("api."):
            assert response.status_code == 401, (method, url)
        elif method == "GET":
            assert response.status_code == 302, (method, url)
            assert "/login" in response.headers["Location"]
        else:  # a POST without a session fails CSRF (400) or sign-in (302), never succeeds
            assert response.status_code in (302, 400), (method, url)


def test_every_study_route_refuses_staff_without_a_role_in_the_study(app, accounts) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    login(client, accounts["outsider"])
    token = csrf_from(client.get("/coordinator/").get_data(as_text=True))
    for method, url, endpoint, per_study in staff_routes(app, accounts["code"]):
        if endpoint.startswith("api."):
            continue
        response = client.open(url, method=method, data={"csrf_token": token})
        if per_study or endpoint.startswith("admin."):
            assert response.status_code == 403, (method, url)
        else:
            assert response.status_code == 200, (method, url)
            assert "demo" not in response.get_data(as_text=True).lower().split("</nav>")[-1]


def test_roles_do_not_cross(app, accounts) -> None:  # type: ignore[no-untyped-def]
    researcher, coordinator = app.test_client(), app.test_client()
    login(researcher, accounts["researcher"])
    login(coordinator, accounts["coordinator"])
    for method, url, endpoint, per_study in staff_routes(app, accounts["code"]):
        if not per_study or method != "GET":
            continue
        if endpoint.startswith("coordinator."):
            assert researcher.get(url).status_code == 403, url
            assert coordinator.get(url).status_code == 200, url
        if endpoint.startswith("researcher."):
            assert coordinator.get(url).status_code == 403, url
            assert researcher.get(url).status_code == 200, url


def test_a_coordinator_of_another_study_sees_nothing_of_demo(app, accounts) -> None:  # type: ignore[no-untyped-def]
    from study.services.studies import StudySpec, create_study

    with app.app_context():
        other = create_study(db.session, StudySpec(slug="other", title="Other study",
                                                   consent_text="x"),
                             app.extensions["allport.instruments"], actor="test")
        user = db.session.scalars(select(User).where(User.email == "outsider@example.org")).one()
        db.session.add(Membership(user_id=user.id, study_id=other.id, role=Role.COORDINATOR))
        db.session.commit()
    client = app.test_client()
    login(client, accounts["outsider"])
    index = client.get("/coordinator/").get_data(as_text=True)
    assert "Other study" in index and "Meeting as equals" not in index
    assert client.get("/coordinator/demo/").status_code == 403
    assert client.get("/coordinator/other/").status_code == 200
