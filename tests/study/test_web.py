"""The web layer's own behaviour: proxies, headers, cookies, numbers in URLs (DESIGN §9)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from study.extensions import db
from study.models import ContactSession, User
from study.services import api_tokens, invitations
from tests.helpers import Demo, StaffClient, csrf_from

HUGE = "99999999999999999999"  # beyond a 64-bit integer
BAD_PASSWORD = "not the password at all"


@pytest.fixture
def app(make_app: Callable[..., Flask], request: pytest.FixtureRequest) -> Flask:
    """The test app, with the settings ``parametrize("app", [{…}], indirect=True)`` gives."""
    return make_app(**getattr(request, "param", {}))


def bad_login(client: FlaskClient, forwarded_for: str) -> TestResponse:
    """A wrong password from ``forwarded_for`` as a proxy at 10.0.0.1 would pass it on."""
    html = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"csrf_token": csrf_from(html), "email": "x@example.org",
                                       "password": BAD_PASSWORD},
                       headers={"X-Forwarded-For": forwarded_for},
                       environ_base={"REMOTE_ADDR": "10.0.0.1"})


# --- behind a proxy ------------------------------------------------------------------------


@pytest.mark.parametrize("app", [{"TRUSTED_PROXIES": 1, "LOGIN_RATE_LIMIT": "2 per minute"}],
                         indirect=True)
def test_behind_one_trusted_proxy_sign_ins_are_limited_per_client(app: Flask) -> None:
    client = app.test_client()
    assert [bad_login(client, "203.0.113.7").status_code for _ in range(3)] == [422, 422, 429]
    # Another client behind the same proxy is not locked out by the first one's attempts.
    assert bad_login(client, "203.0.113.8").status_code == 422
    # A client cannot forge its way out: only the address the proxy added counts.
    assert bad_login(client, "198.51.100.1, 203.0.113.7").status_code == 429


@pytest.mark.parametrize("app", [{"LOGIN_RATE_LIMIT": "2 per minute"}], indirect=True)
def test_without_a_trusted_proxy_forwarded_headers_are_ignored(app: Flask) -> None:
    assert app.config["TRUSTED_PROXIES"] == 0
    client = app.test_client()
    assert [bad_login(client, f"203.0.113.{n}").status_code for n in range(3)] == [
        422, 422, 429]


def invitation_links(client: FlaskClient, demo: Demo, proto: str) -> list[str]:
    with demo.app.app_context():
        cohort_id = demo.study().cohorts[0].id
    html = client.get("/coordinator/demo/invitations").get_data(as_text=True)
    response = client.post("/coordinator/demo/invitations",
                           data={"csrf_token": csrf_from(html), "cohort_id": cohort_id,
                                 "count": 2},
                           # On https Flask-WTF checks that the form came from this site.
                           headers={"X-Forwarded-Proto": proto,
                                    "Referer": f"{proto}://localhost/coordinator/demo/"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return re.findall(r"https?://[^\s<>]+/t/[\w-]+", response.get_data(as_text=True))


@pytest.mark.parametrize("app", [{"TRUSTED_PROXIES": 1}], indirect=True)
def test_behind_a_tls_proxy_invitation_links_are_https(demo: Demo,
                                                       staff_client: StaffClient) -> None:
    links = invitation_links(staff_client("coordinator"), demo, "https")
    assert len(links) == 2 and all(link.startswith("https://") for link in links), links


def test_without_a_trusted_proxy_x_forwarded_proto_is_ignored(
        demo: Demo, staff_client: StaffClient) -> None:
    links = invitation_links(staff_client("coordinator"), demo, "https")
    assert len(links) == 2 and all(link.startswith("http://") for link in links), links


@pytest.mark.parametrize("hops", ["-1", "two", "true"])
def test_a_bad_number_of_trusted_proxies_stops_the_start(
        make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch, hops: str) -> None:
    from study.config import ConfigurationError

    monkeypatch.setenv("ALLPORT_TRUSTED_PROXIES", hops)
    with pytest.raises(ConfigurationError, match="ALLPORT_TRUSTED_PROXIES must be the number"):
        make_app()


# --- production: HSTS and the session cookie ------------------------------------------------


def production_app(tmp_path: Path, **config: object) -> Flask:
    from app import create_app

    return create_app({"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": "sqlite://",
                       "SECRET_KEY": "x" * 32, **config})


def test_production_sends_hsts_and_a_host_only_session_cookie(tmp_path: Path) -> None:
    response = production_app(tmp_path).test_client().get("/login",
                                                          base_url="https://allport.example")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    [cookie] = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("__Host-session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
    assert "Path=/;" in cookie or cookie.endswith("Path=/")


@pytest.mark.parametrize("config", [{"ENV": "development"}, {"TESTING": True}])
def test_plain_http_development_has_no_hsts_and_the_plain_cookie(tmp_path: Path,
                                                                 config: dict) -> None:
    response = production_app(tmp_path, **config).test_client().get("/login")
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["Set-Cookie"].startswith("session=")


def test_signing_in_works_with_the_host_cookie(tmp_path: Path) -> None:
    from study.models import Base

    app = production_app(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with app.app_context():
        Base.metadata.create_all(db.engine)
        user = User(email="admin@example.org", is_admin=True, password_hash="")
        user.set_password("a long enough password")
        db.session.add(user)
        db.session.commit()
    client = app.test_client()
    html = client.get("/login", base_url="https://allport.example").get_data(as_text=True)
    response = client.post("/login", base_url="https://allport.example",
                           headers={"Referer": "https://allport.example/login"}, data={
        "csrf_token": csrf_from(html), "email": "admin@example.org",
        "password": "a long enough password"})
    assert response.status_code == 303
    assert client.get("/admin/", base_url="https://allport.example").status_code == 200
    with app.app_context():
        db.engine.dispose()


# --- Cache-Control: no-store on every staff page -----------------------------------------------

STAFF_BLUEPRINTS = ("auth.", "coordinator.", "researcher.", "admin.", "api.")


def staff_get_urls(app: Flask, **arguments: object) -> list[tuple[str, str]]:
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(STAFF_BLUEPRINTS) and "GET" in (rule.methods or ()):
            urls.append((rule.endpoint, rule.build(
                {k: v for k, v in arguments.items() if k in rule.arguments})[1]))
    return urls


def test_every_staff_page_is_no_store(app: Flask, demo: Demo,
                                      staff_client: StaffClient) -> None:
    with app.app_context():
        study = demo.study()
        code = invitations.invite(db.session, study, study.cohorts[0], 1,
                                  actor="test")[0].participant.code
        admin = db.session.scalars(select(User).where(
            User.email == demo.accounts.admin[0])).one()
        _, token = api_tokens.issue_token(db.session, admin, "test", actor="test")
        admin_id = admin.id
        session_id = db.session.scalars(select(ContactSession.id).where(
            ContactSession.study_id == study.id)).first()
        facilitator_id = db.session.scalars(select(ContactSession.facilitator_id).where(
            ContactSession.study_id == study.id)).first()
        cohort_id = study.cohorts[0].id
        db.session.commit()
    client = staff_client("admin")
    urls = staff_get_urls(app, slug="demo", code=code, session_id=session_id, table="scores",
                          user_id=admin_id, position=0, facilitator_id=facilitator_id,
                          cohort_id=cohort_id)
    assert {"auth.login", "coordinator.overview", "researcher.analysis", "admin.index",
            "api.study"} <= {endpoint for endpoint, _ in urls}
    for endpoint, url in urls:
        headers = {"Authorization": f"Bearer {token}"} if endpoint.startswith("api.") else {}
        response = client.get(url, headers=headers)
        assert response.status_code < 500, (url, response.status_code)
        assert response.headers.get("Cache-Control") == "no-store", url
    signed_out = app.test_client().get("/login")
    assert signed_out.headers["Cache-Control"] == "no-store"


# --- numbers in URLs ---------------------------------------------------------------------------


def test_a_huge_page_number_is_the_last_page(demo: Demo, staff_client: StaffClient) -> None:
    client = staff_client("coordinator")
    for page in (HUGE, "-" + HUGE, "0", "abc"):
        response = client.get(f"/coordinator/demo/?page={page}")
        assert response.status_code == 200, (page, response.status_code)
        assert "Meeting as equals" in response.get_data(as_text=True)


def test_no_integer_in_a_url_overflows(app: Flask, demo: Demo,
                                       staff_client: StaffClient) -> None:
    with app.app_context():
        study = demo.study()
        issued = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")[0]
        token, code = issued.token, issued.participant.code
        db.session.commit()
    admin = staff_client("admin")
    anonymous = app.test_client()
    checked = []
    for rule in app.url_map.iter_rules():
        numbers = re.findall(r"<int:(\w+)>", rule.rule)
        if not numbers:
            continue
        arguments = {"slug": "demo", "token": token, "code": code,
                     **dict.fromkeys(numbers, 424242)}
        url = rule.build({k: v for k, v in arguments.items() if k in rule.arguments})[1]
        url = url.replace("424242", HUGE)
        client = anonymous if rule.endpoint.startswith("trainee.") else admin
        csrf = csrf_from(admin.get("/admin/").get_data(as_text=True))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": csrf})
            assert response.status_code == 404, (method, url, response.status_code)
            checked.append(url)
    assert any("/sessions/" in url for url in checked) and any(
        "/education/" in url for url in checked)


# --- what gunicorn.conf.py and the logs use (the real server: tests/study/test_gunicorn.py) ---


def test_the_per_process_warning_is_for_several_workers_without_a_shared_store() -> None:
    from study.config import per_process_rate_limits_warning as warning

    assert "4 times the configured one" in (warning(4, {}) or "")
    assert warning(1, {}) is None
    assert warning(4, {"REDIS_URL": "redis://cache:6379/0"}) is None
    assert warning(4, {"ALLPORT_RATELIMIT_STORAGE_URI": "redis://cache:6379/0"}) is None


@pytest.mark.parametrize("line, redacted", [
    ("GET /t/abc_DEF-123/q/pre/7?page=2 HTTP/1.1", "GET /t/<redacted>/q/pre/7?page=2 HTTP/1.1"),
    ("/t/abc", "/t/<redacted>"),
    ("https://allport.example/t/abc/consent", "https://allport.example/t/<redacted>/consent"),
    ("GET /coordinator/t/ HTTP/1.1", "GET /coordinator/t/ HTTP/1.1"),
    ("GET /api/v1/studies/demo HTTP/1.1", "GET /api/v1/studies/demo HTTP/1.1"),
])
def test_trainee_tokens_are_redacted_from_log_lines(line: str, redacted: str) -> None:
    from study.access_log import redact_tokens

    assert redact_tokens(line) == redacted


# --- the cost of every request (issue 14) ------------------------------------------------------


def test_a_request_starts_no_thread_and_still_closes_its_session(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flask-SQLAlchemy-Lite's async teardown ran through a new thread per request; no more."""
    import threading

    started: list[threading.Thread] = []
    original = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        started.append(thread)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    closed: list[Session] = []
    close = Session.close

    def noted_close(session: Session) -> None:
        closed.append(session)
        close(session)

    monkeypatch.setattr(Session, "close", noted_close)
    assert app.test_client().get("/healthz").status_code == 200
    assert started == []
    assert closed, "the request's session was not closed"


def test_a_form_bound_again_and_again_keeps_one_nul_filter(app: Flask) -> None:
    """Binding a form's fields added the NUL filter to the class's fields once per request."""
    from study.trainee.forms import ConsentForm

    with app.test_request_context():
        counts = [len(ConsentForm(meta={"csrf": False}).choice.filters) for _ in range(3)]
        form = ConsentForm(formdata=None, data={"choice": "agree\x00"}, meta={"csrf": False})
    assert counts == [1, 1, 1]
    assert form.choice.data == "agree"


def test_a_form_signs_its_csrf_token_only_when_drawn(app: Flask) -> None:
    """A valid post that redirects never draws its form: no token is signed for it."""
    from flask import g
    from flask_wtf.csrf import validate_csrf

    from study.trainee.forms import ConsentForm

    with app.test_request_context():
        form = ConsentForm()
        assert "csrf_token" not in g  # bound, not drawn: nothing signed yet
        drawn = form.csrf_token()
        token = re.search(r'value="([^"]+)"', str(drawn)).group(1)
        assert g.csrf_token == token
        validate_csrf(token)  # the drawn token is the request's own, and valid
        assert form.csrf_token._value() == token  # drawn twice, one token
