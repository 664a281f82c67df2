"""How one questionnaire page is laid out: its sections, matrix grids and questions.

The view decides which items are asked (``study.services.pages``); this module turns a page of
items and their form fields into what ``templates/trainee/questionnaire.html`` draws: sections
under their headings (``<section data-section-items>``, the DOM contract of
``static/branching.js``), consecutive items of a matrix group as one grid, and numbered rating
scales as compact rows of numbered segments. Each question is drawn by
``templates/trainee/_question.html`` through :func:`question_markup`, which keeps the markup of
questions without an error, so that a page's 120 radios are not rendered again on every view;
a page whose every question is kept is drawn without binding a form (:func:`kept_markup`).
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from jinja2 import Environment
from markupsafe import Markup

from instruments import Instrument, Item
from instruments.branching import fields, parse_condition, to_json
from instruments.kinds import AnswerField
from study.services.pages import Pages
from study.trainee.forms import NO_FIELD, QuestionnaireForm, field_name, page_form_class

# A compact scale has at most this many points: 11 segments still fit 24 px targets on 360 px.
MOST_COMPACT_POINTS = 11
# Rendered questions kept per process: a question per item, asked or not, and option chosen (a
# 12-item 10-point page is 12 x 11 x 2 of them, about 2.5 KB each).
MARKUP_CACHE_SIZE = 4096
QUESTION_TEMPLATE = "trainee/_question.html"
NUMBERED_LABEL = re.compile(r"(?P<number>-?\d+)(?: – (?P<rest>.+))?", re.DOTALL)


@dataclass(frozen=True)
class Point:
    """One segment of a compact scale: the value posted, its number and its label, if any."""

    value: str
    number: str
    label: str


@dataclass
class Question:
    """One item as drawn on the page (``field`` is ``None`` for text shown on its own)."""

    item: Item
    field: Any
    answer: AnswerField
    number: int | None
    asked: bool
    condition: Any = None  # to_json of its branching logic, for the script
    points: tuple[Point, ...] = ()  # set when drawn as a compact scale
    markup: Markup | None = None  # its kept markup, when the page was drawn without a form

    @property
    def key(self) -> str:
        return self.item.key

    @property
    def anchors(self) -> tuple[Point, ...]:
        """The labelled points of a compact scale, shown once under it."""
        return tuple(point for point in self.points if point.label)

    def markup_key(self, matrix: bool) -> Hashable | None:
        """What decides the question's markup, when that is all (:func:`markup_key`).

        A field with an error shows it: such a question is rendered each time.
        """
        if self.field is not None and self.field.errors:
            return None
        return markup_key(self.item, self.answer, matrix=matrix, asked=self.asked,
                          number=self.number,
                          chosen=None if self.field is None else self.field.data)


def markup_key(item: Item, answer: AnswerField, *, matrix: bool, asked: bool,
               number: int | None, chosen: str | None) -> Hashable | None:
    """What decides a question's markup, when that is all: ``None`` when it is not.

    Text shown on its own and a radio group are drawn from the item (its words, options,
    condition: a frozen value, so wording supplied by the site is part of it), its number,
    whether it is asked, its place in a matrix and the option ``chosen``. Any other field can
    hold whatever was typed: it is rendered each time.
    """
    if answer.widget == NO_FIELD:
        return (item, matrix, asked, number)
    if answer.widget != "options":
        return None
    return (item, matrix, asked, number, chosen)


@dataclass
class Block:
    """A question on its own, or the consecutive questions of one matrix group."""

    questions: list[Question]
    matrix: bool = False

    @property
    def hidden(self) -> bool:
        return not any(q.asked for q in self.questions)

    @property
    def choices(self) -> tuple[tuple[str, str], ...]:
        """The header row of a matrix grid: the options its questions share."""
        return self.questions[0].answer.options


@dataclass
class Section:
    """The questions under one section header (``heading`` is ``None`` before the first)."""

    heading: str | None
    html: bool = False
    blocks: list[Block] = field(default_factory=list)

    @property
    def keys(self) -> str:
        return " ".join(q.key for block in self.blocks for q in block.questions)

    @property
    def hidden(self) -> bool:
        return all(block.hidden for block in self.blocks)


class MarkupCache:
    """The newest rendered markup by key, at most ``size`` of them (least recently used go)."""

    def __init__(self, size: int = MARKUP_CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Markup] = OrderedDict()
        self._lock = threading.Lock()  # the development server and gthread workers use threads

    def get(self, key: Hashable, render: Callable[[], Markup]) -> Markup:
        """The markup kept under ``key``, rendered (outside the lock) and kept when missing."""
        with self._lock:
            markup = self._entries.get(key)
            if markup is not None:
                self._entries.move_to_end(key)
                return markup
        markup = render()
        with self._lock:
            self._entries[key] = markup
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return markup

    def get_all(self, keys: Mapping[str, Hashable]) -> dict[str, Markup] | None:
        """The markup kept under each of ``keys`` (by name), or None unless all of it is kept."""
        with self._lock:
            if not all(key in self._entries for key in keys.values()):
                return None
            for key in keys.values():
                self._entries.move_to_end(key)
            return {name: self._entries[key] for name, key in keys.items()}

    def __len__(self) -> int:
        return len(self._entries)


def question_markup(q: Question, matrix: bool = False) -> Markup:
    """One question's markup (``_question.html``), rendered once per process for each state.

    Not kept while templates reload on change (development), so that an edit shows at once.
    """
    if q.markup is not None:
        return q.markup
    environment = current_app.jinja_env
    key = q.markup_key(matrix)
    if key is None or environment.auto_reload:
        return Markup(_question_macro(environment)(q, matrix=matrix))
    extensions = current_app.extensions
    if "allport.question_markup" not in extensions:
        extensions["allport.question_markup"] = MarkupCache()
        extensions["allport.question_macro"] = _question_macro(environment)
    macro = extensions["allport.question_macro"]
    return extensions["allport.question_markup"].get(  # type: ignore[no-any-return]
        key, lambda: Markup(macro(q, matrix=matrix)))


def kept_markup(items: Sequence[Item], asked: Mapping[str, bool], numbers: Mapping[str, int],
                answers: Mapping[str, str]) -> dict[str, Markup] | None:
    """Every question's markup for a page showing ``answers``, if all of it is kept, by item.

    Such a page binds no form (its CSRF token alone): binding a dozen WTForms fields was a tenth
    of a page view. None when one question is not kept, or is one a trainee types into.
    """
    cache = current_app.extensions.get("allport.question_markup")
    if cache is None or current_app.jinja_env.auto_reload:
        return None
    answer_fields = page_form_class(tuple(items)).answer_fields
    keys = {}
    for item in items:
        key = markup_key(item, answer_fields[item.key], matrix=item.matrix is not None,
                         asked=asked.get(item.key, True), number=numbers.get(item.key),
                         chosen=answers.get(item.key))
        if key is None:
            return None
        keys[item.key] = key
    return cache.get_all(keys)  # type: ignore[no-any-return]


def _question_macro(environment: Environment) -> Callable[..., str]:
    return environment.get_template(QUESTION_TEMPLATE).module.question  # type: ignore[attr-defined,no-any-return]


@functools.lru_cache(maxsize=1024)
def compact_points(answer: AnswerField) -> tuple[Point, ...]:
    """The segments of a numbered rating scale ("1 – Not at all", "2", ... "10 – Extremely").

    Empty when the options are not all numbered (an agreement scale keeps its phrases) or too
    many to fit one row on a phone.
    """
    if answer.widget != "options" or answer.layout != "scale" \
            or not 3 <= len(answer.options) <= MOST_COMPACT_POINTS:
        return ()
    points = []
    for value, label in answer.options:
        match = NUMBERED_LABEL.fullmatch(label)
        if match is None or match["number"] != value:
            return ()
        points.append(Point(value, match["number"], match["rest"] or ""))
    return tuple(points)


def question_numbers(instrument: Instrument) -> dict[str, int]:
    """Item key -> its question number: the position among the items a trainee answers."""
    return {item.key: n for n, item in enumerate(instrument.answered_items, start=1)}


def layout(items: Sequence[Item], form: QuestionnaireForm | None, asked: Mapping[str, bool],
           numbers: Mapping[str, int], kept: Mapping[str, Markup] | None = None
           ) -> list[Section]:
    """The page's sections, each a list of blocks of questions, in item order.

    Its questions are drawn from ``form``'s fields, or from their ``kept`` markup (no form).
    """
    answer_fields = page_form_class(tuple(items)).answer_fields
    sections = [Section(None)]
    for item in items:
        answer = answer_fields[item.key]
        question = Question(
            item=item,
            field=None if answer.widget == NO_FIELD or form is None else form[field_name(item)],
            answer=answer,
            number=numbers.get(item.key),
            asked=asked.get(item.key, True),
            condition=None if item.show_if is None else to_json(parse_condition(item.show_if)),
            points=compact_points(answer),
            markup=None if kept is None else kept[item.key],
        )
        if item.section:
            sections.append(Section(item.section, html=item.html))
        blocks = sections[-1].blocks
        last = blocks[-1] if blocks else None
        if item.matrix and last is not None and last.matrix \
                and last.questions[0].item.matrix == item.matrix:
            last.questions.append(question)
        else:
            blocks.append(Block([question], matrix=item.matrix is not None))
    return [section for section in sections if section.blocks]


def outside_answers(items: Sequence[Item], answers: Mapping[str, str],
                    later: Pages = ()) -> dict[str, str]:
    """The answers from other pages that the script reads.

    Those that the conditions of the page's items refer to, and those of the items on the
    skippable pages after it (``later``).
    """
    on_page = {item.key for item in items}
    wanted: set[str] = set()
    for item in (*items, *(item for page in later for item in page)):
        if item.show_if is not None:
            wanted |= fields(parse_condition(item.show_if))
    return {key: answers[key] for key in sorted(wanted - on_page) if key in answers}


def later_conditions(later: Pages) -> list[list[tuple[str, Any]]]:
    """The skippable pages after this one as the script reads them (``data-later``).

    Each is a list of its items' keys with the ``to_json`` of their conditions, so that the
    page's button can say whether a next page follows from the answers given.
    """
    return [[(item.key, to_json(parse_condition(item.show_if)))
             for item in page if item.show_if is not None] for page in later]
