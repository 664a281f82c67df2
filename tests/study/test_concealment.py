"""Concealment from coordinators (DESIGN §4): totals only while recruiting, the split once closed;
a trainee's own arm always; researchers and the API keep their blinded split."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import func, select

from study.extensions import db
from study.models import Allocation, Arm, Participant
from study.services.studies import close_recruitment
from tests.helpers import Demo, StaffClient

ARM_NAMES = ("Education module", "Contact session with a peer specialist")


def allocated_by_arm(demo: Demo) -> dict[str, int]:
    with demo.app.app_context():
        return dict(db.session.execute(
            select(Arm.name, func.count(Allocation.id)).join(Allocation)
            .group_by(Arm.name)).all())


def allocation_table(html: str) -> str:
    match = re.search(r"<caption>Allocated</caption>.*?</table>", html, re.S)
    assert match is not None, html
    return match.group(0)


def pages(client: FlaskClient) -> list[str]:
    """The coordinator's list of studies and the demo study's overview."""
    return [client.get(url).get_data(as_text=True)
            for url in ("/coordinator/", "/coordinator/demo/")]


def test_coordinators_see_totals_only_while_recruiting(simulated_demo: Demo,
                                                       staff_client: StaffClient) -> None:
    by_arm = allocated_by_arm(simulated_demo)
    assert len(by_arm) == 2 and all(by_arm.values())
    coordinator = staff_client("coordinator")
    for html in pages(coordinator):
        for name in ARM_NAMES:
            assert name not in html
        table = allocation_table(html)
        assert re.findall(r'<td class="num">(\d+)</td>', table) == [str(sum(by_arm.values()))]
        assert "hidden until recruitment closes" in html


def test_coordinators_see_the_split_once_recruitment_closes(simulated_demo: Demo,
                                                            staff_client: StaffClient) -> None:
    with simulated_demo.app.app_context():
        close_recruitment(db.session, simulated_demo.study(), actor="test")
        db.session.commit()
    by_arm = allocated_by_arm(simulated_demo)
    coordinator = staff_client("coordinator")
    for html in pages(coordinator):
        table = allocation_table(html)
        for name, count in by_arm.items():
            assert re.search(rf'<th scope="row">{name}</th><td class="num">{count}</td>', table)
        assert "hidden until recruitment closes" not in html


def test_a_coordinator_still_sees_a_trainees_own_arm(simulated_demo: Demo,
                                                     staff_client: StaffClient) -> None:
    with simulated_demo.app.app_context():
        code, arm = db.session.execute(
            select(Participant.code, Arm.name).join(Allocation, Allocation.participant_id
                                                    == Participant.id)
            .join(Arm, Allocation.arm_id == Arm.id)).first()
    html = staff_client("coordinator").get(f"/coordinator/demo/participants/{code}")
    assert f"<th scope=\"row\">Arm</th><td>{arm}</td>" in html.get_data(as_text=True)


def test_researchers_and_the_api_keep_the_blinded_split(simulated_demo: Demo,
                                                        staff_client: StaffClient) -> None:
    html = staff_client("researcher").get("/researcher/demo/").get_data(as_text=True)
    assert "Arm A" in html and "Arm B" in html
