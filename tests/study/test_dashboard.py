"""The coordinator's live dashboard (CONSORT diagram, enrolment chart, per cohort) and the audit
trail pages of coordinators and admins, concealment included (DESIGN §4)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select

from study.extensions import db
from study.models import AuditEvent, Cohort
from study.services import consort, invitations
from study.services.studies import StudySpec, close_recruitment, create_study, get_study
from tests.helpers import Demo, StaffClient, csrf_from


def flow_section(html: str) -> str:
    return html.split('id="flow-title"', 1)[1].split("</section>", 1)[0]


def n(text: str, label: str) -> int:
    """The count after ``label`` in the diagram's text: ``Randomized (n = 12)`` -> 12."""
    words = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    match = re.search(re.escape(label) + r" \(n = (\d+)\)", words)
    assert match, f"{label!r} not in the diagram"
    return int(match.group(1))


def test_the_diagram_draws_the_consort_counts_pooled_while_recruiting(
        simulated_demo: Demo, staff_client: StaffClient) -> None:
    with simulated_demo.app.app_context():
        study = get_study(db.session, "demo")
        counts = consort.pooled(consort.consort_counts(db.session, study))
    html = staff_client("coordinator").get("/coordinator/demo/").get_data(as_text=True)
    section = flow_section(html)
    assert "<svg" in section and "CONSORT 2010 flow diagram" in section
    assert n(section, "Assessed for eligibility (invited)") == counts["enrolment"]["invited"]
    everyone = counts["allocation"][consort.TOTAL]
    assert n(section, "Allocated to all arms") == everyone["allocated"]
    assert n(section, "Randomized") == everyone["allocated"]
    assert n(section, "Received the allocated intervention") == everyone["received"]
    assert n(section, "Post questionnaire completed") == \
        counts["follow_up"][consort.TOTAL]["post_done"]
    assert n(section, "Analysed") == counts["analysis"][consort.TOTAL]["analysed"]
    # Nothing on the page splits the flow by arm while recruitment is open.
    for name in ("Arm A", "Arm B", "Allocated to Education", "Allocated to Contact"):
        assert name not in section
    assert "Trainees invited, consented and allocated, cumulative by week" in section


def test_once_recruitment_closes_the_diagram_splits_by_arm(
        simulated_demo: Demo, staff_client: StaffClient) -> None:
    with simulated_demo.app.app_context():
        study = get_study(db.session, "demo")
        close_recruitment(db.session, study, actor="test")
        db.session.commit()
        counts = consort.consort_counts(db.session, study)
    section = flow_section(staff_client("coordinator").get("/coordinator/demo/")
                           .get_data(as_text=True))
    # Blinded: the arms are Arm A and Arm B, each with its own count.
    assert n(section, "Allocated to Arm A") + n(section, "Allocated to Arm B") == sum(
        row["allocated"] for row in counts["allocation"].values())
    assert "all arms" not in section.split("<svg", 1)[1].split("</svg>", 1)[0]


def test_the_cohort_filter_counts_that_cohort_only(demo: Demo, staff_client: StaffClient
                                                   ) -> None:
    with demo.app.app_context():
        study = get_study(db.session, "demo")
        second = Cohort(name="Spring intake", study=study)
        db.session.add(second)
        db.session.flush()
        invitations.invite(db.session, study, study.cohorts[0], 3, actor="test")
        invitations.invite(db.session, study, second, 2, actor="test")
        db.session.commit()
        second_id = second.id
    coordinator = staff_client("coordinator")
    everyone = flow_section(coordinator.get("/coordinator/demo/").get_data(as_text=True))
    assert n(everyone, "Assessed for eligibility (invited)") == 5
    html = coordinator.get(f"/coordinator/demo/?cohort={second_id}").get_data(as_text=True)
    assert n(flow_section(html), "Assessed for eligibility (invited)") == 2
    assert "Flow diagram and enrolment: Spring intake" in html
    assert f'<option value="{second_id}" selected>Spring intake</option>' in html
    # The trainee list below follows the filter.
    assert html.count("/coordinator/demo/participants/P") == 2


def test_a_cohort_of_another_study_or_garbage_is_not_found(demo: Demo, staff_client: StaffClient
                                                          ) -> None:
    coordinator = staff_client("coordinator")
    for value in ("999999", "abc", "-1", str(2**63)):
        assert coordinator.get(f"/coordinator/demo/?cohort={value}").status_code == 404


def test_the_enrolment_chart_counts_each_stage(demo: Demo) -> None:
    from study.coordinator.dashboard import enrolment_dates

    with demo.app.app_context():
        study = get_study(db.session, "demo")
        invitations.invite(db.session, study, study.cohorts[0], 4, actor="test")
        db.session.commit()
        dates = enrolment_dates(db.session, study, None)
    assert {label: len(days) for label, days in dates.items()} == {
        "Invited": 4, "Consented": 0, "Allocated": 0}
    assert dates["Invited"][0] == datetime.now(UTC).date()


# --- the audit trail -----------------------------------------------------------------------


def allocation_codes(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.participant_code)
                                        .where(AuditEvent.action == "allocation")))


def test_coordinators_see_no_allocation_order_while_recruiting(
        simulated_demo: Demo, staff_client: StaffClient) -> None:
    coordinator = staff_client("coordinator")
    html = coordinator.get("/coordinator/demo/audit?action=allocation").get_data(as_text=True)
    codes = allocation_codes(simulated_demo.app)
    assert codes and all(code in html for code in codes[-10:])
    table = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    for hidden in ("arm:", "position:", "block size:", "stratum id:", "Arm A", "education",
                   "contact"):
        assert hidden not in table
    assert "Arm and place in the sequence hidden while recruitment is open" in table

    with simulated_demo.app.app_context():
        close_recruitment(db.session, get_study(db.session, "demo"), actor="test")
        db.session.commit()
    table = coordinator.get("/coordinator/demo/audit?action=allocation").get_data(
        as_text=True).split("<tbody>", 1)[1]
    assert "position:" in table and "block size:" in table


def test_admins_see_every_detail_of_every_study(simulated_demo: Demo,
                                                staff_client: StaffClient) -> None:
    html = staff_client("admin").get("/admin/audit?study=demo&action=allocation").get_data(
        as_text=True)
    assert "position:" in html and "arm:" in html
    assert "hidden while recruitment is open" not in html


def test_filters_by_trainee_kind_and_date(simulated_demo: Demo,
                                          staff_client: StaffClient) -> None:
    code = allocation_codes(simulated_demo.app)[0]
    coordinator = staff_client("coordinator")
    html = coordinator.get(f"/coordinator/demo/audit?code={code.lower()}").get_data(
        as_text=True)
    shown = set(re.findall(r"<code>(P[A-Z0-9]{8})</code>", html.split("<tbody>", 1)[1]))
    assert shown == {code}
    with simulated_demo.app.app_context():
        kinds = set(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.participant_code == code)))
    assert "questionnaire submitted" in html and len(kinds) > 1

    today = datetime.now(UTC).date()
    later = (today + timedelta(days=1)).isoformat()
    html = coordinator.get(f"/coordinator/demo/audit?since={later}").get_data(as_text=True)
    assert 'id="events-title">0 events' in html and "No events match these filters." in html
    # The date range is inclusive of both days, and nothing before it is shown.
    with simulated_demo.app.app_context():
        moments = list(db.session.scalars(select(AuditEvent.at).where(
            AuditEvent.action == "consent")))
    first, last = min(moments).date(), max(moments).date()
    html = coordinator.get(f"/coordinator/demo/audit?action=consent&since={first}&until={last}"
                           ).get_data(as_text=True)
    assert f'id="events-title">{len(moments)} events, newest first' in html
    before = (first - timedelta(days=1)).isoformat()
    html = coordinator.get(f"/coordinator/demo/audit?action=consent&until={before}").get_data(
        as_text=True)
    assert 'id="events-title">0 events' in html


def test_bad_filters_are_told_beside_their_field(demo: Demo, staff_client: StaffClient) -> None:
    coordinator = staff_client("coordinator")
    response = coordinator.get("/coordinator/demo/audit?code=robert'); DROP TABLE&since=2026-13-45"
                               "&until=yesterday&action=no_such_kind&page=zz")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "A trainee code is P and 8 letters or digits" in html
    assert "Not a valid date value." in html and "Not a valid choice." in html
    assert 'value="ROBERT&#39;); DROP TABLE"' in html  # what was typed is kept
    response = coordinator.get("/coordinator/demo/audit?since=2026-11-20&until=2026-11-01")
    assert response.status_code == 422
    assert "The end date is before the start date." in response.get_data(as_text=True)


def test_pages_of_events(simulated_demo: Demo, staff_client: StaffClient) -> None:
    coordinator = staff_client("coordinator")
    first = coordinator.get("/coordinator/demo/audit").get_data(as_text=True)
    total = int(re.search(r"(\d+) events, newest first", first).group(1))
    assert total > 50 and "Page 1 of" in first
    last_page = -(-total // 50)
    html = coordinator.get(f"/coordinator/demo/audit?page={10**30}").get_data(as_text=True)
    assert f"Page {last_page} of {last_page}" in html  # clamped, never an OFFSET overflow
    # The links to other pages keep the filters.
    html = coordinator.get("/coordinator/demo/audit?action=questionnaire_submitted").get_data(
        as_text=True)
    older = re.search(r'<a href="([^"]+)">Older</a>', html)
    assert older is not None
    assert "action=questionnaire_submitted" in older.group(1) and "page=2" in older.group(1)
    second = coordinator.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "Page 2 of" in second and "questionnaire submitted" in second
    assert ">consent<" not in second.split("<tbody>", 1)[1]


def test_an_admin_downloads_the_filtered_trail_as_csv_and_that_is_recorded(
        simulated_demo: Demo, staff_client: StaffClient) -> None:
    admin = staff_client("admin")
    page = admin.get("/admin/audit?action=allocation").get_data(as_text=True)
    assert admin.post("/admin/audit.csv?action=allocation").status_code == 400  # no CSRF token
    response = admin.post("/admin/audit.csv?action=allocation",
                          data={"csrf_token": csrf_from(page)})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == len(allocation_codes(simulated_demo.app))
    assert {row["action"] for row in rows} == {"allocation"}
    assert all("position=" in row["details"] for row in rows)
    with simulated_demo.app.app_context():
        exported = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "audit_exported")).one()
        assert exported.details["events"] == len(rows)
        assert exported.details["filters"] == {"action": "allocation"}
    bad = admin.post("/admin/audit.csv?since=never", data={"csrf_token": csrf_from(page)})
    assert bad.status_code == 422 and "Not a valid date value." in bad.get_data(as_text=True)


def test_only_admins_reach_the_whole_trail(demo: Demo, staff_client: StaffClient) -> None:
    for role in ("coordinator", "researcher"):
        client = staff_client(role)
        assert client.get("/admin/audit").status_code == 403
        assert client.post("/admin/audit.csv").status_code in (400, 403)
    assert staff_client("researcher").get("/coordinator/demo/audit").status_code == 403


def test_who_reaches_the_dashboard_and_the_trails(demo: Demo, staff_client: StaffClient) -> None:
    """Anonymous → sign in; researcher → 403; another study's coordinator → 404 (the study's
    existence is not told); admin → 200."""

    with demo.app.app_context():
        create_study(db.session, StudySpec(slug="other", title="Other study", consent_text="x"),
                     demo.library, actor="test")
        db.session.commit()
    routes = ("/coordinator/demo/", "/coordinator/demo/?cohort=1", "/coordinator/demo/audit")
    anonymous = demo.app.test_client()
    for url in (*routes, "/admin/audit"):
        response = anonymous.get(url)
        assert response.status_code in (302, 303) and "/login" in response.location, url
    assert anonymous.post("/admin/audit.csv").status_code in (302, 303, 400)
    stranger = staff_client("coordinator", study="other")
    researcher = staff_client("researcher")
    for url in routes:
        assert stranger.get(url).status_code == 404, url
        assert researcher.get(url).status_code == 403, url
    assert stranger.get("/admin/audit").status_code == 403
    admin = staff_client("admin")
    for url in (*routes, "/admin/audit"):
        assert admin.get(url).status_code == 200, url


def test_how_a_trainee_finished_is_hidden_while_recruiting(
        simulated_demo: Demo, staff_client: StaffClient) -> None:
    # "module_completed" against "session_attended" names the arm: listed, a running tally.
    url = "/coordinator/demo/audit?action=intervention_done"
    table = staff_client("coordinator").get(url).get_data(as_text=True).split("<tbody>", 1)[1]
    assert "intervention done" in table
    for hidden in ("how:", "module_completed", "session_attended", "simulated_attendance"):
        assert hidden not in table
    assert "Which arm&#39;s activity hidden while recruitment is open" in table \
        or "Which arm's activity hidden while recruitment is open" in table
    admin = staff_client("admin").get("/admin/audit?study=demo&action=intervention_done")
    assert "how:" in admin.get_data(as_text=True)
