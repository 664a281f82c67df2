"""60 trainees at once on gunicorn with 4 workers, through consent, baseline and allocation.

The server is a real gunicorn started as a subprocess on the test's database (SQLite file, or
PostgreSQL when TEST_DATABASE_URL is set); each trainee is a thread with its own cookie jar.
"""

from __future__ import annotations

import http.cookiejar
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from study.extensions import db
from study.models import Allocation, Participant, ParticipantStatus
from study.services import invitations
from study.services.studies import get_study
from tests.helpers import Demo, csrf_from, gunicorn, questionnaire_fields

pytestmark = pytest.mark.slow

TRAINEES = 60
STOP_AFTER_CONSENT = 10


class Browser:
    """A cookie-keeping HTTP client that follows redirects, like a browser without JavaScript."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.statuses: list[int] = []

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.root + path, data=body, timeout=60) as response:
                self.statuses.append(response.status)
                return urllib.parse.urlsplit(response.url).path, response.read().decode()
        except urllib.error.HTTPError as error:
            self.statuses.append(error.code)
            raise




@pytest.fixture
def server(demo: Demo, database_url: str, tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    with gunicorn(database_url, tmp_path) as root:
        yield demo.app, root


def walk(root: str, token: str, stop_after_consent: bool, failures: list[str]) -> None:
    browser = Browser(root)
    try:
        path, html = browser.request(f"/t/{token}")
        path, html = browser.request(f"/t/{token}/consent")
        path, html = browser.request(f"/t/{token}/consent",
                                     {"csrf_token": csrf_from(html), "choice": "agree"})
        if stop_after_consent:
            return
        for _ in range(10):
            if "/q/" not in path:
                break
            answers = {"csrf_token": csrf_from(html)}
            for name, options in questionnaire_fields(html).items():
                answers[name] = options[len(options) // 2] if options else "2"
            path, html = browser.request(path, answers)
        if not path.endswith(("/education", "/sessions")):
            failures.append(f"{token[:6]} ended on {path}")
    except Exception as error:  # noqa: BLE001 - collected and asserted below
        failures.append(f"{token[:6]}: {error!r}")
    finally:
        if any(status >= 500 for status in browser.statuses):
            failures.append(f"{token[:6]}: server error {browser.statuses}")


def test_sixty_trainees_at_once(server) -> None:
    app, root = server
    with app.app_context():
        study = get_study(db.session, "demo")
        issued = invitations.invite(db.session, study, study.cohorts[0],
                                    TRAINEES + STOP_AFTER_CONSENT, actor="test")
        db.session.commit()
        tokens = [(i.token, i.participant.id) for i in issued]
    stoppers = {pid for _, pid in tokens[TRAINEES:]}
    failures: list[str] = []
    threads = [threading.Thread(target=walk, args=(root, token, pid in stoppers, failures))
               for token, pid in tokens]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.monotonic() - started
    assert not failures, failures[:5]

    with app.app_context():
        allocations = list(db.session.scalars(select(Allocation)))
        assert len(allocations) == TRAINEES
        assert len({a.participant_id for a in allocations}) == TRAINEES
        assert not stoppers & {a.participant_id for a in allocations}
        assert sorted(a.position for a in allocations) == list(range(TRAINEES))
        stopped = Counter(db.session.scalars(
            select(Participant.status).where(Participant.id.in_(stoppers))))
        assert stopped == {ParticipantStatus.CONSENTED: STOP_AFTER_CONSENT}
        per_arm = Counter(a.arm.key for a in allocations)
        assert abs(per_arm["contact"] - per_arm["education"]) <= 3
        total = db.session.scalar(select(func.count(Participant.id)))
    print(f"\n{TRAINEES} trainees allocated (+{STOP_AFTER_CONSENT} stopped after consent) "
          f"through gunicorn x4 in {elapsed:.1f}s; arms {dict(per_arm)}; participants {total}")


def test_the_access_log_hides_trainee_links_and_warns_of_per_process_limits(
        demo: Demo, database_url: str, tmp_path: Path) -> None:
    with demo.app.app_context():
        study = get_study(db.session, "demo")
        token = invitations.invite(db.session, study, study.cohorts[0], 1,
                                   actor="test")[0].token
        db.session.commit()
    with gunicorn(database_url, tmp_path, workers=2) as root:
        log_path = tmp_path / "gunicorn.log"
        browser = Browser(root)
        browser.opener.addheaders = [("Referer", f"{root}/t/{token}/consent")]
        path, _ = browser.request(f"/t/{token}")
        assert path.startswith(f"/t/{token}")
    log = log_path.read_text()
    assert token not in log
    assert '"GET /t/<redacted> HTTP/1.1" 302' in log, log
    assert f'"{root}/t/<redacted>/consent"' in log
    # Two workers, no REDIS_URL: each counts sign-in attempts on its own, and the log says so.
    assert "2 workers count rate limits each in their own memory" in log
    assert log.count("set REDIS_URL") == 1
