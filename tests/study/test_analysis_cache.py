"""The analysis page and the API served from the report cache (issue 10 item 4; issue 14 item 5)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from study.extensions import db
from study.models import Answer
from study.services import analysis_service, report_cache
from study.services.api_tokens import issue_token
from study.services.staff import get_account
from tests.helpers import Demo, StaffClient


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The population of every whole analysis computed (not read from the cache)."""
    populations: list[str] = []
    compute = analysis_service.analyse_population

    def counting(*args: Any, **kwargs: Any) -> analysis_service.StudyAnalysis:
        populations.append(args[3])
        return compute(*args, **kwargs)

    monkeypatch.setattr(analysis_service, "analyse_population", counting)
    return populations


@pytest.fixture
def token(simulated_demo: Demo) -> str:
    with simulated_demo.app.app_context():
        user = get_account(db.session, "researcher@allport.example")
        _, raw = issue_token(db.session, user, "test", actor="test")
        db.session.commit()
    return raw


def _api(app: Flask, token: str, query: str = "") -> dict[str, Any]:
    response = app.test_client().get(f"/api/v1/studies/demo/analysis{query}",
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def _live(demo: Demo, **options: Any) -> dict[str, Any]:
    with demo.app.app_context():
        result = analysis_service.run_analysis(db.session, demo.study(), demo.library,
                                               **options).result
        db.session.rollback()
    return result


def test_the_api_computes_each_population_once_and_gives_the_live_numbers(
        simulated_demo: Demo, token: str, computed: list[str]) -> None:
    app = simulated_demo.app
    itt = _api(app, token)
    assert _api(app, token) == itt
    assert computed == ["itt"]
    beliefs = _api(app, token, "?outcome=allport-stigma.beliefs")
    assert computed == ["itt"]  # the outcome choice filters the cached result
    per_protocol = _api(app, token, "?population=per_protocol")
    assert computed == ["itt", "per_protocol"]

    computed.clear()
    assert itt == _live(simulated_demo)
    assert beliefs == _live(simulated_demo, outcomes=["allport-stigma.beliefs"])
    assert list(beliefs["outcomes"]) == ["allport-stigma.beliefs"]
    assert per_protocol == _live(simulated_demo, population="per_protocol")
    files = sorted(path.name.split("-")[0] for path in
                   report_cache.cache_dir(app.instance_path, "analysis").rglob("*.json"))
    assert files == ["itt", "per_protocol"]


def test_a_data_change_recomputes_and_a_get_writes_nothing_to_the_database(
        simulated_demo: Demo, token: str, computed: list[str]) -> None:
    app = simulated_demo.app
    before = _api(app, token)
    with app.app_context():
        answer = db.session.scalars(select(Answer).order_by(Answer.id)).first()
        assert answer is not None
        answer.value = "1" if answer.value != "1" else "2"
        db.session.commit()
    after = _api(app, token)
    assert computed == ["itt", "itt"]
    assert after == _live(simulated_demo)
    assert after != before


def test_the_analysis_page_reads_the_cache_the_api_filled(
        simulated_demo: Demo, token: str, staff_client: StaffClient, computed: list[str]) -> None:
    result = _api(simulated_demo.app, token)
    researcher = staff_client("researcher")
    for _ in range(2):
        page = researcher.get("/researcher/demo/analysis")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        for entry in result["outcomes"].values():
            difference = entry["ancova"]["adjusted_difference"]
            assert (f"{difference['estimate']:.2f} ({difference['ci_low']:.2f} to "
                    f"{difference['ci_high']:.2f})").replace("-", "−") in html
        assert html.count("<svg") >= len(result["outcomes"])
    assert computed == ["itt"]


def test_nothing_to_analyse_is_cached_too(
        simulated_demo: Demo, token: str, computed: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def nothing(*_: Any, **__: Any) -> analysis_service.StudyAnalysis:
        computed.append("nothing")
        raise analysis_service.NothingToAnalyse("No data in this population yet.")

    monkeypatch.setattr(analysis_service, "analyse_population", nothing)
    client = simulated_demo.app.test_client()
    for _ in range(2):
        response = client.get("/api/v1/studies/demo/analysis",
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 422
        assert response.get_json()["message"] == "No data in this population yet."
    assert computed == ["nothing"]


def test_bad_parameters_are_refused_before_the_cache(
        simulated_demo: Demo, token: str, computed: list[str]) -> None:
    client = simulated_demo.app.test_client()
    for query, parameter in (("?population=everyone", "population"),
                             ("?outcome=nosuch.total", "outcome")):
        response = client.get(f"/api/v1/studies/demo/analysis{query}",
                              headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 422
        assert response.get_json()["parameter"] == parameter
    assert computed == []
