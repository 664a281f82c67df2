"""The report cache (issue 10): built once per state of the data, as files, one build at a time."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from study import audit
from study.extensions import db
from study.models import (
    Allocation,
    Answer,
    Booking,
    Invitation,
    ModuleProgress,
    Participant,
    Response,
    ResponseStatus,
    Study,
    Timepoint,
    User,
)
from study.services import api_tokens, report, report_cache, sap
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

    cached = sorted(report_cache.cache_dir(app.instance_path).rglob("*.pdf"))
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


def _key(study: Study, paper: str = "a4") -> str:
    db.session.flush()
    return report_cache.cache_key(db.session, study, paper=paper,
                                  versions=report.software_versions())


def _unanswered(study: Study) -> tuple[Participant, Timepoint, str]:
    """A participant, time point and instrument of ``study`` with no response yet."""
    answered = set(db.session.execute(
        select(Response.participant_id, Response.timepoint_id, Response.instrument_id)).all())
    for participant in db.session.scalars(
            select(Participant).where(Participant.study_id == study.id)
            .order_by(Participant.code)):
        for timepoint in study.timepoints:
            for pinned in timepoint.instruments:
                if (participant.id, timepoint.id, pinned.instrument_id) not in answered:
                    return participant, timepoint, pinned.instrument_id
    raise AssertionError("every questionnaire is answered")


def test_every_kind_of_change_the_outputs_print_changes_the_key(
        simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        library = simulated_demo.library
        seen: list[str] = [_key(study)]
        assert _key(study) == seen[0]  # unchanged data, unchanged key

        def changed(what: str) -> None:
            key = _key(study)
            assert key not in seen, what
            seen.append(key)

        answer = db.session.scalars(select(Answer).order_by(Answer.id)).first()
        assert answer is not None
        answer.value = answer.value + "0"  # an edited row: same counts, same ids
        changed("a corrected answer")
        db.session.add(Answer(response_id=answer.response_id, item_key="zz_new", value="1"))
        changed("a new answer")

        participant, timepoint, instrument = _unanswered(study)
        draft = Response(participant_id=participant.id, timepoint_id=timepoint.id,
                         instrument_id=instrument, instrument_version="1.0",
                         status=ResponseStatus.IN_PROGRESS)
        db.session.add(draft)
        db.session.flush()
        db.session.add(Answer(response_id=draft.id, item_key="q1", value="3"))
        assert _key(study) == seen[-1]  # a draft is printed nowhere
        draft.status = ResponseStatus.SUBMITTED
        draft.submitted_at = datetime.now(UTC)
        changed("a submitted draft")

        withdrawing = db.session.scalars(
            select(Participant).where(Participant.study_id == study.id,
                                      Participant.data_withdrawn.is_(False))
            .order_by(Participant.code)).first()
        assert withdrawing is not None
        withdrawing.withdrawn_at = datetime.now(UTC)
        changed("a withdrawal")
        withdrawing.data_withdrawn = True
        changed("data withdrawn")

        booking = db.session.scalars(select(Booking).order_by(Booking.id)).first()
        assert booking is not None
        booking.attended = not booking.attended
        changed("attendance")
        booking.minutes_attended = (booking.minutes_attended or 0) + 5
        changed("minutes attended")

        plan = sap.current_plan(db.session, study)
        assert plan is not None and plan.frozen_at is not None
        sap.set_plan(db.session, study, library, dict(plan.plan, alpha=0.01),
                     reason="tighter alpha", actor="test")
        changed("a plan version")

        study.blinded = False
        study.unblinded_at = datetime.now(UTC)
        changed("unblinding")
        assert _key(study, "letter") not in seen


def test_what_trainees_touch_without_changing_any_output_keeps_the_key(
        simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        before = _key(study)
        invitation = db.session.scalars(select(Invitation).order_by(Invitation.id)).first()
        assert invitation is not None
        invitation.last_used_at = datetime.now(UTC)  # every page a trainee opens
        progress = db.session.scalars(select(ModuleProgress)).first()
        assert progress is not None
        progress.furthest_page += 1
        audit.record(db.session, "export", actor="test", study=study, table="scores", rows=1)
        assert _key(study) == before


def test_the_code_fingerprint_is_part_of_the_key(
        simulated_demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, text in ((first, "<p>{{ x }}</p>"), (second, "<p>{{ y }}</p>")):
        folder.mkdir()
        (folder / "report.html").write_text(text)
    assert report_cache.code_fingerprint(first) != report_cache.code_fingerprint(second)
    assert report_cache.code_fingerprint(first) == report_cache.code_fingerprint(first)
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        before = _key(study)
        monkeypatch.setattr(report_cache, "app_code_fingerprint", lambda: "another build")
        assert _key(study) != before


def test_an_allocation_leaving_its_intervention_period_changes_the_report_key(
        simulated_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """CONSORT's "still within the intervention period" depends on the clock."""
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        allocation = db.session.scalars(select(Allocation).order_by(Allocation.id)).first()
        assert allocation is not None
        allocation.allocated_at = datetime.now(UTC)
        before = _key(study)
        later = datetime.now(UTC) + timedelta(days=(study.intervention_period_days or 0) + 1)
        monkeypatch.setattr(report_cache, "utcnow", lambda: later)
        assert _key(study) != before


def test_two_requests_at_once_build_the_report_once(tmp_path: Path) -> None:
    builds: list[int] = []
    results: list[bytes] = []
    entry = report_cache.Entry(tmp_path, "demo", "a4", "k" * 64, ".pdf")

    def build() -> bytes:
        builds.append(1)
        time.sleep(0.3)  # long enough for the other thread to reach the lock
        return b"%PDF-once"

    def ask() -> None:
        results.append(entry.fetch(build))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [1]
    assert results == [b"%PDF-once"] * 4
    assert [path.name for path in (tmp_path / "demo").glob("*.pdf")] == ["a4-" + "k" * 64 + ".pdf"]
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("where", ["web", "api"])
def test_a_write_during_a_build_neither_waits_nor_reaches_the_report(
        app: Flask, simulated_demo: Demo, staff_client: StaffClient, renders: list[str],
        monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """The key and the build read one snapshot without the write lock (issue 10).

    In the middle of a build (after the key, before the CONSORT counts are read), another
    connection invites a trainee and commits: it is not kept waiting (on SQLite the build
    holds no write lock), the report counts the trainees of the snapshot its key was computed
    from, and the next download, whose key sees the new trainee, is built again with them.
    """
    from study.services import consort, invitations
    from tests.conftest import in_thread

    counted: list[int] = []
    original = consort.consort_counts

    def invite_meanwhile() -> None:
        with app.app_context():
            study = simulated_demo.study()
            invitations.invite(db.session, study, study.cohorts[0], 1, actor="test")
            db.session.commit()

    def counts_during_a_write(session: object, study: Study, **kwargs: object) -> object:
        if not counted:
            worker = threading.Thread(target=in_thread, args=(invite_meanwhile,))
            worker.start()
            worker.join(timeout=20)
            assert not worker.is_alive(), "the write waited for the report's build"
        done = original(session, study, **kwargs)  # type: ignore[arg-type]
        counted.append(done["enrolment"]["invited"])
        return done

    monkeypatch.setattr(consort, "consort_counts", counts_during_a_write)
    with app.app_context():
        invited = db.session.scalar(select(func.count()).select_from(Participant))
    if where == "web":
        client = staff_client("researcher")
        url, headers = "/researcher/demo/report.pdf", {}
    else:
        client = app.test_client()
        with app.app_context():
            user = db.session.scalars(select(User).where(
                User.email == "researcher@allport.example")).one()
            _, raw = api_tokens.issue_token(db.session, user, "report", actor="test")
            db.session.commit()
        headers = {"Authorization": f"Bearer {raw}"}
        url = "/api/v1/studies/demo/report.pdf"
    first = client.get(url, headers=headers)
    assert first.status_code == 200
    assert counted == [invited]  # the snapshot's trainees, not the one invited meanwhile
    cached = list(report_cache.cache_dir(app.instance_path).rglob("*.pdf"))
    assert len(cached) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Participant)) == invited + 1
        db.session.rollback()
    second = client.get(url, headers=headers)
    assert second.status_code == 200
    assert counted == [invited, invited + 1]  # a new key: built again, with the new trainee
    assert len(renders) == 2
    assert second.data != first.data


def test_old_files_of_a_study_are_pruned_and_an_open_one_stays_readable(tmp_path: Path) -> None:
    def entry(slug: str, variant: str, number: int) -> report_cache.Entry:
        return report_cache.Entry(tmp_path, slug, variant, f"{number:064x}", ".pdf")

    entry("demo-2", "a4", 99).store(b"another study")
    entry("demo", "letter", 98).store(b"another paper")
    entry("demo", "a4", 0).store(b"oldest")
    reading = entry("demo", "a4", 0).path.open("rb")  # a download in progress
    for number in range(1, 5):
        time.sleep(0.01)  # distinct modification times
        entry("demo", "a4", number).store(f"build {number}".encode())
    kept = sorted(path.name for path in (tmp_path / "demo").glob("a4-*.pdf"))
    assert kept == [entry("demo", "a4", n).path.name for n in (3, 4)]
    assert reading.read() == b"oldest"  # unlinked, still readable by whoever has it open
    reading.close()
    assert entry("demo", "a4", 0).read() is None  # a later request sees a miss and rebuilds
    assert entry("demo", "letter", 98).read() == b"another paper"
    assert entry("demo-2", "a4", 99).read() == b"another study"
    assert report_cache.Entry(tmp_path, "../x", "a4", "0" * 64, ".pdf").folder.parent == tmp_path
