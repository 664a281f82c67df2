"""CONSORT counts (DESIGN §6) against a hand count; where they are shown; recording reasons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from study import audit
from study.errors import NotAllowed
from study.extensions import db
from study.models import (
    Allocation,
    Booking,
    Consent,
    ConsentChoice,
    ContactSession,
    ModuleProgress,
    Participant,
    ParticipantStatus,
    Response,
    ResponseStatus,
    Study,
    StudyInstrument,
    Timepoint,
    utcnow,
)
from study.services import api_tokens, invitations, journey, trial
from study.services.blinding import arm_code
from study.services.consort import consort_counts, pooled
from tests.helpers import Demo, StaffClient, TraineeDriver, csrf_from

LONG_AGO = timedelta(days=30)  # past the demo's 14-day intervention period


class Builder:
    """Trainees of the demo study made row by row, so that every fact is chosen by the test."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.session_id = db.session.scalars(
            select(ContactSession.id).where(ContactSession.study_id == study.id)).first()
        self.position = 0

    def invited(self) -> Participant:
        return invitations.invite(db.session, self.study, self.study.cohorts[0], 1,
                                  actor="test")[0].participant

    def consented(self, agree: bool = True) -> Participant:
        participant = self.invited()
        journey.record_consent(db.session, participant, self.study.current_consent,
                               agree=agree)
        return participant

    def submit(self, participant: Participant, timepoint: str) -> None:
        tp = self.study.timepoint(timepoint)
        assert tp is not None
        for pinned in tp.instruments:
            db.session.add(Response(
                participant_id=participant.id, timepoint_id=tp.id,
                instrument_id=pinned.instrument_id, instrument_version=pinned.instrument_version,
                status=ResponseStatus.SUBMITTED, submitted_at=utcnow()))
            audit.record(db.session, "questionnaire_submitted", actor="test",
                         participant=participant, timepoint=timepoint,
                         instrument=pinned.instrument_id)

    def allocated(self, arm: str, *, ago: timedelta = LONG_AGO) -> Participant:
        participant = self.consented()
        self.submit(participant, "baseline")
        arm_row = self.study.arm_by_key(arm)
        assert arm_row is not None
        db.session.add(Allocation(study_id=self.study.id, participant_id=participant.id,
                                  arm_id=arm_row.id, stratum_id="test", position=self.position,
                                  block_size=2, allocated_at=utcnow() - ago))
        self.position += 1
        participant.status = ParticipantStatus.ALLOCATED
        db.session.flush()
        return participant

    def module(self, participant: Participant, *, completed: bool) -> None:
        db.session.add(ModuleProgress(participant_id=participant.id, furthest_page=1,
                                      completed_at=utcnow() if completed else None))

    def booking(self, participant: Participant, *, attended: bool) -> None:
        db.session.add(Booking(session_id=self.session_id, participant_id=participant.id,
                               attended=attended))

    def post_done(self, participant: Participant) -> None:
        self.submit(participant, "post")
        participant.status = ParticipantStatus.POST_DONE


def build_hand_counted_study(demo: Demo) -> Study:
    """The trainees whose CONSORT counts ``test_counts_match_a_hand_count`` states."""
    study = demo.study()
    followup = Timepoint(study_id=study.id, name="followup", label="Follow-up", position=2)
    followup.instruments.append(StudyInstrument(instrument_id="allport-stigma",
                                                instrument_version=study.timepoint("post")
                                                .instruments[-1].instrument_version))
    study.timepoints.append(followup)
    b = Builder(study)
    # Enrolment: 2 not answered yet, 3 declined, 1 withdrew before allocation,
    # 2 excluded by a coordinator, 1 still answering the baseline questionnaires.
    b.invited(), b.invited()
    for _ in range(3):
        b.consented(agree=False)
    journey.withdraw(db.session, b.consented(), actor="test", reason="changed my mind")
    journey.mark_ineligible(db.session, b.consented(), actor="test", category="ineligible")
    journey.mark_ineligible(db.session, b.consented(), actor="test", category="other")
    b.consented()

    # Education arm, 5 trainees.
    e1 = b.allocated("education")  # did it all, follow-up too
    b.module(e1, completed=True)
    b.post_done(e1)
    b.submit(e1, "followup")
    e1.status = ParticipantStatus.FOLLOWUP_DONE
    e2 = b.allocated("education")  # did it all, then withdrew
    b.module(e2, completed=True)
    b.post_done(e2)
    journey.withdraw(db.session, e2, actor="test")
    e3 = b.allocated("education")  # started the module, never finished, stopped answering
    b.module(e3, completed=False)
    journey.mark_lost(db.session, e3, actor="test", category="no_response")
    b.allocated("education", ago=timedelta(days=1))  # e4: still in the intervention period
    e5 = b.allocated("education")  # did it all, then withdrew with their data deleted
    b.module(e5, completed=True)
    b.post_done(e5)
    journey.withdraw(db.session, e5, actor="test", category="other")
    db.session.execute(delete(Response).where(Response.participant_id == e5.id))
    e5.data_withdrawn = True

    # Contact arm, 4 trainees.
    c1 = b.allocated("contact")  # attended, answered post
    b.booking(c1, attended=True)
    b.post_done(c1)
    c2 = b.allocated("contact")  # booked, did not attend, unreachable
    b.booking(c2, attended=False)
    journey.mark_lost(db.session, c2, actor="test", category="unreachable")
    c3 = b.allocated("contact")  # never booked, answered post all the same (ITT follow-up)
    b.submit(c3, "post")
    c4 = b.allocated("contact")  # attended, then lost for another reason
    b.booking(c4, attended=True)
    c4.status = ParticipantStatus.INTERVENTION_DONE
    journey.mark_lost(db.session, c4, actor="test", category="other")
    db.session.commit()
    return study


def test_counts_match_a_hand_count(demo: Demo) -> None:
    with demo.app.app_context():
        study = build_hand_counted_study(demo)
        education, contact = arm_code(study, "education"), arm_code(study, "contact")
        counts = consort_counts(db.session, study)
    assert {education, contact} == {"arm_a", "arm_b"}  # blinded codes, never the arm keys
    assert counts == {
        "enrolment": {
            "invited": 18,  # 2 + 3 + 1 + 2 + 1 + 5 + 4
            "consented": 13,  # 1 + 2 + 1 + 5 + 4
            "declined": 3,
            "excluded": {"ineligible": 1, "declined": 4, "other": 1},  # 3 declined + 1 withdrew
        },
        "allocation": {
            education: {"allocated": 5, "received": 3,  # e1, e2, e5
                        "not_received": {"not_started": 0, "not_completed": 1,  # e3
                                         "in_progress": 1}},  # e4
            contact: {"allocated": 4, "received": 2,  # c1, c4
                      "not_received": {"not_started": 1, "not_completed": 1,  # c3, c2
                                       "in_progress": 0}},
        },
        "follow_up": {
            education: {"post_done": 3,  # e1, e2 (withdrew later), e5 (data deleted later)
                        "followup_done": 1,  # e1
                        "lost": {"no_response": 1, "unreachable": 0, "other": 0},
                        "discontinued": {"withdrew": 1, "other": 1}},
            contact: {"post_done": 2,  # c1, c3
                      "followup_done": 0,
                      "lost": {"no_response": 0, "unreachable": 1, "other": 1},
                      "discontinued": {"withdrew": 0, "other": 0}},
        },
        "analysis": {
            education: {"analysed": 2,  # e1, e2
                        "excluded": {"data_withdrawn": 1, "missing_pre": 0, "missing_post": 2}},
            contact: {"analysed": 2,  # c1, c3
                      "excluded": {"data_withdrawn": 0, "missing_pre": 0, "missing_post": 2}},
        },
    }
    assert list(counts["allocation"]) == ["arm_a", "arm_b"]


def test_pooled_counts_add_the_arms() -> None:
    arm = {"allocated": 2, "received": 1, "not_received": {"not_started": 1}}
    counts: dict[str, Any] = {
        "enrolment": {"invited": 9}, "allocation": {"arm_a": arm, "arm_b": arm},
        "follow_up": {"arm_a": {"post_done": 1}, "arm_b": {"post_done": 0}},
        "analysis": {"arm_a": {"analysed": 1}, "arm_b": {"analysed": 1}}}
    assert pooled(counts) == {
        "enrolment": {"invited": 9},
        "allocation": {"all": {"allocated": 4, "received": 2, "not_received": {"not_started": 2}}},
        "follow_up": {"all": {"post_done": 1}}, "analysis": {"all": {"analysed": 2}}}


def test_the_simulated_demo_counts_everyone_allocated(simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        counts = consort_counts(db.session, simulated_demo.study())
    assert counts["enrolment"]["invited"] == counts["enrolment"]["consented"] == 20
    allocated = sum(arm["allocated"] for arm in counts["allocation"].values())
    assert allocated == 20
    analysed = sum(arm["analysed"] for arm in counts["analysis"].values())
    post = sum(arm["post_done"] for arm in counts["follow_up"].values())
    assert analysed == post and 0 < post <= 20


# --- recording the reasons ---------------------------------------------------------------


def test_reasons_must_be_categories(demo: Demo) -> None:
    with demo.app.app_context():
        b = Builder(demo.study())
        participant = b.allocated("education")
        with pytest.raises(NotAllowed, match="no_response"):
            journey.mark_lost(db.session, participant, actor="test", category="moved away")
        with pytest.raises(NotAllowed, match="withdrew"):
            journey.withdraw(db.session, participant, actor="test", category="bored")
        with pytest.raises(NotAllowed, match="not yet allocated"):
            journey.mark_ineligible(db.session, participant, actor="test", category="ineligible")
        journey.withdraw(db.session, participant, actor="test", reason="free text stays here")
        assert participant.exit_reason == "withdrew"


def _participant_url(code: str) -> str:
    return f"/coordinator/demo/participants/{code}"


def test_coordinator_marks_a_consented_trainee_ineligible(
        demo: Demo, staff_client: StaffClient) -> None:
    with demo.app.app_context():
        b = Builder(demo.study())
        code = b.consented().code
        db.session.commit()
    coordinator = staff_client("coordinator")
    url = _participant_url(code)
    html = coordinator.get(url).get_data(as_text=True)
    assert "Exclude before allocation" in html and "Record as lost" not in html
    token = csrf_from(html)
    response = coordinator.post(f"{url}/ineligible", data={"csrf_token": token,
                                                           "ineligible-category": "nonsense"})
    assert response.status_code == 422
    assert 'id="ineligible-category-error"' in response.get_data(as_text=True)
    response = coordinator.post(f"{url}/ineligible", data={"csrf_token": token,
                                                           "ineligible-category": "ineligible"})
    assert response.status_code == 303
    with demo.app.app_context():
        participant = db.session.scalars(select(Participant).where(Participant.code == code)).one()
        assert (participant.status, participant.exit_reason) == (ParticipantStatus.INELIGIBLE,
                                                                 "ineligible")


def test_coordinator_records_why_a_trainee_is_lost(demo: Demo, staff_client: StaffClient) -> None:
    with demo.app.app_context():
        code = Builder(demo.study()).allocated("contact").code
        db.session.commit()
    coordinator = staff_client("coordinator")
    url = _participant_url(code)
    html = coordinator.get(url).get_data(as_text=True)
    assert "Exclude before allocation" not in html and "Record as lost" in html
    response = coordinator.post(f"{url}/lost", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 422
    assert 'id="lost-category-error"' in response.get_data(as_text=True)
    response = coordinator.post(f"{url}/lost", data={"csrf_token": csrf_from(html),
                                                     "lost-category": "unreachable"})
    assert response.status_code == 303
    assert "unreachable" in coordinator.get(url).get_data(as_text=True)
    with demo.app.app_context():
        participant = db.session.scalars(select(Participant).where(Participant.code == code)).one()
        assert (participant.status, participant.exit_reason) == (ParticipantStatus.LOST,
                                                                 "unreachable")


# --- where the counts are shown ------------------------------------------------------------


def consort_section(html: str) -> str:
    return html.split('id="consort-title"', 1)[1].split("</section>", 1)[0]


def test_coordinators_see_totals_only_while_recruiting(demo: Demo,
                                                       staff_client: StaffClient) -> None:
    with demo.app.app_context():
        build_hand_counted_study(demo)
    coordinator = staff_client("coordinator")
    section = consort_section(coordinator.get("/coordinator/demo/").get_data(as_text=True))
    assert "All arms" in section and "Arm A" not in section and "Arm B" not in section
    assert '<td class="num">9</td>' in section  # allocated, both arms together
    with demo.app.app_context():
        trial.close_recruitment(db.session, demo.study(), actor="test")
        db.session.commit()
    section = consort_section(coordinator.get("/coordinator/demo/").get_data(as_text=True))
    assert "Arm A" in section and "Arm B" in section and "All arms" not in section


def test_researchers_see_the_split_under_arm_a_and_b(demo: Demo,
                                                     staff_client: StaffClient) -> None:
    with demo.app.app_context():
        build_hand_counted_study(demo)
    section = consort_section(staff_client("researcher").get("/researcher/demo/")
                              .get_data(as_text=True))
    assert "Arm A" in section and "Arm B" in section and "All arms" not in section
    assert "Education" not in section and "Contact" not in section


@pytest.fixture
def researcher_token(demo: Demo) -> str:
    from study.models import User

    with demo.app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == demo.accounts.researcher[0])).one()
        _, raw = api_tokens.issue_token(db.session, user, "test", actor="test")
        db.session.commit()
    return raw


def test_the_api_gives_the_counts(demo: Demo, client: FlaskClient, researcher_token: str) -> None:
    with demo.app.app_context():
        build_hand_counted_study(demo)
        expected = consort_counts(db.session, demo.study())
    auth = {"Authorization": f"Bearer {researcher_token}"}
    response = client.get("/api/v1/studies/demo/consort", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body == expected
    assert set(body) == {"enrolment", "allocation", "follow_up", "analysis"}
    assert set(body["allocation"]) == {"arm_a", "arm_b"}
    assert client.get("/api/v1/studies/demo/consort").status_code == 401
    missing = client.get("/api/v1/studies/nosuch/consort", headers=auth)
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    study = client.get("/api/v1/studies/demo", headers=auth).get_json()
    assert study["links"]["consort"] == "/api/v1/studies/demo/consort"


def test_a_coordinator_token_cannot_read_the_split(demo: Demo, client: FlaskClient) -> None:
    from study.models import User

    with demo.app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == demo.accounts.coordinator[0])).one()
        _, raw = api_tokens.issue_token(db.session, user, "test", actor="test")
        db.session.commit()
    response = client.get("/api/v1/studies/demo/consort",
                          headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 403


def test_a_trainee_walk_is_counted(app: Flask, demo: Demo) -> None:
    with demo.app.app_context():
        study = demo.study()
        token = invitations.invite(db.session, study, study.cohorts[0], 1, actor="t")[0].token
        db.session.commit()
    trainee = TraineeDriver(app.test_client(), token)
    trainee.consent()
    trainee.answer_until_not_questionnaire()
    with demo.app.app_context():
        counts = consort_counts(db.session, demo.study())
        consents = db.session.scalars(select(Consent.choice)).all()
    assert consents == [ConsentChoice.AGREE]
    assert sum(a["allocated"] for a in counts["allocation"].values()) == 1
    assert sum(a["not_received"]["in_progress"] for a in counts["allocation"].values()) == 1
