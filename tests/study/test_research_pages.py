"""The researcher's analysis page and downloads, with CSRF on and per-study authorization."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from study.extensions import db
from study.models import AuditEvent, Study, User
from study.services import sap
from study.services.studies import StudySpec, create_study, get_study
from tests.helpers import Demo, StaffClient, csrf_from, staff_email

pytestmark = pytest.mark.usefixtures("simulated_demo")


@pytest.fixture
def stranger(simulated_demo: Demo, staff_client: StaffClient) -> FlaskClient:
    """A researcher of another study (one without data), signed in."""
    with simulated_demo.app.app_context():
        create_study(db.session, StudySpec(slug="other", title="Other study", consent_text="x"),
                     simulated_demo.library, actor="test")
        db.session.commit()
    return staff_client("researcher", study="other")


def test_the_analysis_page_shows_results_baseline_plots_and_checks(
        staff_client: StaffClient) -> None:
    client = staff_client("researcher")
    response = client.get("/researcher/demo/analysis")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("Population: Intention to treat", "Adjusted difference (95% CI)", "Holm <i>p</i>",
                 "Hedges' <i>g</i>", "<i>d</i><sub>ppc2</sub>", "Mixed ANOVA, arm × time",
                 "Mixed model, arm × time", "Baseline", "Assumption checks", "Shapiro–Wilk",
                 "Levene", "Homogeneity of regression slopes",
                 "Intergroup anxiety (mean of 12 items)", "· primary outcome"):
        assert text in html, text
    # Accessible tables: every table has a caption, headers have scopes.
    assert html.count("<table") == html.count("<caption")
    assert '<th scope="row">' in html and '<th scope="col"' in html
    # Five outcomes, five inline plots, none styled inline (CSP: style-src 'self').
    assert html.count("<svg") == 5
    assert html.count('role="img"') == 5
    assert "style=" not in html and "<style" not in html
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "ids are unique across the plots"
    # Blinded: Arm A and Arm B only.
    assert "Arm A" in html and "Arm B" in html
    main = html.split('<main', 1)[1]
    assert "Education module" not in main and "peer specialist" not in main
    results = main.split('id="results-title"', 1)[1].split("</main>", 1)[0].lower()
    # The background question "prior contact" is about people, not the contact arm.
    results = results.replace("prior contact", "")
    assert "education" not in results and "contact" not in results


def test_population_and_outcomes_come_from_a_get_form(staff_client: StaffClient) -> None:
    client = staff_client("researcher")
    html = client.get("/researcher/demo/analysis").get_data(as_text=True)
    assert '<form method="get"' in html
    assert 'name="population"' in html and 'name="outcome"' in html
    response = client.get("/researcher/demo/analysis?population=per_protocol"
                          "&outcome=allport-stigma.beliefs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Population: Per protocol" in html
    assert html.count("<svg") == 1 and "Stigmatizing beliefs" in html
    chosen = re.search(r'<input[^>]*value="per_protocol"[^>]*>', html)
    assert chosen is not None and "checked" in chosen.group(0)


@pytest.mark.parametrize("query, message", [
    ("population=everyone", "Not a valid choice"),
    ("population=itt", "Choose at least one outcome."),
    ("population=itt&outcome=nope.total", "not a valid choice"),
])
def test_bad_choices_are_announced_beside_the_form(staff_client: StaffClient, query: str,
                                                   message: str) -> None:
    client = staff_client("researcher")
    response = client.get(f"/researcher/demo/analysis?{query}")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and "error-summary" in html and "<svg" not in html


def test_a_study_without_data_gets_a_message_not_an_error(stranger: FlaskClient) -> None:
    response = stranger.get("/researcher/other/analysis")
    assert response.status_code == 200
    assert "no outcome measured both before and after" in response.get_data(as_text=True)


def test_an_outcome_that_cannot_be_analysed_gets_its_message(app: Flask,
                                                             staff_client: StaffClient) -> None:
    with app.app_context():
        # One finished trainee per arm keeps their data: every outcome has 1 complete case per
        # arm, one short of what the analysis needs.
        from study.models import Allocation, Participant

        study = db.session.scalars(select(Study).where(Study.slug == "demo")).one()
        done = db.session.execute(select(Participant, Allocation.arm_id).join(
            Allocation, Allocation.participant_id == Participant.id).where(
            Participant.study_id == study.id, Participant.status == "post_done")).all()
        kept: set[int] = set()
        for participant, arm_id in done:
            if arm_id in kept:
                participant.data_withdrawn = True
            kept.add(arm_id)
        db.session.commit()
    client = staff_client("researcher")
    response = client.get("/researcher/demo/analysis")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count("This outcome cannot be analysed: ") == 5
    assert "at least 2 complete cases" in html and "<svg" not in html


def test_other_staff_cannot_open_the_analysis(app: Flask, staff_client: StaffClient,
                                              stranger: FlaskClient) -> None:
    # A coordinator of the study is refused (403); a researcher of another study is answered
    # as if the study did not exist (404).
    for client, status in ((staff_client("coordinator"), 403), (stranger, 404)):
        assert client.get("/researcher/demo/analysis").status_code == status
        token = csrf_from(client.get("/researcher/").get_data(as_text=True))
        assert client.post("/researcher/demo/export/wide.sav",
                           data={"csrf_token": token}).status_code == status
        assert client.get("/researcher/demo/plan").status_code == status
    assert app.test_client().get("/researcher/demo/analysis").status_code == 302


def test_the_study_page_offers_every_download_with_csrf(app: Flask, simulated_demo: Demo,
                                                        staff_client: StaffClient) -> None:
    client = staff_client("researcher")
    html = client.get("/researcher/demo/").get_data(as_text=True)
    forms = re.findall(r'<form method="post" action="/researcher/demo/export/([^"]+)">'
                       r'<input type="hidden" name="csrf_token" value="[^"]+">', html)
    assert forms == ["allocations.csv", "scores.csv", "responses.csv", "participants.csv",
                     "wide.csv", "codebook.csv", "wide.sav", "long.sav", "wide.dta", "long.dta"]
    assert client.post("/researcher/demo/export/wide.csv").status_code == 400  # no CSRF token
    token = csrf_from(html)
    response = client.post("/researcher/demo/export/wide.csv", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="demo-wide.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == simulated_demo.trainees and "allport-stigma.total_post" in rows[0]
    sav = client.post("/researcher/demo/export/long.sav", data={"csrf_token": token})
    assert sav.status_code == 200 and sav.mimetype == "application/x-spss-sav"
    assert sav.data[:4] == b"$FL2"
    assert client.post("/researcher/demo/export/emails.csv",
                       data={"csrf_token": token}).status_code == 404
    with app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == staff_email("researcher"))).one()
        events = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "export").order_by(AuditEvent.id)))
    assert [(e.details["table"], e.details.get("format")) for e in events] == [
        ("wide", "csv"), ("long", "sav")]
    assert {e.actor for e in events} == {f"user:{user.id}"}


def test_the_results_page_shows_the_plan_and_cannot_change_it(app: Flask,
                                                              staff_client: StaffClient) -> None:
    client = staff_client("researcher")
    html = client.get("/researcher/demo/analysis").get_data(as_text=True)
    with app.app_context():
        plan = sap.current_plan(db.session, get_study(db.session, "demo"))
        assert plan is not None
        version, digest = plan.version, plan.sha256
    assert f"Version {version}, frozen" in html and digest in html
    assert "primary population <strong>intention to treat</strong>" in html
    # The primary population is offered first, the other as a sensitivity analysis.
    assert html.index("Intention to treat (primary analysis)") < html.index(
        "Per protocol (sensitivity analysis)")
    assert 'method="post"' not in html.split("<main", 1)[1]
    token = csrf_from(client.get("/researcher/").get_data(as_text=True))
    response = client.post("/researcher/demo/analysis/primary",
                           data={"csrf_token": token, "primary": "allport-stigma.total"})
    assert response.status_code in (404, 405)
    sensitivity = client.get("/researcher/demo/analysis?population=per_protocol"
                             "&outcome=intergroup-anxiety.total").get_data(as_text=True)
    assert "A sensitivity analysis: the plan's primary population is intention to treat" \
        in sensitivity


def test_unblinded_pages_name_the_arms_and_the_direction(app: Flask,
                                                         staff_client: StaffClient) -> None:
    with app.app_context():
        study = db.session.scalars(select(Study).where(Study.slug == "demo")).one()
        study.blinded = False
        db.session.commit()
    client = staff_client("researcher")
    html = client.get("/researcher/demo/analysis").get_data(as_text=True)
    assert ("Differences are Contact session with a peer specialist minus Education module "
            "(treatment minus control)") in html
    assert "Arm A" not in html


def test_the_analysis_page_is_rate_limited_per_researcher(app: Flask,
                                                          staff_client: StaffClient) -> None:
    app.config["ANALYSIS_RATE_LIMIT"] = "1 per minute"
    researcher, admin = staff_client("researcher"), staff_client("admin")
    assert [researcher.get("/researcher/demo/analysis").status_code for _ in range(2)] == [
        200, 429]
    # Per account, not per address: another researcher on the same network is not held back.
    assert admin.get("/researcher/demo/analysis").status_code == 200
    assert researcher.get("/researcher/demo/").status_code == 200
