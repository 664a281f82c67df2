"""Setting a study up in the browser (DESIGN §1 "Setting a study up"): pages, rules, freezing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from study.extensions import db
from study.markup import ALLOWED_TAGS, render_markdown
from study.models import AuditEvent, Membership, Role, Study, StudyStatus, User
from study.services import invitations, study_setup
from study.services.sap import current_plan
from study.services.studies import StudySpec, create_study, get_study
from tests.helpers import Demo, StaffClient, TraineeDriver, csrf_from, staff_email

SLUG = "stigma-2027"


def submit(client: FlaskClient, url: str, data: dict[str, Any], *, page: str | None = None,
           csrf_name: str = "csrf_token") -> TestResponse:
    """POST ``data`` to ``url`` with the CSRF token of ``page`` (default: ``url`` itself)."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={csrf_name: csrf_from(html), **data})


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def study_of(app: Flask, slug: str = SLUG) -> Study:
    return get_study(db.session, slug)


def actions(slug: str = SLUG) -> list[str]:
    study = get_study(db.session, slug)
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.study_id == study.id).order_by(AuditEvent.id)))


@pytest.fixture
def coordinator(demo: Demo, staff_client: StaffClient) -> FlaskClient:
    """The demo's coordinator, signed in: a coordinator of some study, so may create studies."""
    return staff_client("coordinator")


@pytest.fixture
def draft(app: Flask, coordinator: FlaskClient) -> FlaskClient:
    """``coordinator`` after creating the draft study ``stigma-2027`` through the page."""
    response = submit(coordinator, "/coordinator/new-study", {
        "slug": SLUG, "title": "Meeting as equals 2027", "description": "Second year.",
        "protocol_number": "P-2027-01", "ethics_approval_number": "REC 27/0042"})
    assert response.status_code == 303, text(response)
    return coordinator


ARMS = {"education_name": "Online module", "education_description": "Read *six* pages.",
        "contact_name": "Meet a peer", "contact_description": "One **session**.",
        "education_ratio": "1", "contact_ratio": "1", "block_sizes": "2, 4",
        "strata_factors": "", "planned_sample_size": "120"}
PAGE = {"title": "What stigma is", "body": "Stigma has **three** parts.\n\n- stereotypes",
        "video_url": "https://video.example.org/stigma"}
CONSENT = {"text": "You are invited.\n\n**Taking part** is voluntary.", "data_kept": "yes"}
SCHEDULE = {"intervention_period_days": "21", "post_window_days": "30",
            "followup_offset_days": "60", "followup_window_days": "30",
            "reminder_interval_days": "4"}


def questionnaires(app: Flask, chosen: dict[str, list[str]]) -> dict[str, str]:
    """The questionnaire form's data that ticks ``chosen`` (in that order)."""
    with app.app_context():
        offered = [i.id for i in study_setup.trainee_instruments(app.extensions[
            "allport.instruments"])]
    data = {}
    for timepoint, ids in chosen.items():
        for order, instrument_id in enumerate(ids, start=1):
            number = offered.index(instrument_id)
            data[f"{timepoint}_{number}"] = "y"
            data[f"{timepoint}_{number}_order"] = str(order)
    return data


def set_up_completely(app: Flask, client: FlaskClient) -> None:
    base = f"/coordinator/{SLUG}/setup"
    assert submit(client, f"{base}/questionnaires", questionnaires(app, {
        "baseline": ["background", "intergroup-anxiety"], "post": ["intergroup-anxiety"]})
    ).status_code == 303
    assert submit(client, f"{base}/arms", {**ARMS, "strata_factors": "background.profession"}
                  ).status_code == 303
    assert submit(client, f"{base}/module", PAGE).status_code == 303
    assert submit(client, f"{base}/consent", CONSENT).status_code == 303
    assert submit(client, f"{base}/schedule", SCHEDULE).status_code == 303


# --- Markdown -------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD4=)",
    '<a href="https://e.org" onclick="alert(1)">x</a>',
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<iframe src=https://evil.example></iframe>",
    "[x](https://e.org \"t\" onmouseover=alert(1))",
    "<<script>script>alert(1)<</script>/script>",
])
def test_markdown_never_lets_script_through(source: str) -> None:
    html = str(render_markdown(f"Before\n\n{source}\n\nafter"))
    tags = re.findall(r"<([a-z0-9]+)([^>]*)>", html)  # real tags: what the browser would run
    assert {name for name, _ in tags} <= set(ALLOWED_TAGS), html
    for _, attributes in tags:
        names = re.findall(r'([a-z-]+)="', attributes)
        assert set(names) <= {"href", "title", "rel", "start"}, html
        for href in re.findall(r'href="([^"]*)"', attributes):
            assert href.startswith(("http://", "https://", "mailto:")), html
    assert "<p>Before</p>" in html and "<p>after</p>" in html


def test_markdown_keeps_what_prose_needs() -> None:
    html = str(render_markdown("# Title\n\nSome *em*, **strong** and a "
                               "[link](https://example.org/x).\n\n- one\n- two"))
    assert "<h2>Title</h2>" in html and "<h1>" not in html
    assert "<em>em</em>" in html and "<strong>strong</strong>" in html
    assert '<a href="https://example.org/x" rel="noopener noreferrer">link</a>' in html
    assert "<li>one</li>" in html
    assert str(render_markdown("")) == ""


def test_event_attributes_in_raw_html_are_shown_as_text() -> None:
    html = str(render_markdown('<a href="https://e.org" onclick="steal()">x</a>'))
    assert "<a " not in html and "&lt;a" in html


def test_trainees_read_module_pages_arm_descriptions_and_consent_as_safe_markdown(
        demo: Demo) -> None:
    with demo.app.app_context():
        study = demo.study()
        study.consent_documents[-1].text = ("Please **read** this.\n\n<script>alert(1)</script>"
                                            "\n\n[x](javascript:alert(1))")
        for arm in study.arms:
            arm.description = "You *will* <b onclick=x>learn</b>."
        study.module_pages[0].body = "A **bold** claim.\n\n<img src=x onerror=alert(1)>"
        issued = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")[0]
        db.session.commit()
    trainee = TraineeDriver(demo.app.test_client(), issued.token)
    consent = text(trainee.open("/consent"))
    assert "<strong>read</strong>" in consent and "<script>alert" not in consent
    assert 'href="javascript' not in consent
    with demo.app.app_context():
        study = demo.study()
        education = next(a for a in study.arms if a.kind.value == "education")
        page = demo.app.jinja_env.from_string(
            "{{ arm.description|markdown }}|{{ body|markdown }}").render(
            arm=education, body=study.module_pages[0].body)
    assert "<em>will</em>" in page and "onclick" not in page.replace("&lt;b onclick", "")
    assert "<strong>bold</strong>" in page and "<img" not in page


# --- a new study ----------------------------------------------------------------------------


def test_a_coordinator_creates_a_study_and_coordinates_it(app: Flask, draft: FlaskClient
                                                          ) -> None:
    page = text(draft.get(f"/coordinator/{SLUG}/setup/", follow_redirects=True))
    assert "Set-up check list" in page and "A study needs a consent text" in page
    assert "The baseline time point has no questionnaire" in page
    assert f'href="/coordinator/{SLUG}/setup/consent"' in page
    assert "primary_outcome" not in page  # the plan is checked once there is a post outcome
    assert "Open recruitment</button>" not in page
    with app.app_context():
        study = study_of(app)
        assert study.status is StudyStatus.DRAFT and study.current_consent is None
        assert (study.protocol_number, study.ethics_approval_number) == ("P-2027-01",
                                                                         "REC 27/0042")
        user = db.session.scalars(select(User).where(
            User.email == staff_email("coordinator"))).one()
        assert Role.COORDINATOR in user.roles_in(study)
        assert actions()[:2] == ["study_created", "staff_account"]
    index = text(draft.get("/coordinator/"))
    assert 'href="/coordinator/new-study"' in index and "Meeting as equals 2027" in index


def test_an_admin_may_create_a_study(demo: Demo, staff_client: StaffClient) -> None:
    response = submit(staff_client("admin"), "/coordinator/new-study",
                      {"slug": "by-admin", "title": "By an admin"})
    assert response.status_code == 303
    with demo.app.app_context():
        assert get_study(db.session, "by-admin").title == "By an admin"


@pytest.mark.parametrize(("slug", "message"), [
    ("Stigma 2027", "lower-case letters"), ("-x", "lower-case letters"),
    ("demo", "exists already"), ("", "Enter a short name")])
def test_a_bad_short_name_is_refused_beside_it_and_the_rest_is_kept(
        coordinator: FlaskClient, slug: str, message: str) -> None:
    response = submit(coordinator, "/coordinator/new-study",
                      {"slug": slug, "title": "Kept title", "protocol_number": "P-77"})
    page = text(response)
    assert response.status_code == 422
    assert message in page and 'id="slug-error"' in page
    assert 'value="Kept title"' in page and 'value="P-77"' in page


def test_creating_a_study_needs_the_csrf_token(app: Flask, coordinator: FlaskClient) -> None:
    response = coordinator.post("/coordinator/new-study", data={"slug": "nocsrf", "title": "x"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(Study).where(Study.slug == "nocsrf")).first() is None


# --- authorization --------------------------------------------------------------------------

SETUP_GETS = ["/setup/", "/setup/details", "/setup/arms", "/setup/module", "/setup/module/0",
              "/setup/questionnaires", "/setup/consent", "/setup/schedule"]
SETUP_POSTS = SETUP_GETS[1:] + ["/setup/open", "/setup/close", "/setup/module/0/delete",
                                "/setup/module/0/move"]


@pytest.mark.parametrize("who", ["anonymous", "researcher", "outsider"])
def test_only_admins_and_coordinators_may_create_studies(
        demo: Demo, staff_client: StaffClient, who: str) -> None:
    client = demo.app.test_client() if who == "anonymous" else staff_client(who)
    response = client.get("/coordinator/new-study")
    if who == "anonymous":
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        assert client.post("/coordinator/new-study",
                           data={"slug": "x", "title": "x"}).status_code in (302, 400)
        return
    assert response.status_code == 403
    token = csrf_from(text(client.get("/coordinator/")))
    assert client.post("/coordinator/new-study", data={
        "csrf_token": token, "slug": "sneaky", "title": "x"}).status_code == 403
    with demo.app.app_context():
        assert db.session.scalars(select(Study).where(Study.slug == "sneaky")).first() is None


def test_setup_pages_refuse_anyone_but_the_study_s_coordinators(
        demo: Demo, staff_client: StaffClient) -> None:
    with demo.app.app_context():
        create_study(db.session, StudySpec(slug="other", title="Other", consent_text="x"),
                     demo.library, actor="test")
        db.session.commit()
    anonymous = demo.app.test_client()
    researcher = staff_client("researcher")
    other = staff_client("coordinator", study="other")
    coordinator = staff_client("coordinator")
    for path in SETUP_GETS:
        url = f"/coordinator/demo{path}"
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
        assert researcher.get(url).status_code == 403, url
        assert other.get(url).status_code == 404, url
        assert coordinator.get(url).status_code == 200, url
    token = csrf_from(text(other.get("/coordinator/")))
    research_token = csrf_from(text(researcher.get("/researcher/")))
    for path in SETUP_POSTS:
        url = f"/coordinator/demo{path}"
        assert anonymous.post(url).status_code in (302, 400), url
        assert researcher.post(url, data={"csrf_token": research_token}).status_code == 403, url
        assert other.post(url, data={"csrf_token": token}).status_code == 404, url
    with demo.app.app_context():
        study = demo.study()
        assert study.status is StudyStatus.RECRUITING and len(study.module_pages) == 5


# --- each page ------------------------------------------------------------------------------


def test_details_change_at_any_time_and_are_audited(app: Flask, draft: FlaskClient) -> None:
    url = f"/coordinator/{SLUG}/setup/details"
    bad = submit(draft, url, {"title": "", "protocol_number": "P-9"})
    assert bad.status_code == 422 and "Enter the study&#39;s title." in text(bad)
    assert 'value="P-9"' in text(bad)
    assert submit(draft, url, {"title": "New title", "description": "d",
                               "protocol_number": "P-9", "ethics_approval_number": "E-1"}
                  ).status_code == 303
    with app.app_context():
        study = study_of(app)
        assert (study.title, study.protocol_number) == ("New title", "P-9")
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "study_details_changed")).one()
        assert set(event.details["changed"]) == {"title", "description", "protocol_number",
                                                 "ethics_approval_number"}


def test_arms_page_saves_and_refuses_bad_blocks_and_strata_beside_the_field(
        app: Flask, draft: FlaskClient) -> None:
    url = f"/coordinator/{SLUG}/setup/arms"
    bad = submit(draft, url, {**ARMS, "contact_ratio": "2", "block_sizes": "2,4"})
    page = text(bad)
    assert bad.status_code == 422 and 'id="block_sizes-error"' in page
    assert "block size 2 is not a positive multiple of the allocation ratio sum 3" in page.lower()
    assert 'value="Meet a peer"' in page and "Read *six* pages." in page
    bad = submit(draft, url, {**ARMS, "strata_factors": "background.profession"})
    assert bad.status_code == 422 and 'id="strata_factors-error"' in text(bad)
    assert "is not a baseline questionnaire of this study" in text(bad)
    bad = submit(draft, url, {**ARMS, "education_ratio": "0", "block_sizes": "x"})
    assert bad.status_code == 422 and "Enter a whole number from 1 to 10." in text(bad)

    assert submit(draft, f"/coordinator/{SLUG}/setup/questionnaires", questionnaires(
        app, {"baseline": ["background"], "post": ["intergroup-anxiety"]})).status_code == 303
    bad = submit(draft, url, {**ARMS, "strata_factors": "background.training_year"})
    assert bad.status_code == 422 and "only a choice item can stratify" in text(bad)
    ok = submit(draft, url, {**ARMS, "contact_ratio": "2", "block_sizes": "3, 6",
                             "strata_factors": "background.profession",
                             "planned_sample_size": "20"})
    assert ok.status_code == 303
    page = text(draft.get(url))
    assert "fewer than twice the largest block" in page  # the warning, shown
    with app.app_context():
        study = study_of(app)
        assert study.block_sizes == "3,6" and study.strata_factors == "background.profession"
        assert {arm.key: (arm.name, arm.ratio) for arm in study.arms} == {
            "education": ("Online module", 1), "contact": ("Meet a peer", 2)}
        assert "study_arms_changed" in actions()


def test_module_pages_are_added_edited_moved_and_deleted(app: Flask, draft: FlaskClient
                                                         ) -> None:
    url = f"/coordinator/{SLUG}/setup/module"
    bad = submit(draft, url, {**PAGE, "video_url": "javascript:alert(1)"})
    assert bad.status_code == 422 and 'id="video_url-error"' in text(bad)
    assert "What stigma is" in text(bad) and "Stigma has **three** parts." in text(bad)
    bad = submit(draft, url, {**PAGE, "body": ""})
    assert bad.status_code == 422 and "Write the text of the page." in text(bad)
    for title in ("One", "Two", "Three"):
        assert submit(draft, url, {**PAGE, "title": title}).status_code == 303
    edit = f"{url}/2"
    assert submit(draft, edit, {**PAGE, "title": "Third", "video_url": ""}).status_code == 303
    move = submit(draft, f"{url}/2/move", {"move-direction": "up"}, page=url,
                  csrf_name="move-csrf_token")
    assert move.status_code == 303
    delete = submit(draft, f"{url}/0/delete", {}, page=url, csrf_name="delete-csrf_token")
    assert delete.status_code == 303
    assert draft.get(f"{url}/7").status_code == 404
    with app.app_context():
        pages = study_of(app).module_pages
        assert [(p.title, p.video_url) for p in pages] == [
            ("Third", None), ("Two", PAGE["video_url"])]
        assert actions().count("module_pages_changed") == 6


def test_questionnaires_are_chosen_per_time_point_with_the_wording_check(
        app: Flask, draft: FlaskClient) -> None:
    url = f"/coordinator/{SLUG}/setup/questionnaires"
    page = text(draft.get(url))
    assert "Contact session fidelity" not in page  # a rater's checklist, not a questionnaire
    assert "have no text on this site yet" in page  # OMS-HC ships without its wording
    response = submit(draft, url, {**questionnaires(app, {
        "baseline": ["background", "intergroup-anxiety", "oms-hc-15"],
        "post": ["oms-hc-15", "intergroup-anxiety"], "followup": ["intergroup-anxiety"]})})
    assert response.status_code == 303
    with app.app_context():
        study = study_of(app)
        assert [(tp.name, [p.instrument_id for p in tp.instruments]) for tp in study.timepoints
                ] == [("baseline", ["background", "intergroup-anxiety", "oms-hc-15"]),
                      ("post", ["oms-hc-15", "intergroup-anxiety"]),
                      ("followup", ["intergroup-anxiety"])]
    checklist = text(draft.get(f"/coordinator/{SLUG}/setup/"))
    assert "has no wording for" in checklist
    assert f'href="/coordinator/{SLUG}/setup/questionnaires"' in checklist
    bad = submit(draft, url, {**questionnaires(app, {"post": ["intergroup-anxiety"]}),
                              "baseline_0": "y", "baseline_0_order": "1000"})
    assert bad.status_code == 422 and "Enter a number from 1 to 99." in text(bad)
    assert submit(draft, url, questionnaires(app, {"baseline": ["background"],
                                                  "post": ["intergroup-anxiety"]})
                  ).status_code == 303
    with app.app_context():
        assert study_of(app).timepoint("followup") is None  # none chosen: no follow-up


def test_consent_versions(app: Flask, draft: FlaskClient) -> None:
    url = f"/coordinator/{SLUG}/setup/consent"
    bad = submit(draft, url, {"text": "Kept text", "data_kept": ""})
    assert bad.status_code == 422 and "Kept text" in text(bad)
    assert "Choose what happens to a withdrawing trainee" in text(bad)
    assert submit(draft, url, CONSENT).status_code == 303
    same = submit(draft, url, CONSENT)
    assert same.status_code == 422 and "nothing to save" in text(same)
    assert submit(draft, url, {**CONSENT, "data_kept": "no"}).status_code == 303
    with app.app_context():
        documents = study_of(app).consent_documents
        assert [(d.version, d.data_kept_on_withdrawal) for d in documents] == [(1, True),
                                                                              (2, False)]
        assert actions().count("consent_version_added") == 2


def test_schedule(app: Flask, draft: FlaskClient) -> None:
    url = f"/coordinator/{SLUG}/setup/schedule"
    bad = submit(draft, url, {**SCHEDULE, "intervention_period_days": "0",
                              "post_window_days": "abc"})
    assert bad.status_code == 422
    assert 'id="intervention_period_days-error"' in text(bad)
    assert 'id="post_window_days-error"' in text(bad) and 'value="60"' in text(bad)
    assert submit(draft, url, {**SCHEDULE, "post_window_days": ""}).status_code == 303
    with app.app_context():
        study = study_of(app)
        assert (study.intervention_period_days, study.post_window_days,
                study.followup_offset_days, study.reminder_interval_days) == (21, None, 60, 4)
        assert "study_schedule_changed" in actions()


# --- the check list, opening, freezing, closing ---------------------------------------------


def test_opening_is_refused_while_the_check_list_has_problems(app: Flask, draft: FlaskClient
                                                              ) -> None:
    url = f"/coordinator/{SLUG}/setup/open"
    response = submit(draft, url, {}, page=f"/coordinator/{SLUG}/setup/",
                      csrf_name="open-csrf_token")
    assert response.status_code == 303
    assert "needs a consent text" in text(draft.get(f"/coordinator/{SLUG}/setup/"))
    with app.app_context():
        assert study_of(app).status is StudyStatus.DRAFT


def test_open_then_frozen_then_closed(app: Flask, draft: FlaskClient) -> None:
    set_up_completely(app, draft)
    base = f"/coordinator/{SLUG}/setup"
    checklist = text(draft.get(f"{base}/"))
    assert "Ready to open" in checklist and "Open recruitment</button>" in checklist
    response = submit(draft, f"{base}/open", {}, page=f"{base}/", csrf_name="open-csrf_token")
    assert response.status_code == 303
    with app.app_context():
        study = study_of(app)
        assert study.status is StudyStatus.RECRUITING
        plan = current_plan(db.session, study)
        assert plan is not None and plan.frozen_at is not None

    # The pages show the frozen parts read-only and the services refuse them.
    arms_page = text(draft.get(f"{base}/arms"))
    assert "<fieldset disabled>" in arms_page and "Save the arms" not in arms_page
    refused = submit(draft, f"{base}/arms", {**ARMS, "strata_factors": "background.profession"})
    assert refused.status_code == 422 and "Recruitment has opened" in text(refused)
    refused = submit(draft, f"{base}/schedule", {**SCHEDULE, "intervention_period_days": "7"})
    assert refused.status_code == 422 and "Recruitment has opened" in text(refused)
    refused = submit(draft, f"{base}/module", PAGE)
    assert refused.status_code == 422
    assert "Recruitment has opened, so the education module" in text(refused)
    for path in ("/arms", "/module/0"):  # what the read-only forms would send: nothing
        refused = submit(draft, f"{base}{path}", {})
        assert refused.status_code == 422 and "Recruitment has opened" in text(refused)
        assert "field-error" not in text(refused)
    refused = submit(draft, f"{base}/questionnaires",
                     questionnaires(app, {"baseline": ["background"], "post": ["ribs"]}))
    assert refused.status_code == 422
    assert "Recruitment has opened, so the questionnaires" in text(refused)
    with app.app_context():
        study = study_of(app)
        assert len(study.module_pages) == 1 and study.intervention_period_days == 21
        assert [p.instrument_id for p in study.timepoint("post").instruments] == [
            "intergroup-anxiety"]
        for change in (
            lambda: study_setup.delete_module_page(db.session, study, 0, actor="t"),
            lambda: study_setup.set_questionnaires(db.session, study, app.extensions[
                "allport.instruments"], {"baseline": [], "post": []}, actor="t"),
            lambda: study_setup.update_arms(db.session, study, app.extensions[
                "allport.instruments"], study_setup.ArmSettings(
                "a", "", "b", "", 1, 1, "2", "", None), actor="t"),
        ):
            with pytest.raises(study_setup.StudyFrozen):
                change()
        db.session.rollback()

    # What may still change: the details, the reminder interval, the consent (a new version).
    assert submit(draft, f"{base}/schedule", {**SCHEDULE, "reminder_interval_days": "7"}
                  ).status_code == 303
    assert submit(draft, f"{base}/consent", {**CONSENT, "text": "Version two."}
                  ).status_code == 303
    assert submit(draft, f"{base}/details", {"title": "Renamed"}).status_code == 303
    with app.app_context():
        study = study_of(app)
        consent = study.current_consent
        assert consent is not None and consent.version == 2
        assert (study.reminder_interval_days, study.title) == (7, "Renamed")

    wrong = submit(draft, f"{base}/close", {"close-confirm": "demo"}, page=f"{base}/",
                   csrf_name="close-csrf_token")
    assert wrong.status_code == 422 and f"Type {SLUG} exactly" in text(wrong)
    closed = submit(draft, f"{base}/close", {"close-confirm": SLUG}, page=f"{base}/",
                    csrf_name="close-csrf_token")
    assert closed.status_code == 303
    with app.app_context():
        assert study_of(app).status is StudyStatus.CLOSED
        assert {"recruitment_opened", "analysis_plan_frozen", "recruitment_closed"} <= set(
            actions())


def test_a_new_study_s_invitations_reach_the_baseline_questionnaire(
        app: Flask, draft: FlaskClient) -> None:
    set_up_completely(app, draft)
    base = f"/coordinator/{SLUG}/setup"
    submit(draft, f"{base}/open", {}, page=f"{base}/", csrf_name="open-csrf_token")
    with app.app_context():
        study = study_of(app)
        issued = invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")[0]
        db.session.commit()
    trainee = TraineeDriver(app.test_client(), issued.token)
    consent = text(trainee.open("/consent"))
    assert "<strong>Taking part</strong> is voluntary." in consent
    assert "Protocol P-2027-01 · Ethics approval REC 27/0042" in consent
    page = trainee.consent()
    assert page.status_code == 200 and "/q/baseline/" in page.request.path


def test_membership_is_a_role_in_the_new_study_only(app: Flask, draft: FlaskClient) -> None:
    with app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == staff_email("coordinator"))).one()
        roles = {(m.study.slug, m.role) for m in db.session.scalars(
            select(Membership).where(Membership.user_id == user.id))}
        assert roles == {("demo", Role.COORDINATOR), (SLUG, Role.COORDINATOR)}


@pytest.mark.parametrize(("path", "data"), [
    ("/details", {"title": "Forged"}), ("/arms", ARMS), ("/module", PAGE),
    ("/consent", CONSENT), ("/schedule", SCHEDULE), ("/open", {}),
])
def test_set_up_posts_without_the_csrf_token_change_nothing(
        app: Flask, draft: FlaskClient, path: str, data: dict[str, str]) -> None:
    response = draft.post(f"/coordinator/{SLUG}/setup{path}", data=data)
    assert response.status_code == 400
    with app.app_context():
        study = study_of(app)
        assert study.title == "Meeting as equals 2027" and study.block_sizes == "2,4,6"
        assert not study.module_pages and study.current_consent is None
        assert study.intervention_period_days == 14
        assert actions() == ["study_created", "staff_account"]


def test_a_short_name_taken_at_the_same_moment_is_refused_not_a_500(
        app: Flask, coordinator: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another study takes the short name between the checks and the insert."""
    real = study_setup.create_study

    def create_as_another_commits(session: Any, spec: StudySpec, library: Any, *,
                                  actor: str) -> Study:
        study = real(session, StudySpec(slug="x-" + spec.slug, title=spec.title,
                                        consent_text=""), library, actor=actor)
        study.slug = "taken"  # what the unique constraint sees when the other one won
        session.flush()
        return study

    with app.app_context():
        create_study(db.session, StudySpec(slug="taken", title="First", consent_text="x"),
                     app.extensions["allport.instruments"], actor="test")
        db.session.commit()
    monkeypatch.setattr(study_setup, "create_study", create_as_another_commits)
    response = submit(coordinator, "/coordinator/new-study", {"slug": "fresh",
                                                              "title": "Second"})
    assert response.status_code == 422 and 'id="slug-error"' in text(response)
    assert "exists already" in text(response) and 'value="Second"' in text(response)
    with app.app_context():
        assert [s.title for s in db.session.scalars(select(Study).where(
            Study.slug.in_(["taken", "fresh", "x-fresh"])))] == ["First"]


def test_every_problem_of_a_new_study_links_to_the_page_that_fixes_it(
        app: Flask, draft: FlaskClient) -> None:
    from study.coordinator.setup import SECTIONS
    from study.services.studies import recruitment_problems

    with app.app_context():
        study = study_of(app)
        study.strata_factors = "nosuch.item"
        study.block_sizes = "3"
        problems = recruitment_problems(study, app.extensions["allport.instruments"])
        db.session.rollback()
    sections = {problem: study_setup.section_for(problem) for problem in problems}
    assert set(sections.values()) <= set(SECTIONS)
    assert sections["Block sizes: block size 3 is not a positive multiple of the allocation "
                    "ratio sum 2."] == "arms"
    assert any(section == "arms" and problem.startswith("Strata factor")
               for problem, section in sections.items())
    assert {"questionnaires", "consent", "module", "plan"} <= set(sections.values())
