"""The coordinator's cohorts: create, edit, close and reopen, with counts pooled over the arms."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from study.extensions import db
from study.models import AuditEvent, Cohort
from study.services import cohorts, invitations
from study.services.studies import get_study
from tests.helpers import Demo, StaffClient, TraineeDriver, csrf_from

LIST = "/coordinator/demo/cohorts"


@pytest.fixture
def coordinator(demo: Demo, staff_client: StaffClient) -> FlaskClient:
    return staff_client("coordinator")


def post(client: FlaskClient, url: str, data: dict[str, object],
         form_url: str = LIST) -> TestResponse:
    html = client.get(form_url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_from(html), **data})


def cohort_named(app: Flask, name: str) -> Cohort | None:
    with app.app_context():
        cohort = db.session.scalars(select(Cohort).where(Cohort.name == name)).first()
        if cohort is not None:
            db.session.expunge(cohort)
        return cohort


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_coordinator_adds_a_cohort_with_its_site_and_dates(app: Flask,
                                                               coordinator: FlaskClient) -> None:
    response = post(coordinator, LIST, {"name": "Spring 2027", "site": "North campus",
                                        "starts_on": "2027-02-01", "ends_on": "2027-05-31"})
    assert response.status_code == 303
    cohort = cohort_named(app, "Spring 2027")
    assert cohort is not None and cohort.site == "North campus"
    assert str(cohort.starts_on) == "2027-02-01" and cohort.closed_at is None
    html = coordinator.get(LIST).get_data(as_text=True)
    assert "Spring 2027" in html and "North campus" in html and "01 Feb 2027" in html
    assert "cohort_created" in actions(app)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"name": "Late", "starts_on": "2027-05-01", "ends_on": "2027-04-30"}, "ends_on",
     "The cohort cannot end before it starts."),
    ({"name": "autumn 2026"}, "name", "already has a cohort named &#39;Autumn 2026&#39;"),
    ({"name": "   "}, "name", "Give the cohort a name."),
    ({"name": "x" * 101}, "name", "at most 100 characters"),
    ({"name": "Bad date", "starts_on": "31/02/2027"}, "starts_on", "Not a valid date value."),
])
def test_a_bad_cohort_is_refused_beside_its_field_with_the_rest_kept(
        app: Flask, coordinator: FlaskClient, data: dict[str, str], field: str,
        message: str) -> None:
    response = post(coordinator, LIST, {"site": "Kept site", **data})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html and message in html
    assert 'value="Kept site"' in html
    with app.app_context():
        assert len(get_study(db.session, "demo").cohorts) == 1


def test_a_cohort_is_renamed_and_a_clash_on_rename_is_refused(app: Flask,
                                                              coordinator: FlaskClient) -> None:
    post(coordinator, LIST, {"name": "Spring 2027"})
    cohort = cohort_named(app, "Spring 2027")
    assert cohort is not None
    url = f"/coordinator/demo/cohorts/{cohort.id}"
    page = coordinator.get(url)
    assert page.status_code == 200 and 'value="Spring 2027"' in page.get_data(as_text=True)
    clash = post(coordinator, url, {"name": "Autumn 2026"}, form_url=url)
    assert clash.status_code == 422 and 'id="name-error"' in clash.get_data(as_text=True)
    renamed = post(coordinator, url, {"name": "Spring term 2027", "site": "South"}, form_url=url)
    assert renamed.status_code == 303
    assert cohort_named(app, "Spring term 2027") is not None
    assert "cohort_changed" in actions(app)


def test_closing_stops_invitations_and_reopening_undoes_it(app: Flask,
                                                            coordinator: FlaskClient) -> None:
    cohort = cohort_named(app, "Autumn 2026")
    assert cohort is not None
    response = post(coordinator, f"/coordinator/demo/cohorts/{cohort.id}/close", {})
    assert response.status_code == 303
    html = coordinator.get(LIST).get_data(as_text=True)
    assert "closed" in html and ">Reopen<" in html
    with app.app_context():
        study = get_study(db.session, "demo")
        with pytest.raises(invitations.CohortClosed, match="closed; reopen it"):
            invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")
    # the links page refuses too, beside its field
    links = post(coordinator, "/coordinator/demo/invitations",
                 {"cohort_id": cohort.id, "count": 2}, form_url="/coordinator/demo/invitations")
    assert links.status_code == 422 and "is closed" in links.get_data(as_text=True)
    again = post(coordinator, f"/coordinator/demo/cohorts/{cohort.id}/close", {})
    assert again.status_code == 303  # closing twice is explained, not an error page
    assert "closed already" in coordinator.get(LIST).get_data(as_text=True)
    post(coordinator, f"/coordinator/demo/cohorts/{cohort.id}/reopen", {})
    with app.app_context():
        study = get_study(db.session, "demo")
        assert len(invitations.invite(db.session, study, study.cohorts[0], 1, actor="t")) == 1
    assert {"cohort_closed", "cohort_reopened"} <= set(actions(app))


def test_counts_follow_the_trainees_pooled_over_the_arms(app: Flask,
                                                         coordinator: FlaskClient) -> None:
    with app.app_context():
        study = get_study(db.session, "demo")
        issued = invitations.invite(db.session, study, study.cohorts[0], 3, actor="test")
        db.session.commit()
    TraineeDriver(app.test_client(), issued[0].token).consent()
    with app.app_context():
        study = get_study(db.session, "demo")
        counts = cohorts.cohort_counts(db.session, study)[study.cohorts[0].id]
    assert counts == cohorts.CohortCounts(invited=3, consented=1, allocated=0, completed_post=0)
    html = coordinator.get(LIST).get_data(as_text=True)
    row = re.search(r"Autumn 2026</a></td>(.*?)</tr>", html, re.S)
    assert row is not None
    assert re.findall(r'<td class="num">(\d+)</td>', row[1]) == ["3", "1", "0", "0"]
    # never a tally per arm while recruiting (DESIGN §4)
    assert "Education" not in html.split("</nav>", 2)[-1]


def test_cohorts_of_another_study_are_404(app: Flask, demo: Demo,
                                          coordinator: FlaskClient) -> None:
    from study.services.studies import StudySpec, create_study

    with app.app_context():
        other = create_study(db.session, StudySpec(slug="other", title="Other", consent_text="x",
                                                   cohorts=("Theirs",)), demo.library, actor="t")
        db.session.commit()
        other_id = other.cohorts[0].id
    assert coordinator.get(f"/coordinator/demo/cohorts/{other_id}").status_code == 404
    response = post(coordinator, f"/coordinator/demo/cohorts/{other_id}/close", {})
    assert response.status_code == 404
    assert coordinator.get("/coordinator/demo/cohorts/999999").status_code == 404


def test_cohort_pages_refuse_other_roles(app: Flask, demo: Demo,
                                         staff_client: StaffClient) -> None:
    assert app.test_client().get(LIST).headers["Location"].startswith("/login")
    assert staff_client("researcher").get(LIST).status_code == 403
    assert staff_client("outsider").get(LIST).status_code == 404
    researcher = staff_client("researcher")
    token = csrf_from(researcher.get("/researcher/").get_data(as_text=True))
    assert researcher.post(LIST, data={"csrf_token": token, "name": "X"}).status_code == 403
    # without the CSRF token nothing is created
    coordinator = staff_client("coordinator")
    assert coordinator.post(LIST, data={"name": "No token"}).status_code == 400
    assert cohort_named(app, "No token") is None
