"""static/branching.js in Chromium: it decides conditions as instruments.branching does, and it
shows, hides and disables items on a questionnaire form as the answers change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from instruments.branching import evaluate, parse_condition, to_json
from tests.browser.live import OpenPage
from tests.browser.pages import PageWatch

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).resolve().parents[2] / "static" / "branching.js"

TEXTS = [
    "[x] = '1'", "[x] <> '1'", "[x] = ''", "[x] <> ''", "[x] < 10", "[x] > 10", "[x] <= 2.5",
    "[x] >= -1", "[x] < 'b'", "[x] >= 'B'", "[x] = 'a'", "[cb(2)] = '1'", "[cb(2)] = '0'",
    "[cb(x-1)] <> '1'", "[x] = '1' or [y] = '2' and not([cb(3)] = '1')",
    "not([x] < 5 and [y] <> '')", "[x] > '1e1'", "[x] = '.5'",
    "[x] < '\uff5e'",  # a character past U+FFFF sorts after it (by code point, not UTF-16)
]
ANSWERS: list[dict[str, str | None]] = [
    {}, {"x": None, "cb": None}, {"x": ""}, {"x": "1", "y": "2"}, {"x": "1.0"}, {"x": "01"},
    {"x": "9", "cb": "1,2"}, {"x": "10", "cb": "3"}, {"x": "11", "cb": "12,x-1"},
    {"x": "2.50", "y": "x"}, {"x": "-1"}, {"x": "-1.5", "cb": "2,3"}, {"x": "a"},
    {"x": "abc"}, {"x": "B"}, {"x": " 1"}, {"x": "0.5"}, {"x": "é"}, {"x": "\U0001f600"},
    {"x": "\uff5e"}, {"x": "1e1"}, {"x": "+3"}, {"x": "1_0"},
]
CASES = [(text, answers) for text in TEXTS for answers in ANSWERS]


def blank_page(open_page: OpenPage, body: str = "") -> tuple[Page, PageWatch]:
    page, watch = open_page()
    page.set_content(f"<!doctype html><html lang='en'><body>{body}</body></html>")
    page.add_script_tag(path=str(SCRIPT))
    return page, watch


def test_javascript_decides_every_case_as_python_does(open_page):
    page, watch = blank_page(open_page)
    conditions = [to_json(parse_condition(text)) for text, _ in CASES]
    decided = page.evaluate(
        "([conditions, answers]) => conditions.map("
        "  (condition, i) => AllportBranching.evaluate(condition, answers[i]))",
        [conditions, [answers for _, answers in CASES]])
    expected = [evaluate(parse_condition(text), answers) for text, answers in CASES]
    disagreements = [(text, answers, python) for (text, answers), python, js
                     in zip(CASES, expected, decided, strict=True) if python != js]
    assert disagreements == []
    assert True in expected and False in expected
    assert watch.problems == []


def show_if(text: str) -> str:
    return json.dumps(to_json(parse_condition(text)))


FORM = f"""
<form class="questionnaire" data-answers='{{"earlier": "2", "ticks": "1,3"}}'>
  <input type="hidden" name="shown" value="a">
  <div class="item" data-item="a">
    <label><input type="radio" name="q_a" value="1"> Yes</label>
    <label><input type="radio" name="q_a" value="2"> No</label>
  </div>
  <section data-section-items="b c">
    <h2>Follow-up</h2>
    <div class="item" data-item="b" data-show-if='{show_if("[a] = 1")}' hidden>
      <label><input type="checkbox" name="q_b" value="1"> One</label>
      <label><input type="checkbox" name="q_b" value="2"> Two</label>
    </div>
    <div class="item" data-item="c" data-show-if='{show_if("[b(2)] = 1")}' hidden>
      <label>Why? <input type="text" name="q_c"></label>
    </div>
  </section>
  <div class="item" data-item="d" data-show-if='{show_if("[earlier] = 2 and [ticks(3)] = 1")}'
       hidden>
    <label>From earlier pages <select name="q_d"><option>x</option></select></label>
  </div>
  <div class="item" data-item="e" data-show-if='{show_if("[c] <> 'because'")}'>
    <label>Shown unless c says "because" <textarea name="q_e"></textarea></label>
  </div>
</form>
"""


def test_items_follow_the_answers_on_the_page(open_page):
    page, watch = blank_page(open_page, FORM)
    item = {key: page.locator(f"[data-item={key}]") for key in "abcde"}
    section = page.locator("section")
    shown = page.locator("input[name=shown]")

    # on load: b and c hidden with their section and disabled; d shown from earlier answers
    expect(item["b"]).to_be_hidden()
    expect(section).to_be_hidden()
    expect(page.locator("input[name=q_b]").first).to_be_disabled()
    expect(item["d"]).to_be_visible()
    expect(page.locator("select[name=q_d]")).to_be_enabled()
    expect(shown).to_have_value("a d e")

    page.check("input[name=q_a][value='1']")
    expect(item["b"]).to_be_visible()
    expect(section).to_be_visible()
    expect(page.locator("input[name=q_b]").first).to_be_enabled()
    expect(item["c"]).to_be_hidden()
    expect(shown).to_have_value("a b d e")

    # the chain: ticking b's option 2 shows c; c's text (trimmed) hides e
    page.check("input[name=q_b][value='2']")
    expect(item["c"]).to_be_visible()
    expect(page.locator("input[name=q_c]")).to_be_enabled()
    page.fill("input[name=q_c]", "  because  ")
    expect(item["e"]).to_be_hidden()
    expect(page.locator("textarea[name=q_e]")).to_be_disabled()
    expect(shown).to_have_value("a b c d")

    # answering 'No' hides b, which hides c although its box is still ticked and its text kept,
    # which shows e again; the section goes with b and c
    page.check("input[name=q_a][value='2']")
    expect(item["b"]).to_be_hidden()
    expect(item["c"]).to_be_hidden()
    expect(section).to_be_hidden()
    expect(item["e"]).to_be_visible()
    expect(page.locator("input[name=q_c]")).to_be_disabled()
    expect(page.locator("textarea[name=q_e]")).to_be_enabled()
    expect(shown).to_have_value("a d e")
    assert watch.problems == []
