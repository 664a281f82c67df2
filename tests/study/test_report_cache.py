"""The report cache (issue 10): built once per state of the data, as files, one build at a time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from study.extensions import db
from study.models import Answer
from study.services import report, report_cache, sap
from tests.helpers import Demo, StaffClient


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The HTML of every report printed; printing is stubbed, so the tests time the cache only."""
    printed: list[str] = []

    def counting(html: str) -> bytes:
        printed.append(html)
        return f"%PDF-stub {len(printed)}".encode()

    monkeypatch.setattr(report, "render_pdf", counting)
    return printed


def test_a_second_download_with_unchanged_data_is_not_rendered_again(
        app: Flask, simulated_demo: Demo, staff_client: StaffClient,
        renders: list[str]) -> None:
    researcher = staff_client("researcher")
    first = researcher.get("/researcher/demo/report.pdf")
    second = researcher.get("/researcher/demo/report.pdf")
    assert first.status_code == second.status_code == 200
    assert second.data == first.data
    assert len(renders) == 1
    assert researcher.get("/researcher/demo/report.pdf?paper=letter").status_code == 200
    assert len(renders) == 2  # the paper size is part of the key

    cached = sorted(report_cache.cache_dir(app.instance_path).glob("*.pdf"))
    assert len(cached) == 2
    assert all(path.is_relative_to(Path(app.instance_path)) for path in cached)


def test_the_cli_rebuilds_and_refreshes_the_cache_unless_asked_to_reuse_it(
        simulated_demo: Demo, tmp_path: Path, renders: list[str]) -> None:
    runner = simulated_demo.app.test_cli_runner()
    out = tmp_path / "report.pdf"
    for args, expected in ((["report", "demo", "--out", str(out)], 1),
                           (["report", "demo", "--out", str(out)], 2),
                           (["report", "demo", "--out", str(out), "--cached"], 2)):
        done = runner.invoke(args=args)
        assert done.exit_code == 0, done.output
        assert len(renders) == expected
    assert out.read_bytes() == b"%PDF-stub 2"


def test_new_data_a_new_plan_version_and_unblinding_change_the_key(
        simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        library = simulated_demo.library
        seen: set[str] = set()

        def key() -> str:
            db.session.flush()
            return report_cache.cache_key(db.session, study, paper="a4",
                                          versions=report.software_versions())

        seen.add(key())
        assert key() in seen  # unchanged data, unchanged key

        answer = db.session.scalars(select(Answer).order_by(Answer.id)).first()
        assert answer is not None
        answer.value = answer.value + "0"  # an edited row: same counts, same ids
        seen.add(key())
        db.session.add(Answer(response_id=answer.response_id, item_key="zz_new", value="1"))
        seen.add(key())

        plan = sap.current_plan(db.session, study)
        assert plan is not None and plan.frozen_at is not None
        changed = dict(plan.plan, alpha=0.01)
        sap.set_plan(db.session, study, library, changed, reason="tighter alpha", actor="test")
        seen.add(key())

        study.blinded = False
        study.unblinded_at = datetime.now(UTC)
        seen.add(key())
        assert len(seen) == 5
        assert report_cache.cache_key(db.session, study, paper="letter",
                                      versions=report.software_versions()) not in seen


def test_two_requests_at_once_build_the_report_once(tmp_path: Path) -> None:
    builds: list[int] = []
    results: list[bytes] = []

    def build() -> bytes:
        builds.append(1)
        time.sleep(0.3)  # long enough for the other thread to reach the lock
        return b"%PDF-once"

    def ask() -> None:
        results.append(report_cache.cached_pdf(tmp_path, "k" * 64, build))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [1]
    assert results == [b"%PDF-once"] * 4
    assert [path.name for path in tmp_path.glob("*.pdf")] == ["k" * 64 + ".pdf"]
    assert not list(tmp_path.glob("*.tmp"))
