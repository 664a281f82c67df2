"""Helpers for tests that drive pages through the test client."""

from __future__ import annotations

import re

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


INPUT_RE = re.compile(r"<input([^>]*)>")
ATTR_RE = re.compile(r'([\w-]+)="([^"]*)"')
TEXTAREA_RE = re.compile(r'<textarea[^>]*name="(q_[^"]+)"')


def questionnaire_fields(html: str) -> dict[str, list[str]]:
    """Field name -> the values a radio group offers (empty list for a free input)."""
    fields: dict[str, list[str]] = {}
    for tag in INPUT_RE.findall(html):
        attrs = dict(ATTR_RE.findall(tag))
        name = attrs.get("name", "")
        if not name.startswith("q_"):
            continue
        if attrs.get("type") == "radio":
            fields.setdefault(name, []).append(attrs["value"])
        else:
            fields.setdefault(name, [])
    for name in TEXTAREA_RE.findall(html):
        fields.setdefault(name, [])
    return fields


class TraineeDriver:
    """Walks a trainee's link through the pages, exactly as a browser without JavaScript would."""

    def __init__(self, client, token: str) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.token = token
        self.page = None

    @property
    def url(self) -> str:
        return f"/t/{self.token}"

    def open(self, path: str = ""):  # type: ignore[no-untyped-def]
        self.page = self.client.get(self.url + path, follow_redirects=True)
        return self.page

    def post(self, path: str, data: dict, *, follow: bool = True):  # type: ignore[no-untyped-def]
        html = self.client.get(self.url + path, follow_redirects=True).get_data(as_text=True)
        data = {"csrf_token": csrf_from(html), **data}
        self.page = self.client.post(self.url + path, data=data, follow_redirects=follow)
        return self.page

    def consent(self, agree: bool = True):  # type: ignore[no-untyped-def]
        return self.post("/consent", {"choice": "agree" if agree else "decline"})

    def answer_page(self, choose=None):  # type: ignore[no-untyped-def]
        """Answer every question on the current questionnaire page and submit it."""
        page = self.page if self.page is not None else self.open()
        html = page.get_data(as_text=True)
        path = page.request.path
        assert "/q/" in path, f"not on a questionnaire page: {path}"
        data = {"csrf_token": csrf_from(html)}
        for name, options in questionnaire_fields(html).items():
            if choose is not None:
                data[name] = choose(name, options)
            elif options:
                data[name] = options[len(options) // 2]
            else:
                data[name] = "3"
        query = page.request.query_string.decode()
        self.page = self.client.post(path + (f"?{query}" if query else ""), data=data,
                                     follow_redirects=True)
        return self.page

    def answer_until_not_questionnaire(self, choose=None, limit: int = 20):  # type: ignore[no-untyped-def]
        for _ in range(limit):
            if "/q/" not in self.page.request.path:
                return self.page
            self.answer_page(choose)
        raise AssertionError("questionnaire never ended")
