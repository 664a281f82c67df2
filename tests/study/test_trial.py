"""The end of a trial (DESIGN §4, §7): close recruitment, lock the data, unblind."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import delete, select

from study.errors import NotAllowed
from study.extensions import db
from study.models import AnalysisPlan, AuditEvent, StudyStatus
from study.services import invitations, journey, trial
from study.services.analysis_service import run_analysis
from tests.helpers import Demo, StaffClient, TraineeDriver, csrf_from


def test_the_steps_come_in_order(demo: Demo) -> None:
    with demo.app.app_context():
        study = demo.study()  # its analysis plan was frozen when recruitment opened
        with pytest.raises(NotAllowed, match="Close recruitment"):
            trial.lock_data(db.session, study, actor="test")
        with pytest.raises(NotAllowed, match="not locked"):
            trial.unblind(db.session, study, reason="analysis done", actor="test")
        trial.close_recruitment(db.session, study, actor="test")
        with pytest.raises(NotAllowed, match="not recruiting"):
            trial.close_recruitment(db.session, study, actor="test")
        trial.lock_data(db.session, study, actor="test")
        with pytest.raises(NotAllowed, match="locked already"):
            trial.lock_data(db.session, study, actor="test")
        with pytest.raises(NotAllowed, match="reason"):
            trial.unblind(db.session, study, reason="  ", actor="test")
        assert study.blinded
        trial.unblind(db.session, study, reason="primary analysis done", actor="user:1")
        assert not study.blinded and study.unblinded_at is not None
        with pytest.raises(NotAllowed, match="unblinded already"):
            trial.unblind(db.session, study, reason="again", actor="test")
        db.session.commit()
        events = {e.action: e for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.study_id == study.id))}
    assert {"recruitment_closed", "data_locked", "unblinded"} <= set(events)
    unblinded = events["unblinded"]
    assert unblinded.actor == "user:1" and unblinded.at is not None
    assert unblinded.details["reason"] == "primary analysis done"
    assert unblinded.details["plan_version"] == 1


def test_a_locked_study_takes_no_answers(app: Flask, demo: Demo) -> None:
    with demo.app.app_context():
        study = demo.study()
        token = invitations.invite(db.session, study, study.cohorts[0], 1, actor="t")[0].token
        db.session.commit()
    trainee = TraineeDriver(app.test_client(), token)
    trainee.consent()
    questionnaire = trainee.page
    assert questionnaire is not None and "/q/baseline/" in questionnaire.request.path
    with demo.app.app_context():
        study = demo.study()
        trial.close_recruitment(db.session, study, actor="test")
        trial.lock_data(db.session, study, actor="test")
        db.session.commit()
        participant = invitations.participant_for_token(db.session, token)
        assert participant is not None
        assert journey.next_step(db.session, participant).name is journey.StepName.POST_CLOSED
        baseline = study.timepoint("baseline")
        assert baseline is not None
        instrument = demo.library.get(baseline.instruments[0].instrument_id,
                                      baseline.instruments[0].instrument_version)
        with pytest.raises(NotAllowed, match="no more answers"):
            journey.save_answers(db.session, participant, baseline, instrument, {}, final=False)
    page = trainee.open()
    assert "The study has closed" in page.get_data(as_text=True)


# --- the command line --------------------------------------------------------------------


def run(runner: FlaskCliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(args=list(args))
    return result.exit_code, result.output.strip()


def test_the_commands_refuse_in_one_line(runner: FlaskCliRunner, demo: Demo) -> None:
    code, out = run(runner, "lock-data", "demo")
    assert code == 1 and out.count("\n") == 0 and "Close recruitment" in out
    code, out = run(runner, "close-recruitment", "nosuch")
    assert code == 1 and "No study with the slug 'nosuch'" in out
    code, out = run(runner, "unblind", "demo", "--reason", "done", "--confirm", "dmeo")
    assert code == 1 and out.count("\n") == 0 and "does not match" in out
    code, out = run(runner, "unblind", "demo", "--reason", "done", "--confirm", "demo")
    assert code == 1 and out.count("\n") == 0 and "Cannot unblind" in out
    code, _ = run(runner, "unblind", "demo", "--confirm", "demo")
    assert code == 2  # --reason is required
    with demo.app.app_context():
        assert demo.study().blinded and demo.study().status is StudyStatus.RECRUITING


def test_close_lock_and_unblind_from_the_command_line(runner: FlaskCliRunner,
                                                      simulated_demo: Demo) -> None:
    assert run(runner, "close-recruitment", "demo")[0] == 0
    assert run(runner, "lock-data", "demo")[0] == 0
    with simulated_demo.app.app_context():
        db.session.commit()
        assert run_analysis(db.session, simulated_demo.study(),
                            simulated_demo.library).result["blinded"] is True
    code, out = run(runner, "unblind", "demo", "--reason", "primary analysis", "--confirm",
                    "demo")
    assert code == 0, out
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        assert not study.blinded
        result = run_analysis(db.session, study, simulated_demo.library).result
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "unblinded")
                                   ).one()
    assert result["blinded"] is False
    assert set(result["arm_labels"]) == {"education", "contact"}
    assert result["control_arm"] == "education"
    assert (event.actor, event.details["reason"]) == ("cli", "primary analysis")


# --- the admin page ----------------------------------------------------------------------


def post_form(client: FlaskClient, url: str, data: dict[str, str]) -> tuple[int, str]:
    token = csrf_from(client.get("/admin/studies/demo").get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, **data})
    return response.status_code, response.get_data(as_text=True)


def test_an_admin_ends_the_trial_from_the_web(simulated_demo: Demo,
                                              staff_client: StaffClient) -> None:
    admin = staff_client("admin")
    assert "/admin/studies/demo" in admin.get("/admin/").get_data(as_text=True)
    page = admin.get("/admin/studies/demo").get_data(as_text=True)
    assert "Close recruitment</button>" in page and "Lock the data</button>" not in page

    status, html = post_form(admin, "/admin/studies/demo/unblind",
                             {"unblind-reason": "", "unblind-confirm": "demo"})
    assert status == 422 and 'id="unblind-reason-error"' in html
    status, html = post_form(admin, "/admin/studies/demo/unblind",
                             {"unblind-reason": "done", "unblind-confirm": "other"})
    assert status == 422 and 'id="unblind-confirm-error"' in html and "This is not demo" in html
    status, html = post_form(admin, "/admin/studies/demo/unblind",
                             {"unblind-reason": "done", "unblind-confirm": "demo"})
    assert status == 422 and "Cannot unblind" in html

    status, _ = post_form(admin, "/admin/studies/demo/close-recruitment", {})
    assert status == 303
    assert "Lock the data</button>" in admin.get("/admin/studies/demo").get_data(as_text=True)
    status, _ = post_form(admin, "/admin/studies/demo/lock-data", {})
    assert status == 303
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        assert study.status is StudyStatus.CLOSED and study.data_locked_at is not None
        db.session.commit()

    researcher = staff_client("researcher")
    assert "Contact session with a peer specialist" not in researcher.get(
        "/researcher/demo/").get_data(as_text=True)
    status, _ = post_form(admin, "/admin/studies/demo/unblind",
                          {"unblind-reason": "primary analysis reported",
                           "unblind-confirm": "demo"})
    assert status == 303
    assert "unblinded" in admin.get("/admin/studies/demo").get_data(as_text=True)
    with simulated_demo.app.app_context():
        assert not simulated_demo.study().blinded

    # Real arm names everywhere afterwards: the researcher page and the exports.
    page = researcher.get("/researcher/demo/").get_data(as_text=True)
    assert "Contact session with a peer specialist" in page and "Arm A" not in page
    token = csrf_from(page)
    export = researcher.post("/researcher/demo/export/scores.csv", data={"csrf_token": token})
    arms = {row["arm"] for row in csv.DictReader(io.StringIO(export.get_data(as_text=True)))}
    assert arms <= {"education", "contact", ""} and arms & {"education", "contact"}


def test_a_button_without_its_token_changes_nothing(demo: Demo,
                                                    staff_client: StaffClient) -> None:
    admin = staff_client("admin")
    assert admin.post("/admin/studies/demo/close-recruitment").status_code == 400
    assert admin.get("/admin/studies/nosuch").status_code == 404
    with demo.app.app_context():
        assert demo.study().status is StudyStatus.RECRUITING


def test_only_admins_end_a_trial(demo: Demo, staff_client: StaffClient) -> None:
    for role in ("coordinator", "researcher"):
        client = staff_client(role)
        assert client.get("/admin/studies/demo").status_code == 403
        token = csrf_from(client.get(f"/{role}/").get_data(as_text=True))
        response = client.post("/admin/studies/demo/close-recruitment",
                               data={"csrf_token": token, "close-csrf_token": token})
        assert response.status_code == 403


def test_a_study_without_a_frozen_plan_cannot_be_unblinded(demo: Demo) -> None:
    """A study opened before analysis plans existed has none: it cannot be unblinded."""
    with demo.app.app_context():
        study = demo.study()
        trial.close_recruitment(db.session, study, actor="test")
        trial.lock_data(db.session, study, actor="test")
        # Frozen versions cannot be deleted through the ORM; a bulk delete stands for the
        # study that never had one.
        db.session.execute(delete(AnalysisPlan).where(AnalysisPlan.study_id == study.id))
        with pytest.raises(NotAllowed, match="plan is not frozen"):
            trial.unblind(db.session, study, reason="analysis done", actor="test")
        assert study.blinded
