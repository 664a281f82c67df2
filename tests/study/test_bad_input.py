"""Whatever is typed or posted, no page answers 500 (the Standards: never a traceback page)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import BuildError, Rule

from study.extensions import db
from study.services import invitations
from tests.helpers import Demo, StaffClient, TraineeDriver, csrf_from

GARBAGE = [
    {},
    {"choice": "maybe", "session_id": "abc", "count": "-5", "cohort_id": "x", "booking_id": "y",
     "confirm": "1" * 5000, "reason": "x" * 10_000, "attended": "perhaps",
     "withdraw-reason": "\x00", "population": "everyone", "outcome": "../../etc/passwd"},
    {"q_profession": "astronaut", "q_training_year": "1e9", "q_prior_contact": "",
     "q_apprehensive": "11", "q_uncertain": "-1", "q_worried": "NaN", "page": "-3"},
]


@pytest.fixture
def trainee(demo: Demo) -> tuple[str, str]:
    """A trainee invited to the demo study: (link token, code)."""
    with demo.app.app_context():
        study = demo.study()
        issued = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")[0]
        token, code = issued.token, issued.participant.code
        db.session.commit()
    return token, code


def post_routes(app: Flask) -> list[Rule]:
    """Every POST route; signing out and withdrawing last, so the rest meet a live session."""
    last = ("auth.logout", "trainee.withdraw")
    rules = [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]
    return sorted(rules, key=lambda rule: rule.endpoint in last)


def test_no_post_route_answers_500_to_garbage(app: Flask, trainee: tuple[str, str],
                                              staff_client: StaffClient) -> None:
    token, code = trainee
    trainee_client = app.test_client()
    TraineeDriver(trainee_client, token).consent()
    staff = staff_client("admin")
    staff_token = csrf_from(staff.get("/coordinator/").get_data(as_text=True))
    trainee_token = csrf_from(trainee_client.get(f"/t/{token}/withdraw").get_data(as_text=True))
    values = {"token": token, "slug": "demo", "session_id": 1, "facilitator_id": 1,
              "table": "scores.csv",
              "code": code, "timepoint": "baseline", "instrument_id": "background",
              "position": 0, "user_id": 1, "cohort_id": 1}
    checked = 0
    for rule in post_routes(app):
        try:
            url = rule.build({k: v for k, v in values.items() if k in rule.arguments})[1]
        except BuildError:  # pragma: no cover - every argument is known above
            pytest.fail(f"no value for the arguments of {rule.rule}")
        client, csrf = (trainee_client, trainee_token) if rule.endpoint.startswith("trainee.") \
            else (staff, staff_token)
        for data in GARBAGE:
            for with_csrf in (False, True):
                body = {**data, "csrf_token": csrf} if with_csrf else data
                response = client.post(url, data=body)
                assert response.status_code < 500, (url, body, response.status_code)
                if with_csrf and rule.endpoint.startswith(("coordinator.", "researcher.")):
                    # still signed in: the garbage reached the view, not the login page
                    assert "/login" not in response.headers.get("Location", ""), url
                checked += 1
    assert checked >= 60


@pytest.mark.parametrize("path", ["/t/%ff%fe", "/t/x/q/nowhere/nothing", "/t/x/education/99999",
                                  "/coordinator/demo/participants/%00", "/researcher/demo/analysis"
                                  "?population=x&outcome=%ff", "/login?next=%0d%0aSet-Cookie:x"])
@pytest.mark.usefixtures("trainee")
def test_odd_addresses_never_answer_500(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code < 500
