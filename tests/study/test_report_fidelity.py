"""The report's intervention delivery and fidelity section (DESIGN §12, §13): session fidelity
per session and in summary, certification, supervision F/R/P against the thresholds."""

from __future__ import annotations

import re

from sqlalchemy import select

from study.extensions import db
from study.models import ContactSession, FidelityRating, SupervisionRecord
from study.services import report
from study.services.report_format import number
from tests.helpers import Demo
from tests.study.test_report import pdf_text


def delivery_section(text: str) -> str:
    """The section's text: from its heading (the last mention, after the contents) to Methods."""
    start = text.rindex("Intervention delivery and fidelity")
    return text[start:text.index("Methods", start)]


def test_the_report_shows_each_sessions_fidelity_and_the_supervision_against_thresholds(
        simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        study.title = "Demo trial"  # the demo's own title, in every page's footer, says "contact"
        db.session.flush()
        pdf = report.build_report(db.session, study, simulated_demo.library)
        ratings = list(db.session.execute(
            select(ContactSession.starts_at, FidelityRating.conditions,
                   FidelityRating.peer_practice, FidelityRating.fidelity)
            .join(ContactSession).where(FidelityRating.superseded_at.is_(None))
            .order_by(ContactSession.starts_at)))
        records = list(db.session.scalars(select(SupervisionRecord)))
        arm_names = [(arm.key, arm.name) for arm in study.arms]
    assert len(ratings) >= 2 and records, "the simulated demo rates sessions and supervises"
    section = delivery_section(pdf_text(pdf))

    assert "Session fidelity against Allport's conditions" in section
    for starts_at, conditions, peer_practice, fidelity in ratings:
        verdict = "yes" if fidelity >= 0.8 else "no"
        row = (f"{starts_at:%Y-%m-%d} Alex Moreno, CPSS {number(conditions)} "
               f"{number(peer_practice)} {number(fidelity)} {verdict}")
        assert row in section, row
    met = sum(f >= 0.8 for *_, f in ratings)
    mean = sum(f for *_, f in ratings) / len(ratings)
    assert "Rated sessions, mean" in section
    assert f"{number(mean)} {met} of {len(ratings)}" in section
    assert "(the analysis plan sets no fidelity threshold; 0.80 is shown)" in section

    assert "Peer facilitators: certification and supervision" in section
    f_values = [r.role_fidelity for r in records if r.role_fidelity is not None]
    r_values = [r.risk_oversight for r in records if r.risk_oversight is not None]
    p_values = [r.reflective_practice for r in records if r.reflective_practice is not None]
    cells = " ".join(
        f"{number(sum(values) / len(values))} ({sum(v < bar for v in values)}/{len(values)})"
        for values, bar in ((f_values, 0.8), (r_values, 0.7), (p_values, 0.8)))
    assert re.search(rf"Alex Moreno, CPSS \d{{4}}-\d\d-\d\d \d+ \(\d+\) {len(records)} "
                     rf"{re.escape(cells)}", section), (cells, section)
    assert "F 0.80, R 0.70, P 0.80" in section
    assert "No fidelity ratings are recorded" not in section

    # Blinded: the sessions' section names no arm and counts no trainee.
    for key, name in arm_names:
        assert key not in section.lower() and name not in section


def test_the_report_says_plainly_when_nothing_is_recorded(demo: Demo) -> None:
    with demo.app.app_context():
        pdf = report.build_report(db.session, demo.study(), demo.library)
    section = delivery_section(pdf_text(pdf))
    assert "No fidelity ratings are recorded" in section
    assert "No supervision records are recorded" in section
    assert "Session fidelity against Allport's conditions" not in section
