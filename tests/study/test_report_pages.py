"""The printed report (DESIGN §12) page by page: contents, paper, running header, arms, audit."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pypdf
from flask import Flask
from sqlalchemy import select

from study.extensions import db
from study.models import AuditEvent, User
from study.services import api_tokens, report, trial
from tests.helpers import Demo, StaffClient, staff_email

SNAPSHOT = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
# A4 and US Letter in points, rounded as pypdf gives them.
PAGE_SIZES = {"a4": (595, 842), "letter": (612, 792)}


def page_lines(pdf: bytes) -> list[list[str]]:
    """Each page's text lines, stripped, empty lines dropped."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [[line.strip() for line in page.extract_text().splitlines() if line.strip()]
            for page in reader.pages]


def contents(pages: list[list[str]]) -> tuple[int, dict[str, int]]:
    """The index of the contents page and the page number it prints for each heading."""
    index = next(i for i, lines in enumerate(pages) if lines and lines[0] == "Contents")
    printed = {}
    for line in pages[index][1:]:
        entry = re.fullmatch(r"(.+?)\s*\.{3,}\s*(\d+)", line)
        if entry:
            printed[entry.group(1)] = int(entry.group(2))
    return index, printed


def assert_contents_match_the_pages(pdf: bytes) -> list[list[str]]:
    """Every section of ``report.SECTIONS`` starts (its heading on a line of its own) on the page
    the contents give, after the contents and in order."""
    pages = page_lines(pdf)
    index, printed = contents(pages)
    assert list(printed) == [heading for _, heading in report.SECTIONS]
    start = index + 1
    for heading, number in printed.items():
        found = next((i for i in range(start, len(pages)) if heading in pages[i]), None)
        assert found is not None, f"{heading!r} is not a heading after the contents"
        assert number == found + 1, (heading, number, found + 1)
        start = found
    return pages


def build(demo: Demo, paper: str = "a4") -> bytes:
    with demo.app.app_context():
        return report.build_report(db.session, demo.study(), demo.library, paper=paper,
                                   now=SNAPSHOT)


def test_the_contents_give_the_page_where_each_section_starts_and_pages_are_headed(
        simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        title = simulated_demo.study().title
    pages = assert_contents_match_the_pages(build(simulated_demo))
    total = len(pages)
    assert total > 5
    header = f"{title} Data snapshot 2026-03-04 05:06 UTC"
    for number, lines in enumerate(pages, start=1):
        assert lines[-1] == f"Page {number} of {total}", lines[-1]
        # The title page carries no running header; every other page does.
        assert (header in lines) == (number > 1), (number, lines[-3:])


def test_a_report_without_data_still_lists_and_prints_every_section(demo: Demo) -> None:
    pages = assert_contents_match_the_pages(build(demo))
    text = " ".join(" ".join(lines) for lines in pages)
    assert "Not available: there are no data to analyse yet." in text


def test_a4_and_letter_give_their_page_sizes_on_every_page(demo: Demo) -> None:
    for paper, size in PAGE_SIZES.items():
        reader = pypdf.PdfReader(io.BytesIO(build(demo, paper)))
        sizes = {(round(float(page.mediabox.width)), round(float(page.mediabox.height)))
                 for page in reader.pages}
        assert sizes == {size}, paper


def test_an_unblinded_report_names_the_real_arms(simulated_demo: Demo) -> None:
    """The blinded report names no arm (tests/study/test_report.py); unblinded, it does."""
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        trial.close_recruitment(db.session, study, actor="test")
        trial.lock_data(db.session, study, actor="test")
        trial.unblind(db.session, study, reason="primary analysis done", actor="test")
        db.session.commit()
        names = [arm.name for arm in study.arms]
    pages = page_lines(build(simulated_demo))
    text = " ".join(" ".join(" ".join(lines) for lines in pages).split())
    assert "Unblinded report" in text and "Blinded report" not in text
    # (a column heading "Arm" before "Allocated" is not "Arm A")
    assert not re.search(r"\bArm [AB]\b", text), re.findall(r".{60}\bArm [AB]\b.{30}", text)
    for name in names:
        assert f"Allocated to {name}" in text  # the CONSORT diagram
        assert text.count(name) >= 5, name  # and the tables
    assert "Module completed" in text and "Session attended" in text


def audit_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "export").order_by(AuditEvent.id)))


def test_the_researcher_page_download_of_the_report_is_audited(
        app: Flask, demo: Demo, staff_client: StaffClient) -> None:
    researcher = staff_client("researcher")
    response = researcher.get("/researcher/demo/report.pdf?paper=letter")
    assert response.status_code == 200
    with app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == staff_email("researcher"))).one()
        study_id = demo.study().id
    [event] = [e for e in audit_events(app) if e.details.get("table") == "report"]
    assert event.actor == f"user:{user.id}" and event.study_id == study_id
    assert event.details == {"table": "report", "format": "pdf", "paper": "letter",
                             "sha256": hashlib.sha256(response.data).hexdigest()}


def test_the_api_download_of_the_report_is_audited(app: Flask, demo: Demo) -> None:
    with app.app_context():
        user = db.session.scalars(select(User).where(
            User.email == "researcher@allport.example")).one()
        _, raw = api_tokens.issue_token(db.session, user, "report", actor="test")
        db.session.commit()
        user_id = user.id
    response = app.test_client().get("/api/v1/studies/demo/report.pdf",
                                     headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    [event] = [e for e in audit_events(app) if e.details.get("table") == "report"]
    assert event.actor == f"user:{user_id}"
    assert event.details["paper"] == "a4"
    assert event.details["sha256"] == hashlib.sha256(response.data).hexdigest()


def test_a_cli_report_is_audited_once_written(demo: Demo, tmp_path: Path) -> None:
    """``flask report`` records who took which report away (actor "cli"), as downloads do;
    a run that could not write its file records nothing."""
    runner = demo.app.test_cli_runner()
    out = tmp_path / "report.pdf"
    for extra in ([], ["--cached"]):
        done = runner.invoke(args=["report", "demo", "--out", str(out), "--paper", "letter",
                                   *extra])
        assert done.exit_code == 0, done.output
    with demo.app.app_context():
        study_id = demo.study().id
    events = [e for e in audit_events(demo.app) if e.details.get("table") == "report"]
    assert [e.actor for e in events] == ["cli", "cli"]
    assert all(e.study_id == study_id for e in events)
    assert events[-1].details == {"table": "report", "format": "pdf", "paper": "letter",
                                  "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}

    unwritable = runner.invoke(args=["report", "demo", "--out",
                                     str(tmp_path / "no-such-folder" / "report.pdf")])
    assert unwritable.exit_code == 1
    assert "Cannot write" in unwritable.output
    assert len([e for e in audit_events(demo.app) if e.details.get("table") == "report"]) == 2


def test_the_title_page_gives_the_protocol_and_ethics_numbers_or_says_none_are_recorded(
        app: Flask, demo: Demo) -> None:
    with app.app_context():
        study = demo.study()
        title_page = " ".join(page_lines(report.build_report(db.session, study, demo.library))[0])
        assert "Protocol number DEMO-2026-001" in title_page
        assert "Ethics approval IRB-DEMO-26-0417" in title_page
        study.protocol_number = ""
        study.ethics_approval_number = "  "
        title_page = " ".join(page_lines(report.build_report(db.session, study, demo.library))[0])
        assert "Protocol number not recorded" in title_page
        assert "Ethics approval not recorded" in title_page
        db.session.rollback()
