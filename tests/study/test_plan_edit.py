"""Editing a draft study's analysis plan in the browser; frozen once recruitment opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from study.extensions import db
from study.models import AuditEvent, User
from study.services import sap, study_file
from study.services.studies import get_study
from tests.helpers import Demo, StaffClient, csrf_from, staff_email

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "study-file.example.yaml"
SLUG = "contact-2027"


@pytest.fixture
def draft(app: Flask) -> dict[str, Any]:
    """The documented example study, a draft with a plan; returns that plan."""
    with app.app_context():
        study = study_file.create(db.session, EXAMPLE.read_text(encoding="utf-8"),
                                  app.extensions["allport.instruments"], actor="test")
        db.session.commit()
        plan = sap.current_plan(db.session, study)
        assert plan is not None
        return dict(plan.plan)


def stored_plan(app: Flask) -> Any:
    with app.app_context():
        plan = sap.current_plan(db.session, get_study(db.session, SLUG))
        assert plan is not None
        return plan


def form_data(client: FlaskClient, url: str, **changes: Any) -> dict[str, Any]:
    html = client.get(url).get_data(as_text=True)
    data: dict[str, Any] = {
        "csrf_token": csrf_from(html), "primary_outcome": "allport-stigma.total",
        "primary_time": "post", "primary_population": "itt",
        "pp_education": "module_completed", "pp_contact": "session_attended",
        "min_minutes": "60", "covariates": ["background.profession"],
        "holm_family": ["intergroup-anxiety.total"], "alpha": "0.05",
        "sensitivity": ["lmm", "multiple_imputation"], "mi_m": "50", "mi_seed": "20270913",
        "reason": "Agreed with the steering committee.",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("role", ["coordinator", "researcher"])
def test_the_form_shows_the_draft_and_saves_a_change_with_its_reason(
        app: Flask, draft: dict[str, Any], staff_client: StaffClient, role: str) -> None:
    client = staff_client(role, study=SLUG)
    plan_page = client.get(f"/{role}/{SLUG}/plan").get_data(as_text=True)
    assert f'href="/{role}/{SLUG}/plan/edit"' in plan_page
    url = f"/{role}/{SLUG}/plan/edit"
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<title>Edit the analysis plan · " in html
    assert '<option selected value="allport-stigma.total">' in html
    assert 'name="covariates" value="background.profession" checked' in html
    assert 'name="holm_family" value="intergroup-anxiety.total" checked' in html
    assert 'value="20270913"' in html and 'value="60"' in html
    response = client.post(url, data=form_data(
        client, url, primary_outcome="intergroup-anxiety.total", primary_population="per_protocol",
        alpha="0.025", covariates=["cohort", "background.profession"],
        holm_family=["allport-stigma.total", "allport-stigma.beliefs"], min_minutes="",
        sensitivity=["lmm"], mi_m="20", mi_seed="7"))
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/{role}/{SLUG}/plan")
    stored = stored_plan(app)
    assert stored.version == 1 and stored.frozen_at is None
    assert stored.reason == "Agreed with the steering committee."
    assert stored.plan == {
        "schema": "allport.sap/1", "primary_outcome": "intergroup-anxiety.total",
        "primary_time": "post",
        "populations": {"primary": "per_protocol",
                        "per_protocol": {"education": "module_completed",
                                         "contact": "session_attended",
                                         "min_minutes_attended": None}},
        "covariates": ["cohort", "background.profession"],
        "holm_family": ["allport-stigma.total", "allport-stigma.beliefs"], "alpha": 0.025,
        "sensitivity": ["lmm"], "mi": {"m": 20, "seed": 7}}
    assert stored.sha256 == sap.plan_sha256(stored.plan)
    with app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == staff_email(role, SLUG))).one()
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "analysis_plan_draft_set").order_by(AuditEvent.id.desc())
        ).first()
        assert event is not None and event.actor == f"user:{user.id}"
    shown = client.get(f"/{role}/{SLUG}/plan").get_data(as_text=True)
    assert "The draft plan is saved" in shown and "<td>0.025</td>" in shown


def test_bad_input_is_explained_beside_each_field_with_everything_kept(
        app: Flask, draft: dict[str, Any], staff_client: StaffClient) -> None:
    client = staff_client("coordinator", study=SLUG)
    url = f"/coordinator/{SLUG}/plan/edit"
    response = client.post(url, data=form_data(
        client, url, alpha="1.5", holm_family=["allport-stigma.total"], mi_m="1",
        mi_seed="-4", reason="Typed reason kept"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field, message in (
            ("alpha", "Alpha must be a number between 0 and 1 (exclusive), not 1.5."),
            ("holm_family", "Holm_family holds the primary outcome &#39;allport-stigma.total&#39;"),
            ("mi_m", "Mi.m must be a whole number from 2 to 1000, not 1."),
            ("mi_seed", "Mi.seed must be a whole number from 0 to 2^63 - 1, not -4.")):
        assert f'id="{field}-error"' in html, field
        assert message in html, field
    assert 'value="1.5"' in html and "Typed reason kept" in html
    assert 'name="holm_family" value="allport-stigma.total" checked' in html
    assert "error-summary" in html
    assert stored_plan(app).plan == draft


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"alpha": "a lot"}, "alpha", "Not a valid float value."),
    ({"reason": ""}, "reason", "Say why the plan changes"),
    ({"mi_seed": ""}, "mi_seed", "Enter a seed"),
    ({"primary_outcome": "nonsense.total"}, "primary_outcome", "Not a valid choice."),
    ({"covariates": ["background.email"]}, "covariates", "not a valid choice"),
    ({"min_minutes": "-5"}, "min_minutes", "Enter minutes from 0 to 10000."),
])
def test_each_field_is_checked(app: Flask, draft: dict[str, Any], staff_client: StaffClient,
                               changes: dict[str, Any], field: str, message: str) -> None:
    client = staff_client("coordinator", study=SLUG)
    url = f"/coordinator/{SLUG}/plan/edit"
    response = client.post(url, data=form_data(client, url, **changes))
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert f'id="{field}-error"' in html and message in html
    assert stored_plan(app).plan == draft


def test_a_study_without_follow_up_cannot_take_it_as_primary_time(
        demo: Demo, app: Flask, staff_client: StaffClient) -> None:
    from study.services.studies import StudySpec, create_study

    with app.app_context():
        create_study(db.session, StudySpec(
            slug="plain", title="Plain", consent_text="x",
            instruments={"baseline": ["background", "allport-stigma"],
                         "post": ["allport-stigma"]}), demo.library, actor="test")
        db.session.commit()
    client = staff_client("researcher", study="plain")
    url = "/researcher/plain/plan/edit"
    page = client.get(url).get_data(as_text=True)
    assert "This study has no follow-up time point" in page
    response = client.post(url, data=form_data(
        client, url, primary_time="followup", covariates=[], holm_family=[], min_minutes=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="primary_time-error"' in html and "the study has no follow-up time point" in html
    with app.app_context():
        assert sap.current_plan(db.session, get_study(db.session, "plain")) is None


@pytest.mark.parametrize("role", ["coordinator", "researcher"])
def test_the_plan_is_frozen_once_recruitment_has_opened(
        demo: Demo, app: Flask, staff_client: StaffClient, role: str) -> None:
    client = staff_client(role)
    url = f"/{role}/demo/plan/edit"
    page = client.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "The plan is frozen" in html and "sap set demo FILE --reason TEXT" in html
    assert 'name="alpha"' not in html
    assert f'href="/{role}/demo/plan/edit"' not in client.get(
        f"/{role}/demo/plan").get_data(as_text=True)
    with app.app_context():
        before = sap.plan_history(db.session, demo.study())
        digests = [(v.version, v.sha256) for v in before]
    token = csrf_from(client.get(f"/{role}/demo/").get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "alpha": "0.01", "reason": "x"})
    assert response.status_code == 409 and "The plan is frozen" in response.get_data(
        as_text=True)
    with app.app_context():
        assert [(v.version, v.sha256) for v in sap.plan_history(
            db.session, demo.study())] == digests


def test_the_edit_pages_are_for_the_studys_own_staff(
        app: Flask, draft: dict[str, Any], staff_client: StaffClient) -> None:
    for role in ("coordinator", "researcher"):
        url = f"/{role}/{SLUG}/plan/edit"
        anonymous = app.test_client().get(url)
        assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
        assert app.test_client().post(url, data={"alpha": "0.01"}).status_code in (302, 400)
    coordinator = staff_client("coordinator", study=SLUG)
    researcher = staff_client("researcher", study=SLUG)
    assert coordinator.get(f"/researcher/{SLUG}/plan/edit").status_code == 403
    assert researcher.get(f"/coordinator/{SLUG}/plan/edit").status_code == 403
    token = csrf_from(researcher.get(f"/researcher/{SLUG}/plan").get_data(as_text=True))
    assert researcher.post(f"/coordinator/{SLUG}/plan/edit",
                           data=form_data(researcher, f"/researcher/{SLUG}/plan/edit",
                                          alpha="0.01", csrf_token=token)).status_code == 403
    outsider = staff_client("outsider", study=SLUG)
    assert outsider.get(f"/coordinator/{SLUG}/plan/edit").status_code == 404
    assert outsider.get(f"/researcher/{SLUG}/plan/edit").status_code == 404
    # Without the CSRF token nothing is changed.
    data = form_data(coordinator, f"/coordinator/{SLUG}/plan/edit", alpha="0.01")
    del data["csrf_token"]
    assert coordinator.post(f"/coordinator/{SLUG}/plan/edit", data=data).status_code == 400
    assert stored_plan(app).plan == draft


def test_a_draft_without_questionnaires_says_what_the_plan_needs_first(
        demo: Demo, app: Flask, staff_client: StaffClient) -> None:
    from study.services.studies import StudySpec, create_study

    with app.app_context():
        create_study(db.session, StudySpec(slug="bare", title="Bare", consent_text="x"),
                     demo.library, actor="test")
        db.session.commit()
    client = staff_client("coordinator", study="bare")
    url = "/coordinator/bare/plan/edit"
    page = client.get(url)
    assert page.status_code == 200
    assert "This study has no outcome yet" in page.get_data(as_text=True)
    response = client.post(url, data=form_data(client, url, covariates=[], holm_family=[]))
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="primary_outcome-error"' in html
    with app.app_context():
        assert sap.current_plan(db.session, get_study(db.session, "bare")) is None
