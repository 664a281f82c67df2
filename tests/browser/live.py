"""The app as a browser test sees it: its address, the demo accounts, and the viewports used."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask
from playwright.sync_api import Page, ViewportSize

from study.extensions import db
from study.services import invitations
from study.services.demo import DemoAccounts
from study.services.studies import get_study
from tests.browser.pages import PageWatch

PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}

T = TypeVar("T")

OpenPage = Callable[..., tuple[Page, PageWatch]]
"""The ``open_page`` fixture: ``open_page(javascript=True, viewport=PHONE)``."""


@dataclass
class LiveServer:
    url: str
    app: Flask
    accounts: DemoAccounts
    backstage: ThreadPoolExecutor

    def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run Flask-side work (app context, test client) on the backstage thread."""
        return self.backstage.submit(work, *args, **kwargs).result()

    def invite(self, count: int = 1) -> list[str]:
        def issue() -> list[str]:
            with self.app.app_context():
                study = get_study(db.session, "demo")
                issued = invitations.invite(db.session, study, study.cohorts[0], count,
                                            actor="test")
                db.session.commit()
                return [i.token for i in issued]
        return self.run(issue)

    def trainee_url(self, token: str, path: str = "") -> str:
        return f"{self.url}/t/{token}{path}"
