"""Copying a study as a draft for its next run: the design comes along, nothing about people."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from study.extensions import db
from study.models import (
    Allocation,
    AnalysisPlan,
    AuditEvent,
    ContactSession,
    Facilitator,
    Invitation,
    Participant,
    Role,
    Study,
    StudyStatus,
    User,
)
from study.services import sap
from study.services.studies import copy_study, get_study
from tests.helpers import Demo, StaffClient, csrf_from, staff_email


def _rows(model: type, study: Study) -> int:
    column = model.study_id  # type: ignore[attr-defined]
    return db.session.scalar(select(func.count()).select_from(model).where(
        column == study.id)) or 0


def test_a_copy_keeps_the_design_and_nothing_personal(simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        demo = simulated_demo.study()
        assert _rows(Participant, demo) > 0 and _rows(Allocation, demo) > 0
        copy = copy_study(db.session, demo, "demo-2027", "Meeting as equals, 2027",
                          library=simulated_demo.library, actor="test")
        db.session.commit()
        assert (copy.slug, copy.title, copy.status) == ("demo-2027", "Meeting as equals, 2027",
                                                        StudyStatus.DRAFT)
        assert copy.allocation_seed is None and copy.allocation_seed_sha256 is None
        assert copy.recruitment_opened_at is None and copy.blinded
        assert [(a.key, a.name, a.kind, a.is_control, a.ratio, a.description)
                for a in copy.arms] == [(a.key, a.name, a.kind, a.is_control, a.ratio,
                                         a.description) for a in demo.arms]
        assert {tp.name: [(p.instrument_id, p.instrument_version, p.fingerprint)
                          for p in tp.instruments] for tp in copy.timepoints} == {
            tp.name: [(p.instrument_id, p.instrument_version, None) for p in tp.instruments]
            for tp in demo.timepoints}
        for setting in ("description", "block_sizes", "strata_factors", "post_window_days",
                        "intervention_period_days", "followup_offset_days",
                        "followup_window_days", "reminder_interval_days",
                        "planned_sample_size", "protocol_number", "ethics_approval_number"):
            assert getattr(copy, setting) == getattr(demo, setting), setting
        consent = copy.current_consent
        assert consent is not None and demo.current_consent is not None
        assert (consent.version, consent.text, consent.data_kept_on_withdrawal) == (
            1, demo.current_consent.text, demo.current_consent.data_kept_on_withdrawal)
        assert [(p.title, p.body, p.video_url) for p in copy.module_pages] == [
            (p.title, p.body, p.video_url) for p in demo.module_pages]
        plan, original = sap.current_plan(db.session, copy), sap.current_plan(db.session, demo)
        assert plan is not None and original is not None
        assert plan.version == 1 and plan.frozen_at is None
        assert plan.reason == ("Copied from study demo, plan version 1, with a new imputation "
                               "seed.")
        assert plan.plan["mi"]["seed"] != original.plan["mi"]["seed"]
        assert {**plan.plan, "mi": None} == {**original.plan, "mi": None}
        # Nothing about people, and no cohort unless asked for.
        assert copy.cohorts == []
        for model in (Participant, Allocation, Facilitator, ContactSession):
            assert _rows(model, copy) == 0, model.__name__
        assert db.session.scalar(select(func.count(Invitation.id)).join(Participant).where(
            Participant.study_id == copy.id)) == 0
        actions = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.study_id == copy.id)).all()
        assert sorted(actions) == ["analysis_plan_draft_set", "study_copied", "study_created"]
        copied = db.session.scalars(select(AuditEvent).where(
            AuditEvent.study_id == copy.id, AuditEvent.action == "study_copied")).one()
        assert copied.details == {"copied_from": "demo", "cohorts_copied": False}


def test_cohort_names_and_sites_come_along_on_request_without_dates(demo: Demo) -> None:
    from datetime import date

    with demo.app.app_context():
        study = demo.study()
        study.cohorts[0].site = "Health Sciences"
        study.cohorts[0].starts_on = date(2026, 9, 1)
        copy = copy_study(db.session, study, "demo-next", "Next", library=demo.library,
                          actor="test", cohorts=True)
        assert [(c.name, c.site, c.starts_on, c.closed_at) for c in copy.cohorts] == [
            ("Autumn 2026", "Health Sciences", None, None)]


# --- the web page --------------------------------------------------------------------------


def test_a_coordinator_copies_the_study_and_coordinates_the_copy(
        demo: Demo, staff_client: StaffClient) -> None:
    client = staff_client("coordinator")
    overview = client.get("/coordinator/demo/").get_data(as_text=True)
    assert 'href="/coordinator/demo/copy"' in overview
    page = client.get("/coordinator/demo/copy")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<title>Copy the study · " in html
    assert 'value="Meeting as equals: a demonstration contact study (copy)"' in html
    response = client.post("/coordinator/demo/copy", data={
        "csrf_token": csrf_from(html), "slug": "demo-2027", "title": "Meeting as equals 2027",
        "cohorts": "y"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/coordinator/demo-2027/")
    new = client.get("/coordinator/demo-2027/", follow_redirects=True)
    assert new.status_code == 200 and "Copied as the draft study" in new.get_data(as_text=True)
    with demo.app.app_context():
        copy = get_study(db.session, "demo-2027")
        assert [c.name for c in copy.cohorts] == ["Autumn 2026"]
        user = db.session.scalars(select(User).where(
            User.email == staff_email("coordinator"))).one()
        assert Role.COORDINATOR in user.roles_in(copy)
        copied = db.session.scalars(select(AuditEvent).where(
            AuditEvent.study_id == copy.id, AuditEvent.action == "study_copied")).one()
        assert copied.actor == f"user:{user.id}"


def test_a_bad_or_taken_slug_is_explained_beside_it_with_the_title_kept(
        demo: Demo, staff_client: StaffClient) -> None:
    client = staff_client("coordinator")
    token = csrf_from(client.get("/coordinator/demo/copy").get_data(as_text=True))
    for slug, message in (("Demo 2027!", "Use 2 to 64 lowercase letters"),
                          ("demo", "A study with the slug &#39;demo&#39; exists already"),
                          ("", "Enter the new study&#39;s slug."),
                          ("  ", "Enter the new study&#39;s slug.")):
        response = client.post("/coordinator/demo/copy", data={
            "csrf_token": token, "slug": slug, "title": "Kept title"})
        html = response.get_data(as_text=True)
        assert response.status_code == 422, slug
        assert 'id="slug-error"' in html and message in html, slug
        assert 'value="Kept title"' in html
    response = client.post("/coordinator/demo/copy", data={
        "csrf_token": token, "slug": "demo-2", "title": "   "})
    assert response.status_code == 422
    assert 'id="title-error"' in response.get_data(as_text=True)
    with demo.app.app_context():
        assert db.session.scalar(select(func.count(Study.id))) == 1


def test_copying_needs_the_csrf_token_and_the_coordinator_role(
        demo: Demo, app: Flask, staff_client: StaffClient) -> None:
    coordinator = staff_client("coordinator")
    response = coordinator.post("/coordinator/demo/copy",
                                data={"slug": "demo-x", "title": "X"})
    assert response.status_code == 400  # CSRF: refused before the view runs
    anonymous = app.test_client().get("/coordinator/demo/copy")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    researcher = staff_client("researcher")
    assert researcher.get("/coordinator/demo/copy").status_code == 403
    token = csrf_from(researcher.get("/researcher/demo/").get_data(as_text=True))
    assert researcher.post("/coordinator/demo/copy", data={
        "csrf_token": token, "slug": "demo-x", "title": "X"}).status_code == 403
    outsider = staff_client("outsider")
    assert outsider.get("/coordinator/demo/copy").status_code == 404
    with demo.app.app_context():
        assert db.session.scalar(select(func.count(Study.id))) == 1


# --- the command line ----------------------------------------------------------------------


def test_the_copy_command(demo: Demo, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["study", "copy", "demo", "demo-2027", "--title", "Next year",
                                 "--cohorts", "--as", "Coordinator@Allport.example"])
    assert result.exit_code == 0, result.output
    assert "Copied 'demo' as the draft study 'demo-2027' (Next year)." in result.output
    result = runner.invoke(args=["study", "copy", "demo", "demo-2028"])
    assert result.exit_code == 0, result.output
    with demo.app.app_context():
        assert [c.name for c in get_study(db.session, "demo-2027").cohorts] == ["Autumn 2026"]
        user = db.session.scalars(select(User).where(
            User.email == "coordinator@allport.example")).one()
        assert Role.COORDINATOR in user.roles_in(get_study(db.session, "demo-2027"))
        later = get_study(db.session, "demo-2028")
        assert later.title.endswith("(copy)") and later.cohorts == []
        plans = db.session.scalar(select(func.count(AnalysisPlan.id)).where(
            AnalysisPlan.study_id == later.id))
        assert plans == 1


def test_the_copy_command_refuses_in_one_line(demo: Demo, runner: FlaskCliRunner) -> None:
    for args, message in ((["nosuch", "x-1"], "No study with the slug 'nosuch'"),
                          (["demo", "demo"], "A study with the slug 'demo' exists already"),
                          (["demo", "Bad Slug"], "must be 2 to 64 lowercase letters")):
        result = runner.invoke(args=["study", "copy", *args])
        assert result.exit_code == 1, args
        assert message in result.output and len(result.output.strip().splitlines()) == 1
    with demo.app.app_context():
        assert db.session.scalar(select(func.count(Study.id))) == 1
