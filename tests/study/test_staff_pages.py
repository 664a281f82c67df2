"""What the staff pages show around their content: navigation by role, hints tied to inputs."""

from __future__ import annotations

import re

import pytest

from tests.helpers import Demo, StaffClient

NAV_RE = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)


@pytest.mark.parametrize(("who", "links"), [
    ("coordinator", {"Coordinate"}),
    ("researcher", {"Research"}),
    ("admin", {"Coordinate", "Research", "Admin"}),
    ("outsider", set()),
])
def test_the_navigation_links_only_to_pages_of_a_role_the_user_has(
        demo: Demo, staff_client: StaffClient, who: str, links: set[str]) -> None:
    html = staff_client(who).get("/", follow_redirects=True).get_data(as_text=True)
    nav = NAV_RE.search(html)
    assert nav is not None
    shown = {name for name in ("Coordinate", "Research", "Admin") if f">{name}</a>" in nav[1]}
    assert shown == links


def test_a_hint_is_read_with_the_input_it_explains(demo: Demo, staff_client: StaffClient
                                                   ) -> None:
    html = staff_client("researcher").get("/researcher/demo/analysis").get_data(as_text=True)
    for field in ("population", "outcome"):
        assert f'id="{field}-hint"' in html
        assert re.search(rf'id="{field}"\s+aria-describedby="{field}-hint"', html), field
