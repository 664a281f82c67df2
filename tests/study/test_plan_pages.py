"""The analysis plan page: the same plan for a study's coordinators and researchers."""

from __future__ import annotations

import pytest
from flask import Flask

from study.extensions import db
from study.services import sap
from study.services.studies import get_study
from tests.helpers import Demo, StaffClient


@pytest.mark.parametrize("role", ["coordinator", "researcher"])
def test_the_plan_page_shows_the_plan_its_hash_and_every_version(
        demo: Demo, app: Flask, staff_client: StaffClient, role: str) -> None:
    with app.app_context():
        study = get_study(db.session, "demo")
        first = sap.current_plan(db.session, study)
        assert first is not None
        changed = {**first.plan, "alpha": 0.01,
                   "holm_family": ["allport-stigma.total", "allport-stigma.beliefs"]}
        second = sap.set_plan(db.session, study, demo.library, changed,
                              reason="Fewer secondary outcomes, agreed with the ethics board.",
                              actor="test")
        db.session.commit()
        digests = first.sha256, second.sha256
    client = staff_client(role)
    response = client.get(f"/{role}/demo/plan")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<title>Analysis plan · " in html
    assert f'href="/{role}/demo/plan" aria-current="page">Analysis plan</a>' in html
    assert "Version 2" in html and "Frozen " in html
    for text in ("Primary outcome", "intergroup-anxiety.total", "Primary time point",
                 "Intention to treat", "module completed", "session attended", "Covariates",
                 "Holm family", "allport-stigma.beliefs", "<td>0.01</td>",
                 "multiple imputation of missing post scores", "m = 50 imputations, seed 20261128",
                 "Fewer secondary outcomes, agreed with the ethics board."):
        assert text in html, text
    assert all(digest in html for digest in digests)
    assert "frozen and cannot be edited on this site" in html
    assert 'method="post"' not in html.split("<main", 1)[1]


def test_the_study_navs_link_to_the_plan(demo: Demo, staff_client: StaffClient) -> None:
    assert 'href="/coordinator/demo/plan"' in staff_client("coordinator").get(
        "/coordinator/demo/").get_data(as_text=True)
    assert 'href="/researcher/demo/plan"' in staff_client("researcher").get(
        "/researcher/demo/").get_data(as_text=True)


def test_a_study_without_a_plan_says_what_will_happen(
        demo: Demo, app: Flask, staff_client: StaffClient) -> None:
    from study.services.studies import StudySpec, create_study

    with app.app_context():
        create_study(db.session, StudySpec(slug="draft", title="Draft", consent_text="x"),
                     demo.library, actor="test")
        db.session.commit()
    html = staff_client("researcher", study="draft").get(
        "/researcher/draft/plan").get_data(as_text=True)
    assert "This study has no analysis plan yet" in html
