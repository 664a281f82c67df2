"""What the staff pages show around their content: navigation by role, hints tied to inputs."""

from __future__ import annotations

import re

import pytest

from study.extensions import db
from study.services.demo import seed_demo
from tests.helpers import csrf_from

NAV_RE = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)


@pytest.fixture
def sign_in(app):  # type: ignore[no-untyped-def]
    """A client signed in as one of the demo's accounts: admin, coordinator or researcher."""
    with app.app_context():
        accounts = seed_demo(db.session, app.extensions["allport.instruments"])
        db.session.commit()

    def signed_in(who: str):  # type: ignore[no-untyped-def]
        client = app.test_client()
        email, password = getattr(accounts, who)
        html = client.get("/login").get_data(as_text=True)
        client.post("/login", data={"csrf_token": csrf_from(html), "email": email,
                                    "password": password})
        return client

    return signed_in


@pytest.mark.parametrize(("who", "links"), [
    ("coordinator", {"Coordinate"}),
    ("researcher", {"Research"}),
    ("admin", {"Coordinate", "Research", "Admin"}),
])
def test_the_navigation_links_only_to_pages_of_a_role_the_user_has(sign_in, who, links) -> None:  # type: ignore[no-untyped-def]
    html = sign_in(who).get("/", follow_redirects=True).get_data(as_text=True)
    nav = NAV_RE.search(html)
    assert nav is not None
    shown = {name for name in ("Coordinate", "Research", "Admin") if f">{name}</a>" in nav[1]}
    assert shown == links


def test_a_hint_is_read_with_the_input_it_explains(sign_in) -> None:  # type: ignore[no-untyped-def]
    html = sign_in("researcher").get("/researcher/demo/analysis").get_data(as_text=True)
    for field in ("population", "outcome"):
        assert f'id="{field}-hint"' in html
        assert re.search(rf'id="{field}"\s+aria-describedby="{field}-hint"', html), field
