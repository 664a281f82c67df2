"""``/api/v1``: tokens, JSON errors, per-study authorization, analysis and exports.

The last test seeds a study with ``flask demo --simulate`` and checks that the command line, the
researcher page and the API give the same numbers.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyreadstat
import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from werkzeug.test import TestResponse

from study.extensions import db
from study.models import ApiToken, AuditEvent, Membership, Role, Study, User, utcnow
from study.services import api_tokens
from study.services.studies import StudySpec, create_study
from tests.helpers import Demo, StaffClient

# `flask demo --simulate --trainees 20`, as the simulated_demo fixture has.
TRAINEES = 20


def run(runner: FlaskCliRunner, *args: str) -> Result:
    return runner.invoke(args=list(args), catch_exceptions=False)


@pytest.fixture
def tokens(simulated_demo: Demo) -> dict[str, str]:
    """Simulated demo data; a token for: the demo researcher, the demo coordinator, a researcher
    of another study, an admin; plus a revoked token."""
    with simulated_demo.app.app_context():
        other = create_study(db.session, StudySpec(slug="other", title="Other study",
                                                   consent_text="x"), simulated_demo.library,
                             actor="test")
        stranger = User(email="stranger@example.org", password_hash="")
        stranger.set_password("correct horse battery")
        db.session.add(stranger)
        db.session.flush()
        db.session.add(Membership(user_id=stranger.id, study_id=other.id, role=Role.RESEARCHER))
        issued = {}
        for key, email in (("researcher", "researcher@allport.example"),
                           ("coordinator", "coordinator@allport.example"),
                           ("stranger", "stranger@example.org"),
                           ("admin", "admin@allport.example"),
                           ("revoked", "researcher@allport.example")):
            user = db.session.scalars(select(User).where(User.email == email)).one()
            token, raw = api_tokens.issue_token(db.session, user, key, actor="test")
            if key == "revoked":
                api_tokens.revoke_token(db.session, token.id, actor="test")
            issued[key] = raw
        db.session.commit()
    return issued


def get(client: FlaskClient, url: str, token: str | None = None, **headers: str) -> TestResponse:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(url, headers=headers)


def assert_error(response: TestResponse, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error and body["message"]
    return body


ENDPOINTS = ["/api/v1/studies", "/api/v1/studies/demo", "/api/v1/studies/demo/analysis",
             "/api/v1/studies/demo/exports", "/api/v1/studies/demo/exports/scores.csv",
             "/api/v1/studies/demo/report.pdf", "/api/v1/studies/demo/bundle.zip"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_no_or_a_bad_token_is_401(client, tokens, url) -> None:
    response = get(client, url)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for bad in ("alp_not-a-token", tokens["revoked"], tokens["researcher"] + "x"):
        response = get(client, url, bad)
        assert_error(response, 401, "invalid_token")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert_error(get(client, url, Authorization=f"Basic {tokens['researcher']}"), 401,
                 "unauthorized")


def test_a_deactivated_account_s_token_stops_working(app, client, tokens) -> None:
    assert get(client, "/api/v1/studies", tokens["researcher"]).status_code == 200
    with app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == "researcher@allport.example")).one()
        user.active = False
        db.session.commit()
    assert_error(get(client, "/api/v1/studies", tokens["researcher"]), 401, "invalid_token")


@pytest.mark.usefixtures("tokens")
def test_a_signed_in_browser_session_is_not_an_api_credential(staff_client: StaffClient) -> None:
    client = staff_client("researcher")
    assert client.get("/researcher/demo/").status_code == 200
    assert_error(client.get("/api/v1/studies/demo"), 401, "unauthorized")


@pytest.mark.parametrize("url", ENDPOINTS[1:])
def test_another_role_in_the_study_is_403(client, tokens, url) -> None:
    assert_error(get(client, url, tokens["coordinator"]), 403, "forbidden")


@pytest.mark.parametrize("url", ENDPOINTS[1:])
def test_a_study_the_caller_has_no_role_in_is_answered_as_missing(client, tokens, url) -> None:
    response = get(client, url, tokens["stranger"])
    missing = get(client, url.replace("/demo", "/nosuch"), tokens["stranger"])
    assert_error(response, 404, "not_found")
    assert response.get_json() == {**missing.get_json(),
                                   "message": missing.get_json()["message"].replace(
                                       "nosuch", "demo")}


def test_the_studies_list_is_the_caller_s(client, tokens) -> None:
    mine = get(client, "/api/v1/studies", tokens["researcher"]).get_json()["studies"]
    assert [s["slug"] for s in mine] == ["demo"]
    assert mine[0] == {"slug": "demo", "title": mine[0]["title"], "status": "recruiting",
                       "blinded": True, "url": "/api/v1/studies/demo"}
    theirs = get(client, "/api/v1/studies", tokens["stranger"]).get_json()["studies"]
    assert [s["slug"] for s in theirs] == ["other"]
    assert get(client, "/api/v1/studies", tokens["coordinator"]).get_json() == {"studies": []}
    admin = get(client, "/api/v1/studies", tokens["admin"]).get_json()["studies"]
    assert {s["slug"] for s in admin} == {"demo", "other"}


def test_not_found_is_404_json(client, tokens) -> None:
    token = tokens["researcher"]
    assert_error(get(client, "/api/v1/studies/nosuch", token), 404, "not_found")
    assert_error(get(client, "/api/v1/studies/nosuch/analysis", token), 404, "not_found")
    assert_error(get(client, "/api/v1/studies/demo/exports/emails.csv", token), 404, "not_found")
    assert_error(get(client, "/api/v1/nothing-here", token), 404, "not_found")


@pytest.mark.parametrize("query, parameter", [
    ("population=foo", "population"),
    ("outcome=nope.total", "outcome"),
    ("populaton=itt", "populaton"),
])
def test_a_bad_parameter_is_422(client, tokens, query, parameter) -> None:
    response = get(client, f"/api/v1/studies/demo/analysis?{query}", tokens["researcher"])
    assert assert_error(response, 422, "invalid_parameter")["parameter"] == parameter


def test_a_study_without_data_is_422_not_analysable(client, tokens) -> None:
    response = get(client, "/api/v1/studies/other/analysis", tokens["stranger"])
    assert "no outcome" in assert_error(response, 422, "not_analysable")["message"]


def test_the_report_is_a_pdf_and_a_bad_paper_is_422(client, tokens) -> None:
    response = get(client, "/api/v1/studies/demo/report.pdf?paper=letter", tokens["researcher"])
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    response = get(client, "/api/v1/studies/demo/report.pdf?paper=a3", tokens["researcher"])
    assert assert_error(response, 422, "invalid_parameter")["parameter"] == "paper"
    # A study with no outcome and no trainees still gets its (nearly empty) report.
    empty = get(client, "/api/v1/studies/other/report.pdf", tokens["stranger"])
    assert empty.status_code == 200 and empty.data.startswith(b"%PDF")


def test_the_bundle_is_a_zip_audited_and_refused_elsewhere(
        app, client, tokens, simulated_demo: Demo) -> None:
    from study.services.bundle import FILES

    response = get(client, "/api/v1/studies/demo/bundle.zip", tokens["researcher"])
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert sorted(name.split("/", 1)[1] for name in archive.namelist()) == sorted(FILES)
    with app.app_context():
        tables = {details.get("table") for details in db.session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "export",
                                             AuditEvent.actor.startswith("user:")))}
    assert {"bundle", "wide", "codebook"} <= tables
    assert_error(get(client, "/api/v1/studies/nosuch/bundle.zip", tokens["researcher"]), 404,
                 "not_found")
    assert_error(get(client, "/api/v1/studies/other/bundle.zip", tokens["researcher"]), 404,
                 "not_found")
    assert_error(get(client, "/api/v1/studies/other/bundle.zip", tokens["stranger"]), 422,
                 "not_analysable")


def test_the_study_gives_blinded_counts(client, tokens, simulated_demo: Demo) -> None:
    body = get(client, "/api/v1/studies/demo", tokens["researcher"]).get_json()
    assert body["arms"] == [{"code": "arm_a", "label": "Arm A"},
                            {"code": "arm_b", "label": "Arm B"}]
    counts = body["counts"]
    assert counts["participants"] == simulated_demo.trainees
    assert set(counts["allocated_by_arm"]) == {"arm_a", "arm_b"}
    assert sum(counts["allocated_by_arm"].values()) == simulated_demo.trainees
    by_status = counts["by_status"]
    assert by_status["post_done"] + by_status["allocated"] == simulated_demo.trainees
    assert body["primary_outcome"] == "intergroup-anxiety.total"
    assert body["links"]["analysis"] == "/api/v1/studies/demo/analysis?population=itt"
    assert "education" not in json.dumps(body["counts"])


def test_the_analysis_is_the_section_6_json(client, tokens) -> None:
    response = get(client, "/api/v1/studies/demo/analysis?population=per_protocol"
                   "&outcome=allport-stigma.total&outcome=intergroup-anxiety.total",
                   tokens["researcher"])
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["schema"] == "allport.analysis/1" and body["population"] == "per_protocol"
    assert set(body["outcomes"]) == {"intergroup-anxiety.total", "allport-stigma.total"}
    entry = body["outcomes"]["allport-stigma.total"]
    for key in ("n_complete", "descriptives", "mixed_anova", "ancova", "change_welch",
                "hedges_g_post", "d_ppc2", "lmm", "assumptions"):
        assert key in entry
    assert set(entry["ancova"]["adjusted_difference"]) >= {"estimate", "se", "ci_low", "ci_high"}


def test_exports_download_with_a_token_and_are_audited(app, client, tokens) -> None:
    token = tokens["researcher"]
    listing = get(client, "/api/v1/studies/demo/exports", token).get_json()["exports"]
    assert [e["name"] for e in listing][:4] == ["allocations.csv", "scores.csv", "responses.csv",
                                                "participants.csv"]
    scores = get(client, "/api/v1/studies/demo/exports/scores.csv", token)
    assert scores.status_code == 200 and scores.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(scores.get_data(as_text=True))))
    assert set(rows[0]) == {"participant", "arm", "time", "instrument", "scale", "score"}
    wide = get(client, "/api/v1/studies/demo/exports/wide.csv", token)
    assert wide.headers["Content-Disposition"] == 'attachment; filename="demo-wide.csv"'
    dta = get(client, "/api/v1/studies/demo/exports/wide.dta", token)
    assert dta.status_code == 200 and dta.mimetype == "application/x-stata-dta"
    path = app.instance_path + "/check.dta"
    with open(path, "wb") as handle:
        handle.write(dta.data)
    _, meta = pyreadstat.read_dta(path)
    assert meta.variable_value_labels["arm"] == {1: "Arm A", 2: "Arm B"}
    with app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == "researcher@allport.example")).one()
        events = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "export").order_by(AuditEvent.id)))
    assert [e.details["table"] for e in events] == ["scores", "wide", "wide"]
    assert {e.actor for e in events} == {f"user:{user.id}"}


def test_last_use_is_noted_at_most_once_a_minute(app, client, tokens) -> None:
    def last_used() -> datetime | None:
        with app.app_context():
            return db.session.scalars(select(ApiToken).where(
                ApiToken.name == "researcher")).one().last_used_at

    assert last_used() is None
    get(client, "/api/v1/studies", tokens["researcher"])
    first = last_used()
    assert first is not None and utcnow() - first < timedelta(minutes=1)
    get(client, "/api/v1/studies", tokens["researcher"])
    assert last_used() == first


def test_csrf_protection_stays_on_for_the_pages(app) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.test_client().post("/login", data={"email": "x", "password": "y"}).status_code == 400


def test_create_list_and_revoke_tokens_from_the_command_line(app, runner) -> None:
    run(runner, "demo")
    result = runner.invoke(args=["create-token", "Researcher@allport.example", "--name", "R"])
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    assert raw.startswith("alp_") and len(raw) > 40
    with app.app_context():
        stored = db.session.scalars(select(ApiToken)).one()
        assert stored.token_sha256 == api_tokens.token_hash(raw) and raw not in repr(
            [stored.token_sha256, stored.name])
    client = app.test_client()
    assert get(client, "/api/v1/studies", raw).status_code == 200
    listed = run(runner, "list-tokens", "researcher@allport.example").output
    assert f"{stored.id}\tR\t" in listed and "active" in listed and raw not in listed
    assert run(runner, "revoke-token", str(stored.id)).exit_code == 0
    assert get(client, "/api/v1/studies", raw).status_code == 401
    assert "revoked" in run(runner, "list-tokens", "researcher@allport.example").output
    missing = runner.invoke(args=["create-token", "nobody@example.org"])
    assert missing.exit_code != 0 and "No staff account" in missing.output
    assert runner.invoke(args=["revoke-token", "999"]).exit_code != 0


def test_cli_page_and_api_give_the_same_numbers(app: Flask, runner: FlaskCliRunner, tmp_path: Path,
                                                staff_client: StaffClient) -> None:
    """End to end: ``flask demo --simulate``, then the same analysis three ways."""
    assert run(runner, "demo", "--simulate", "--trainees", str(TRAINEES)).exit_code == 0
    token = runner.invoke(args=["create-token", "researcher@allport.example"]).stdout.strip()

    for population in ("itt", "per_protocol"):
        out = tmp_path / f"{population}.json"
        result = run(runner, "analyze", "--study", "demo", "--population", population,
                     "--json", str(out))
        assert result.exit_code == 0, result.output
        from_cli = json.loads(out.read_text())
        from_api = get(app.test_client(), f"/api/v1/studies/demo/analysis?population={population}",
                       token).get_json()
        assert from_api == from_cli
        assert from_cli["population"] == population

    itt = json.loads((tmp_path / "itt.json").read_text())
    page = staff_client("researcher").get("/researcher/demo/analysis?population=itt&" + "&".join(
        f"outcome={name}" for name in itt["outcomes"])).get_data(as_text=True)
    assert "Population: Intention to treat" in page
    for name, entry in itt["outcomes"].items():
        difference = entry["ancova"]["adjusted_difference"]
        shown = (f"{difference['estimate']:.2f} ({difference['ci_low']:.2f} to "
                 f"{difference['ci_high']:.2f})").replace("-", "−")
        assert shown in page, name
        g = entry["hedges_g_post"]
        assert f"{g['estimate']:.2f} ({g['ci_low']:.2f} to {g['ci_high']:.2f})".replace(
            "-", "−") in page, name
        lmm = entry["lmm"]["interaction"]
        assert f"{lmm['estimate']:.2f} ({lmm['ci_low']:.2f} to {lmm['ci_high']:.2f})".replace(
            "-", "−") in page, name
    with app.app_context():
        study = db.session.scalars(select(Study).where(Study.slug == "demo")).one()
        assert study.blinded



def test_the_api_is_rate_limited_per_token(app, client, tokens) -> None:
    app.config["API_RATE_LIMIT"] = "3 per minute"
    statuses = [get(client, "/api/v1/studies", tokens["researcher"]).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = get(client, "/api/v1/studies/demo/analysis", tokens["researcher"])
    assert "at most 3 per 1 minute" in assert_error(response, 429, "rate_limited")["message"]
    assert int(response.headers["Retry-After"]) > 0
    # Counted per token, not per address: another token from the same address goes on.
    assert get(client, "/api/v1/studies", tokens["admin"]).status_code == 200
