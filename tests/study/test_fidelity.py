"""Session fidelity ratings, supervision records, the fidelity page and the per-protocol rule
that can ask for a session whose fidelity met a threshold (DESIGN §13, §6)."""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select

from study.extensions import db
from study.models import (
    AuditEvent,
    Booking,
    ContactSession,
    Facilitator,
    FidelityRating,
    SupervisionRecord,
    User,
)
from study.services import fidelity, sap, study_file
from study.services.adherence import InvalidPerProtocolRule, check_rule, per_protocol_codes
from study.services.analysis_service import run_analysis
from study.services.statistical_exports import build_dataset
from tests.helpers import Demo, StaffClient, csrf_from
from tests.study.test_plan_edit import EXAMPLE, SLUG, form_data, stored_plan

CONDITIONS = ("fid_equal_status", "fid_common_goals", "fid_cooperation",
              "fid_institutional_support")
PEER_PRACTICE = ("fid_self_disclosure", "fid_nondirective")


def answers(conditions: int, peer_practice: int, notes: str = "") -> dict[str, str]:
    """The checklist as a form posts it: every condition rated alike, then the peer elements."""
    data = {f"q_{key}": str(conditions) for key in CONDITIONS}
    data |= {f"q_{key}": str(peer_practice) for key in PEER_PRACTICE}
    if notes:
        data["q_fid_notes"] = notes
    return data


def first_session(app: Flask, *, held: bool) -> int:
    """The id of the demo's first session, moved into the past when ``held``."""
    with app.app_context():
        contact_session = db.session.scalars(
            select(ContactSession).order_by(ContactSession.starts_at)).first()
        assert contact_session is not None
        if held:
            contact_session.starts_at = datetime.now(UTC) - timedelta(hours=3)
        db.session.commit()
        return contact_session.id


def demo_facilitator(app: Flask, *, clinical: str = "Dr Jo Park",
                     peer: str = "Sam Ortiz, CPSS") -> int:
    with app.app_context():
        facilitator = db.session.scalars(select(Facilitator)).first()
        assert facilitator is not None
        facilitator.clinical_supervisor, facilitator.peer_supervisor = clinical, peer
        db.session.commit()
        return facilitator.id


@pytest.fixture
def coordinator(demo: Demo, staff_client: StaffClient) -> FlaskClient:
    return staff_client("coordinator")


def post(client: FlaskClient, url: str, data: dict[str, str]):
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


# --- rating a session ----------------------------------------------------------------------


def test_a_rating_is_scored_with_the_instrument_and_attached_to_the_session(
        app: Flask, coordinator: FlaskClient) -> None:
    session_id = first_session(app, held=True)
    url = f"/coordinator/demo/sessions/{session_id}/fidelity"
    page = coordinator.get(url).get_data(as_text=True)
    assert "<title>Session fidelity" in page and "Equal status" in page
    response = post(coordinator, url, answers(3, 2, notes="Started ten minutes late."))
    assert response.status_code == 303
    with app.app_context():
        rating = db.session.scalars(select(FidelityRating)).one()
        assert rating.session_id == session_id
        assert rating.conditions == 3 and rating.peer_practice == 2
        assert rating.total == pytest.approx(16 / 6)
        assert rating.fidelity == pytest.approx(16 / 18)  # the mean's share of 0–3
        assert rating.answers["fid_notes"] == "Started ten minutes late."
        rater = db.session.get(User, rating.rater_id)
        assert rater is not None and rater.email.startswith("coordinator")
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "fidelity_rated")).one()
        assert event.details["session_id"] == session_id
        assert event.details["supersedes"] is None
    shown = coordinator.get(url).get_data(as_text=True)
    assert "fidelity <strong>0.89</strong> (at or above 0.80)" in shown
    assert 'value="3" checked' in shown  # the checklist pre-filled with the current rating


def test_rating_again_keeps_the_earlier_rating_as_superseded(
        app: Flask, coordinator: FlaskClient) -> None:
    session_id = first_session(app, held=True)
    url = f"/coordinator/demo/sessions/{session_id}/fidelity"
    assert post(coordinator, url, answers(3, 3)).status_code == 303
    assert post(coordinator, url, answers(1, 2)).status_code == 303
    with app.app_context():
        first, second = db.session.scalars(select(FidelityRating).order_by(FidelityRating.id))
        assert first.superseded_by_id == second.id and first.superseded_at is not None
        assert first.fidelity == 1.0 and first.answers["fid_equal_status"] == "3"
        assert second.superseded_at is None
        assert second.fidelity == pytest.approx((4 + 4) / 18)
        events = list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "fidelity_rated").order_by(AuditEvent.id)))
        assert [e.details["supersedes"] for e in events] == [None, first.id]
    page = coordinator.get(url).get_data(as_text=True)
    assert "Earlier ratings (superseded)" in page and "1.00" in page
    assert "(below 0.80)" in page


def test_an_incomplete_checklist_is_shown_again_with_what_was_chosen(
        app: Flask, coordinator: FlaskClient) -> None:
    session_id = first_session(app, held=True)
    url = f"/coordinator/demo/sessions/{session_id}/fidelity"
    data = answers(2, 2, notes="kept")
    del data["q_fid_cooperation"]
    data["q_fid_nondirective"] = "7"
    response = post(coordinator, url, data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Please answer this question." in page
    assert "Please choose one of the answers shown." in page
    assert 'value="2" checked' in page and "kept</textarea>" in page
    with app.app_context():
        assert db.session.scalars(select(FidelityRating)).first() is None


def test_a_session_not_yet_held_cannot_be_rated(app: Flask, coordinator: FlaskClient) -> None:
    session_id = first_session(app, held=False)
    url = f"/coordinator/demo/sessions/{session_id}/fidelity"
    page = coordinator.get(url).get_data(as_text=True)
    assert "has not started yet" in page and "Save the rating" not in page
    token = csrf_from(page)
    response = coordinator.post(url, data={"csrf_token": token, **answers(3, 3)})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(FidelityRating)).first() is None


# --- supervision ---------------------------------------------------------------------------


def test_a_supervision_record_takes_the_registered_supervisor_and_is_flagged(
        app: Flask, coordinator: FlaskClient) -> None:
    facilitator_id = demo_facilitator(app)
    url = f"/coordinator/demo/facilitators/{facilitator_id}/supervision"
    page = coordinator.get(url).get_data(as_text=True)
    assert "<title>Supervision" in page and "Dr Jo Park" in page
    held = (date.today() - timedelta(days=2)).isoformat()
    response = post(coordinator, url, {
        "held_on": held, "supervisor_kind": "clinical", "supervisor": "",
        "role_fidelity": "0.75", "risk_oversight": "0.9", "reflective_practice": "",
        "notes": "Discussed boundaries after a disclosure."})
    assert response.status_code == 303
    response = post(coordinator, url, {
        "held_on": held, "supervisor_kind": "peer", "supervisor": "A. Visiting Peer",
        "role_fidelity": "0.85", "risk_oversight": "", "reflective_practice": "0.8"})
    assert response.status_code == 303
    with app.app_context():
        clinical, peer = db.session.scalars(select(SupervisionRecord)
                                            .order_by(SupervisionRecord.id))
        assert clinical.supervisor == "Dr Jo Park" and clinical.reflective_practice is None
        assert clinical.flags() == ["role_fidelity"]
        assert peer.supervisor == "A. Visiting Peer" and peer.flags() == []
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "supervision_recorded")).all()
        assert [e.details["flags"] for e in events] == [["role_fidelity"], []]
    page = coordinator.get(url).get_data(as_text=True)
    assert "Below threshold: Role fidelity (F)" in page


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"role_fidelity": "1.5"}, "role_fidelity", "from 0 to 1"),
    ({"risk_oversight": "lots"}, "risk_oversight", "from 0 to 1"),
    ({"role_fidelity": "", "risk_oversight": "", "reflective_practice": ""},
     "role_fidelity", "Rate at least one of F, R and P."),
    ({"held_on": ""}, "held_on", "Enter the date of the meeting."),
    ({"held_on": (date.today() + timedelta(days=3)).isoformat()}, "held_on",
     "before it is held"),
    ({"supervisor_kind": "coach"}, "supervisor_kind", "Not a valid choice"),
    ({"supervisor_kind": "peer"}, "supervisor", "no peer supervisor registered"),
])
def test_bad_supervision_input_is_refused_beside_its_field(
        app: Flask, coordinator: FlaskClient, changes: dict[str, str], field: str,
        message: str) -> None:
    facilitator_id = demo_facilitator(app, peer="")
    url = f"/coordinator/demo/facilitators/{facilitator_id}/supervision"
    data = {"held_on": date.today().isoformat(), "supervisor_kind": "clinical",
            "supervisor": "", "role_fidelity": "0.9", "risk_oversight": "0.8",
            "reflective_practice": "0.9", "notes": "typed notes"} | changes
    response = post(coordinator, url, data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
    assert error is not None and message in error[1], page
    assert "typed notes</textarea>" in page
    with app.app_context():
        assert db.session.scalars(select(SupervisionRecord)).first() is None


def test_the_service_refuses_measures_off_the_scale(demo: Demo) -> None:
    with demo.app.app_context():
        facilitator = db.session.scalars(select(Facilitator).order_by(Facilitator.id)).first()
        user = db.session.scalars(select(User)).first()
        for value in (-0.1, 1.01, float("nan")):
            with pytest.raises(fidelity.InvalidSupervision):
                fidelity.record_supervision(
                    db.session, facilitator, held_on=date.today(),
                    kind=fidelity.SupervisorKind.PEER, supervisor="P", role_fidelity=value,
                    risk_oversight=None, reflective_practice=None, notes="", user=user)


# --- the study's fidelity page --------------------------------------------------------------


def test_the_fidelity_page_shows_sessions_against_the_threshold_and_supervision_flags(
        app: Flask, coordinator: FlaskClient) -> None:
    session_id = first_session(app, held=True)
    facilitator_id = demo_facilitator(app)
    assert post(coordinator, f"/coordinator/demo/sessions/{session_id}/fidelity",
                answers(2, 2)).status_code == 303
    assert post(coordinator, f"/coordinator/demo/facilitators/{facilitator_id}/supervision", {
        "held_on": date.today().isoformat(), "supervisor_kind": "peer", "supervisor": "",
        "role_fidelity": "0.9", "risk_oversight": "0.6", "reflective_practice": "0.7",
    }).status_code == 303
    page = coordinator.get("/coordinator/demo/fidelity").get_data(as_text=True)
    assert "<title>Fidelity and supervision" in page and 'aria-current="page">Fidelity' in page
    assert "1 session held, 1 rated, 0 at or above 0.80" in page
    row = re.search(r"<tr><td>[^<]*</td>\s*<td>Alex Moreno, CPSS</td>(.*?)</tr>", page, re.S)
    assert row is not None and "0.67" in row[1] and "<td>No</td>" in row[1]
    assert "Not rated" in page  # the sessions to come
    supervision = re.search(r"<th scope=\"row\">Alex Moreno, CPSS</th>(.*?)</tr>", page, re.S)
    assert supervision is not None
    assert "Current, until" in supervision[1] and "Sam Ortiz, CPSS" in supervision[1]
    assert re.findall(r'<td class="num">([^<]*)</td>', supervision[1]) == [
        "1", "0.90", "0.60", "0.70", "1"]


def test_the_fidelity_page_counts_no_trainees_and_names_no_arm(
        simulated_demo: Demo, staff_client: StaffClient) -> None:
    page = staff_client("coordinator").get("/coordinator/demo/fidelity").get_data(as_text=True)
    main = page.split("<main", 1)[1]
    with simulated_demo.app.app_context():
        arms = [arm.name for arm in simulated_demo.study().arms]
    assert not any(name in main for name in arms)
    assert "trainee" not in main.lower().replace("contact-arm trainee", "")


def test_the_fidelity_page_names_the_plans_threshold(simulated_demo: Demo,
                                                     staff_client: StaffClient) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        plan = copy.deepcopy(sap.current_plan(db.session, study).plan)
        plan["populations"]["per_protocol"]["min_session_fidelity"] = 0.75
        sap.set_plan(db.session, study, simulated_demo.library, plan, reason="test",
                     actor="test")
        db.session.commit()
    page = staff_client("coordinator").get("/coordinator/demo/fidelity").get_data(as_text=True)
    assert "reached <strong>0.75</strong>" in page


# --- who may open the pages ------------------------------------------------------------------


def fidelity_urls(app: Flask) -> list[str]:
    session_id = first_session(app, held=True)
    facilitator_id = demo_facilitator(app)
    return ["/coordinator/demo/fidelity",
            f"/coordinator/demo/sessions/{session_id}/fidelity",
            f"/coordinator/demo/facilitators/{facilitator_id}/supervision"]


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, demo: Demo) -> None:
    client = app.test_client()
    for url in fidelity_urls(app):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
        if "/fidelity" in url and "/sessions/" not in url:
            continue  # the study page is GET only
        assert client.post(url, data=answers(3, 3)).status_code in (302, 400), url
    with app.app_context():
        assert db.session.scalars(select(FidelityRating)).first() is None


@pytest.mark.parametrize(("who", "status"), [("researcher", 403), ("outsider", 404)])
def test_staff_without_the_coordinator_role_are_refused(
        app: Flask, demo: Demo, staff_client: StaffClient, who: str, status: int) -> None:
    client = staff_client(who)
    token = csrf_from(client.get("/coordinator/").get_data(as_text=True))
    for url in fidelity_urls(app):
        assert client.get(url).status_code == status, url
        data = {"csrf_token": token, **answers(3, 3), "held_on": date.today().isoformat(),
                "supervisor_kind": "peer", "role_fidelity": "0.9"}
        if "/fidelity" in url and "/sessions/" not in url:
            continue  # the study page is GET only
        assert client.post(url, data=data).status_code == status, url
    with app.app_context():
        assert db.session.scalars(select(FidelityRating)).first() is None
        assert db.session.scalars(select(SupervisionRecord)).first() is None


def test_unknown_sessions_and_facilitators_are_404(app: Flask,
                                                   coordinator: FlaskClient) -> None:
    assert coordinator.get("/coordinator/demo/sessions/999999/fidelity").status_code == 404
    assert coordinator.get(
        "/coordinator/demo/facilitators/999999/supervision").status_code == 404


# --- the per-protocol rule -------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.5, -0.2, "0.8", True, float("inf")])
def test_a_bad_fidelity_threshold_is_a_plan_problem(demo: Demo, value: object) -> None:
    with demo.app.app_context():
        study = demo.study()
        plan = copy.deepcopy(sap.current_plan(db.session, study).plan)
        plan["populations"]["per_protocol"]["min_session_fidelity"] = value
        problems = sap.plan_problems(plan, study, demo.library)
        assert any(p.startswith("populations.per_protocol.min_session_fidelity must be")
                   for p in problems), problems
        with pytest.raises(InvalidPerProtocolRule):
            check_rule(plan["populations"]["per_protocol"])


def test_a_plan_without_the_fidelity_key_stays_valid(demo: Demo) -> None:
    with demo.app.app_context():
        study = demo.study()
        plan = copy.deepcopy(sap.current_plan(db.session, study).plan)
        plan["populations"]["per_protocol"].pop("min_session_fidelity", None)
        assert sap.plan_problems(plan, study, demo.library) == []
        plan["populations"]["per_protocol"]["min_session_fidelity"] = 0.8
        assert sap.plan_problems(plan, study, demo.library) == []


def test_a_trainee_at_a_low_fidelity_session_leaves_per_protocol_and_stays_in_itt(
        simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        library = simulated_demo.library
        rater = db.session.scalars(select(User)).first()
        attended = list(db.session.execute(
            select(Booking.session_id, Booking.participant_id).where(Booking.attended.is_(True))
            .order_by(Booking.session_id)))
        assert attended, "the simulation has contact trainees who attended"
        low_session = attended[0].session_id
        for session_id in {row.session_id for row in attended}:
            contact_session = db.session.get(ContactSession, session_id)
            low = session_id == low_session
            texts = {key: "1" if low else "3" for key in CONDITIONS + PEER_PRACTICE}
            fidelity.rate_session(db.session, contact_session, texts, rater=rater,
                                  library=library,
                                  now=contact_session.starts_at + timedelta(hours=2))
        low_codes = {db.session.get(Booking, b).participant.code for b in db.session.scalars(
            select(Booking.id).where(Booking.session_id == low_session,
                                     Booking.attended.is_(True)))}

        default = per_protocol_codes(db.session, study)
        assert low_codes <= default  # attended: per protocol by the default rule
        plan = copy.deepcopy(sap.current_plan(db.session, study).plan)
        plan["populations"]["per_protocol"]["min_session_fidelity"] = 0.8
        sap.set_plan(db.session, study, library, plan, reason="fidelity rule", actor="test")
        strict = per_protocol_codes(db.session, study, plan["populations"]["per_protocol"])
        assert strict == default - low_codes

        itt = run_analysis(db.session, study, library, population="itt").frame
        per_protocol = run_analysis(db.session, study, library,
                                    population="per_protocol").frame
        assert low_codes <= set(itt["participant"])
        assert not low_codes & set(per_protocol["participant"])
        assert set(per_protocol["participant"]) - low_codes  # the others stay
        # The wide/SPSS/Stata files' per_protocol flag follows the plan's rule too.
        frame = build_dataset(db.session, study, library, "wide").frame
        flagged = dict(zip(frame["participant"], frame["per_protocol"], strict=True))
        assert {code for code, flag in flagged.items() if flag == 1} == strict
        assert all(flagged[code] == 0 for code in low_codes)


# --- the migration ---------------------------------------------------------------------------


def test_migration_0013_goes_down_and_up(make_app, database_url) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL schema is created once per session by the fixtures")
    from alembic import command

    from study.migrate import alembic_config, upgrade
    from study.models import Base

    app = make_app()
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        upgrade(app)
        tables = set(inspect(db.engine).get_table_names())
        assert {"fidelity_ratings", "supervision_records"} <= tables
        command.downgrade(alembic_config(app), "0008")
        tables = set(inspect(db.engine).get_table_names())
        assert not {"fidelity_ratings", "supervision_records"} & tables
        assert "facilitators" in tables
        upgrade(app)
        assert {"fidelity_ratings", "supervision_records"} <= set(
            inspect(db.engine).get_table_names())


# --- the plan's edit page ----------------------------------------------------------------------


def test_the_plan_edit_page_sets_and_refuses_a_fidelity_threshold(
        app: Flask, staff_client: StaffClient) -> None:
    with app.app_context():
        study_file.create(db.session, EXAMPLE.read_text(encoding="utf-8"),
                          app.extensions["allport.instruments"], actor="test")
        db.session.commit()
    client = staff_client("coordinator", study=SLUG)
    url = f"/coordinator/{SLUG}/plan/edit"
    refused = client.post(url, data=form_data(client, url, min_fidelity="1.2"))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    error = re.search(r'id="min_fidelity-error">(.*?)</p>', page, re.S)
    assert error is not None and "from 0 to 1" in error[1]
    assert 'value="1.2"' in page
    assert "min_session_fidelity" not in stored_plan(app).plan["populations"]["per_protocol"]

    assert client.post(url, data=form_data(client, url, min_fidelity="0.8")).status_code == 303
    assert stored_plan(app).plan["populations"]["per_protocol"]["min_session_fidelity"] == 0.8
    shown = client.get(f"/coordinator/{SLUG}/plan").get_data(as_text=True)
    assert "at a session whose fidelity reached 0.8" in shown
    assert client.post(url, data=form_data(client, url, min_fidelity="")).status_code == 303
    assert "min_session_fidelity" not in stored_plan(app).plan["populations"]["per_protocol"]
