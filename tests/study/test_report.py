"""The PDF study report (DESIGN §12): its text holds the analysis JSON's numbers, as formatted."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pypdf
import pytest
from flask import Flask

from study.extensions import db
from study.services import consort, report
from study.services.analysis_service import run_analysis
from study.services.report_format import interval, number, p_value, share
from tests.helpers import Demo, StaffClient


def pdf_text(pdf: bytes) -> str:
    """Every page's text, whitespace collapsed so table cells and wrapped lines compare."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def consort_numbers(counts: dict[str, Any], arms: list[str], *, followup: bool) -> list[int]:
    """The diagram's "(n = …)" in reading order: enrolment, then each stage arm by arm.

    Follow-up completions are counted only when the study has a follow-up questionnaire.
    """
    enrolment = counts["enrolment"]
    numbers = [enrolment["invited"], sum(enrolment["excluded"].values()),
               *enrolment["excluded"].values(),
               sum(counts["allocation"][code]["allocated"] for code in arms)]
    for code in arms:
        row = counts["allocation"][code]
        numbers += [row["allocated"], row["received"], sum(row["not_received"].values()),
                    *row["not_received"].values()]
    for code in arms:
        row = counts["follow_up"][code]
        numbers += [row["post_done"], *([row["followup_done"]] if followup else []),
                    sum(row["lost"].values()),
                    *row["lost"].values(), sum(row["discontinued"].values()),
                    *row["discontinued"].values()]
    for code in arms:
        row = counts["analysis"][code]
        numbers += [row["analysed"], sum(row["excluded"].values()), *row["excluded"].values()]
    return numbers


def test_the_report_holds_every_section_the_analysis_numbers_and_the_consort_counts(
        simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        study.title = "Demo trial"  # the demo's own title says "contact study"
        db.session.flush()
        pdf = report.build_report(db.session, study, simulated_demo.library)
        result = run_analysis(db.session, study, simulated_demo.library).result
        counts = consort.consort_counts(db.session, study)
        arm_names = [(arm.key, arm.name) for arm in study.arms]
        has_followup = study.timepoint("followup") is not None
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)

    for _, heading in report.SECTIONS:
        assert heading in text, heading
    assert result["sap"]["sha256"] in text

    for name, outcome in result["outcomes"].items():
        adjusted = outcome["ancova"]["adjusted_difference"]
        for figure in (number(adjusted["estimate"]),
                       interval(adjusted["ci_low"], adjusted["ci_high"]),
                       number(outcome["d_ppc2"]["estimate"]),
                       interval(outcome["d_ppc2"]["ci_low"], outcome["d_ppc2"]["ci_high"]),
                       number(outcome["hedges_g_post"]["estimate"]),
                       number(outcome["mixed_anova"]["interaction"]["F"]),
                       number(outcome["lmm"]["interaction"]["estimate"]),
                       p_value(outcome["ancova"]["arm"]["p"])):
            assert figure in text, (name, figure)
        if name in result["multiplicity"]["family"]:
            assert p_value(outcome["ancova"]["arm"]["p_holm"]) in text
    for row in result["baseline"]["rows"]:
        for cell in row["arms"].values():
            if "mean" in cell:
                assert f"{number(cell['mean'])} ({number(cell['sd'])})" in text
            elif cell.get("total"):  # a background item's level: its count and percentage
                assert share(cell["n"], cell["total"]) in text

    diagram = text[text.index("Assessed for eligibility"):]
    drawn = [int(n) for n in re.findall(r"\(n = (\d+)\)", diagram)]
    expected = consort_numbers(counts, list(result["arm_labels"]), followup=has_followup)
    assert not has_followup and "Follow-up questionnaire completed" not in diagram
    assert drawn[:len(expected)] == expected

    # The demo is blinded: no arm key or name anywhere, Arm A and Arm B instead.
    assert "Arm A" in text and "Arm B" in text
    # "Prior contact" is a background item (contact with people with lived experience), not an arm.
    unrelated = re.sub(r"prior[\s_]+contact", "", text, flags=re.IGNORECASE)
    for key, name in arm_names:
        assert key not in unrelated.lower() and name not in unrelated


def test_the_report_refuses_files_and_the_network() -> None:
    fetch = report.inline_only_fetcher()
    for url in ("file:///etc/passwd", "http://example.org/x.png", "https://example.org/"):
        with pytest.raises(ValueError, match="refuses"):
            fetch(url)
    assert fetch("data:text/plain,ok").read() == b"ok"
    with pytest.raises(report.ReportUnavailable, match="file:///etc/hostname"):
        report.render_pdf('<img src="file:///etc/hostname">')


def test_report_command_writes_a_pdf_and_names_an_unknown_study(
        demo: Demo, tmp_path: Path) -> None:
    runner = demo.app.test_cli_runner()
    out = tmp_path / "report.pdf"
    done = runner.invoke(args=["report", "demo", "--out", str(out), "--paper", "letter"])
    assert done.exit_code == 0, done.output
    assert out.read_bytes().startswith(b"%PDF")
    page = pypdf.PdfReader(out).pages[0]
    assert round(float(page.mediabox.width)) == 612  # US Letter, 8.5 in

    unknown = runner.invoke(args=["report", "nosuch", "--out", str(tmp_path / "x.pdf")])
    assert unknown.exit_code == 1
    assert unknown.output.strip().splitlines() == ["Error: No study with the slug 'nosuch'."]
    assert not (tmp_path / "x.pdf").exists()


def test_researchers_download_the_report_coordinators_do_not(
        app: Flask, demo: Demo, staff_client: StaffClient) -> None:
    researcher = staff_client("researcher")
    overview = researcher.get("/researcher/demo/").get_data(as_text=True)
    assert "/researcher/demo/report.pdf" in overview
    response = researcher.get("/researcher/demo/report.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "Participant flow (CONSORT)" in pdf_text(response.data)
    assert staff_client("coordinator").get("/researcher/demo/report.pdf").status_code == 403


def test_a_figure_the_analysis_could_not_compute_is_a_dash_and_its_reason(
        simulated_demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Shapiro–Wilk beyond 5,000 residuals: {"error": …} in place of the figure's numbers."""
    real = report.run_analysis

    def with_errors(*args: Any, **kwargs: Any) -> Any:
        done = real(*args, **kwargs)
        for outcome in done.result["outcomes"].values():
            outcome["assumptions"]["shapiro_wilk"] = {"error": "too many residuals for W"}
            outcome["d_ppc2"] = {"error": "the pre score does not vary"}
        return done

    monkeypatch.setattr(report, "run_analysis", with_errors)
    with simulated_demo.app.app_context():
        text = pdf_text(report.build_report(db.session, simulated_demo.study(),
                                            simulated_demo.library))
    assert "assumptions.shapiro_wilk: too many residuals for W" in text
    assert "d_ppc2: the pre score does not vary" in text
    assert "Assumption checks" in text and "Definitions of the statistics" in text
