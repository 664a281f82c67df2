"""What every page must satisfy (DESIGN §11), and how a keyboard user moves through one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import ConsoleMessage, Page, Response

# Chromium reports a document's own 4xx status as a console error ("Failed to load resource").
# An error re-render answers 422 on purpose, and the friendly 404 page answers 404: those
# messages about the document itself are expected. Anything else, from a stylesheet, the
# favicon, a script or the page's own code, is a real error.
STATUS_MESSAGE = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")
EXPECTED_DOCUMENT_STATUSES = {404, 422}

PAGE_FACTS = """() => {
  const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  // A control hidden from assistive technology and out of the tab order (the slider drawn
  // beside a number box) is not one a label is read for.
  const presented = el => !(el.getAttribute('aria-hidden') === 'true' && el.tabIndex < 0);
  const fields = [...document.querySelectorAll('input, select, textarea')]
    .filter(el => el.type !== 'hidden' && visible(el) && presented(el));
  const unlabelled = fields.filter(el => !(el.labels && el.labels.length)
    && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'));
  const icon = document.querySelector('link[rel~="icon"][href]');
  return {
    lang: document.documentElement.lang,
    title: document.title,
    viewport: document.querySelector('meta[name="viewport"]')?.content ?? null,
    favicon: icon ? icon.href : null,
    header: document.querySelectorAll('header').length,
    main: document.querySelectorAll('main').length,
    nav: document.querySelectorAll('nav').length,
    h1: document.querySelectorAll('h1').length,
    unlabelled: unlabelled.map(el => el.outerHTML.slice(0, 120)),
    scrollWidth: document.documentElement.scrollWidth,
    bodyFontPx: parseFloat(getComputedStyle(document.body).fontSize),
  };
}"""


@dataclass
class PageWatch:
    """Console errors and uncaught exceptions seen by one page, from its first load on."""

    page: Page
    problems: list[str] = field(default_factory=list)
    documents: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        self.page.on("response", self._response)

    def _response(self, response: Response) -> None:
        if response.request.is_navigation_request():
            self.documents[response.url.split("#")[0]] = response.status

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "").split("#")[0]
        status = STATUS_MESSAGE.match(message.text)
        if (status and int(status.group(1)) in EXPECTED_DOCUMENT_STATUSES
                and self.documents.get(url) == int(status.group(1))):
            return  # the document's own, intended status (see STATUS_MESSAGE)
        self.problems.append(f"{message.text} ({url})")

    def errors(self) -> list[str]:
        return list(self.problems)


def check_page(page: Page, watch: PageWatch, *, width: int | None = None) -> dict[str, Any]:
    """Assert the §11 basics for the page now shown; return the facts for further checks."""
    # A click that submits a form returns once the navigation has started; on a busy machine
    # the next document may not exist yet (document.documentElement is then null).
    page.wait_for_load_state("load")
    facts = page.evaluate(PAGE_FACTS)
    where = page.url
    assert facts["lang"], f"{where}: <html> has no lang"
    title = facts["title"]
    assert title.endswith(" · Allport") and len(title) > len(" · Allport"), (
        f"{where}: title does not name the page: {title!r}")
    assert facts["viewport"] == "width=device-width, initial-scale=1", where
    assert facts["favicon"], f"{where}: no favicon link"
    for landmark in ("header", "main", "nav"):
        assert facts[landmark] >= 1, f"{where}: no <{landmark}>"
    assert facts["main"] == 1, f"{where}: more than one <main>"
    assert facts["h1"] == 1, f"{where}: {facts['h1']} <h1> elements"
    assert not facts["unlabelled"], f"{where}: inputs without a label: {facts['unlabelled']}"
    assert facts["bodyFontPx"] >= 16, f"{where}: body text {facts['bodyFontPx']}px (stylesheet?)"
    viewport = width or page.viewport_size["width"]
    assert facts["scrollWidth"] <= viewport, (
        f"{where}: scrolls sideways at {viewport}px (document is {facts['scrollWidth']}px wide)")
    assert not watch.errors(), f"{where}: console errors: {watch.errors()}"
    return facts


_axe = Axe()


def serious_axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, one readable line each."""
    results = _axe.run(page)
    problems = []
    for violation in results.response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = ", ".join(str(n["target"]) for n in violation["nodes"][:5])
            problems.append(f"{page.url}: {violation['id']} ({violation['impact']}): "
                            f"{violation['help']} at {targets}")
    return problems


FOCUSED = """() => {
  const el = document.activeElement;
  return {tag: el.tagName, type: el.type || null, name: el.name || null, id: el.id || null,
          text: (el.textContent || '').trim().slice(0, 60), inMain: !!el.closest('main')};
}"""


def focused(page: Page) -> dict[str, Any]:
    return page.evaluate(FOCUSED)


def tab_to(page: Page, predicate: Any, *, limit: int = 250) -> dict[str, Any]:
    """Press Tab until the focused element satisfies ``predicate``; return it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        if predicate(element):
            return element
    raise AssertionError(f"{page.url}: Tab never reached the element (last: {focused(page)})")


def is_submit(element: dict[str, Any]) -> bool:
    return element["tag"] == "BUTTON" and element["type"] == "submit" and element["inMain"]


def fill_by_keyboard(page: Page) -> None:
    """Tab through the form in the page's main content, answering each question by keyboard,
    then press Enter on its submit button and wait for the next page.

    Tabbing into a radio group with nothing chosen focuses its first option; the arrow key then
    moves to the next option and chooses it, so every group gets its second option.
    """
    while True:
        element = tab_to(page, lambda e: e["inMain"] and e["tag"] in ("INPUT", "TEXTAREA",
                                                                          "BUTTON", "SELECT"))
        if element["type"] == "radio":
            page.keyboard.press("ArrowDown")
        elif element["type"] == "number":
            page.keyboard.type("3")
        elif element["tag"] == "TEXTAREA" or element["type"] == "text":
            page.keyboard.type("A few words.")
        elif is_submit(element):
            with page.expect_navigation():
                page.keyboard.press("Enter")
            return


def press_link(page: Page, text: str) -> None:
    """Tab to the link with this text and follow it with Enter."""
    tab_to(page, lambda e: e["tag"] == "A" and e["text"] == text)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def sign_in(page: Page, base_url: str, account: tuple[str, str]) -> None:
    email, password = account
    page.goto(f"{base_url}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    assert not page.url.endswith("/login"), "sign-in failed"
