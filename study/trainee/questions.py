"""How one questionnaire page is laid out: its sections, matrix grids and questions.

The view decides which items are asked (``study.services.pages``); this module turns a page of
items and their form fields into what ``templates/trainee/questionnaire.html`` draws: sections
under their headings (``<section data-section-items>``, the DOM contract of
``static/branching.js``), consecutive items of a matrix group as one grid, and numbered rating
scales as compact rows of numbered segments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from instruments import Instrument, Item
from instruments.branching import fields, parse_condition, to_json
from instruments.kinds import AnswerField
from study.trainee.forms import NO_FIELD, QuestionnaireForm, field_name

# A compact scale has at most this many points: 11 segments still fit 24 px targets on 360 px.
MOST_COMPACT_POINTS = 11
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

    @property
    def key(self) -> str:
        return self.item.key

    @property
    def anchors(self) -> tuple[Point, ...]:
        """The labelled points of a compact scale, shown once under it."""
        return tuple(point for point in self.points if point.label)


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


def layout(items: Sequence[Item], form: QuestionnaireForm, asked: Mapping[str, bool],
           numbers: Mapping[str, int]) -> list[Section]:
    """The page's sections, each a list of blocks of questions, in item order."""
    sections = [Section(None)]
    for item in items:
        answer = form.answer_fields[item.key]
        question = Question(
            item=item,
            field=None if answer.widget == NO_FIELD else form[field_name(item)],
            answer=answer,
            number=numbers.get(item.key),
            asked=asked.get(item.key, True),
            condition=None if item.show_if is None else to_json(parse_condition(item.show_if)),
            points=compact_points(answer),
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


def outside_answers(items: Sequence[Item], answers: Mapping[str, str]) -> dict[str, str]:
    """The answers from other pages that the page's conditions read (for the script)."""
    on_page = {item.key for item in items}
    wanted: set[str] = set()
    for item in items:
        if item.show_if is not None:
            wanted |= fields(parse_condition(item.show_if))
    return {key: answers[key] for key in sorted(wanted - on_page) if key in answers}
