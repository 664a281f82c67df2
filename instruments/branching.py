"""REDCap branching logic ("show the field only if ..."), parsed into a safe syntax tree.

An item may carry a condition that decides whether it is shown. The condition is written in the
subset of REDCap's branching-logic language described here; it is parsed once into a small tree
of frozen dataclasses (never evaluated as code), checked on the server by :func:`evaluate` and in
the trainee's browser by ``static/branching.js``, which follows the same rules.

What can be written
-------------------
- A comparison of one field with one literal value: ``[age] >= 18``, ``[sex] = '2'``,
  ``[reason] <> ''``. The field comes first, in square brackets, as the REDCap variable name
  (letters, digits and ``_``, starting with a letter).
- A ticked checkbox option: ``[contact(3)] = '1'`` (option ``3`` of the checkbox field
  ``contact`` is ticked) or ``= '0'`` (it is not).
- Operators ``=``, ``<>`` (also written ``!=``), ``<``, ``>``, ``<=``, ``>=``.
- Values in single or double quotes (``'yes'``, ``"it's"``; there is no escape character, so a
  value cannot hold both kinds of quote), or unquoted numbers (``18``, ``-1``, ``2.5``). A value is
  kept as the text written: ``3`` and ``'3'`` are the same condition.
- ``and``, ``or`` and ``not`` (in any letter case), with parentheses. ``and`` binds tighter than
  ``or``: ``[a] = 1 or [b] = 1 and [c] = 1`` means ``[a] = 1 or ([b] = 1 and [c] = 1)``.
  ``not`` applies to what follows it: ``not([a] = 1 or [b] = 1)``.

What is refused, with the character where the problem is: functions (``datediff()``, ``if()``,
``sum()``, ...), arithmetic (``+ - * /``), smart variables and modifiers (``[event-name]``,
``[x:checked]``), event-prefixed references (``[baseline_arm_1][x]``), comparing two fields,
putting the value before the field, ``==``, and unbalanced parentheses or quotes.

How a condition is decided
--------------------------
Answers are the stored answer texts; an unanswered item, or one that is not shown (its own
condition is false), counts as empty text ``''``.

- A checkbox option ``[f(code)]`` reads ``'1'`` when ``code`` is among the ticked codes (stored as
  ``"1,3"``) and ``'0'`` otherwise, also when ``f`` is unanswered.
- ``=`` and ``<>``: when both sides are numbers they are compared as numbers (``'1.0' = '1'`` is
  true); otherwise as text, exactly (``[x] = ''`` is true when ``x`` is unanswered, ``[x] <> ''``
  when it is answered).
- ``<``, ``>``, ``<=``, ``>=``: false when either side is empty; numbers are compared as numbers,
  anything else as text (character by character, by Unicode code point).
- A number is written with digits, an optional sign, an optional decimal point and an optional
  exponent: ``3``, ``-2.5``, ``.5``, ``1e3``. Surrounding spaces make a text, not a number.

These are REDCap's rules for the cases it documents; REDCap's behaviour for text ordering is not
documented and may differ.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

OPERATORS = ("=", "<>", "<", ">", "<=", ">=")

FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
CHECKBOX_CODE = re.compile(r"[A-Za-z0-9_-]+")
NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
"""What counts as a number when comparing (the literal ``-2.5`` or a stored answer ``'1.0'``)."""


class BranchingSyntaxError(ValueError):
    """A branching condition that cannot be parsed.

    ``position`` is the 1-based character where the problem is, ``problem`` what is wrong.
    """

    def __init__(self, position: int, problem: str) -> None:
        super().__init__(f"at character {position}: {problem}")
        self.position = position
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Comparison:
    """``[field] op 'value'``, or ``[field(code)] op 'value'`` for a checkbox option."""

    field: str
    code: str | None
    op: str
    value: str

    def __post_init__(self) -> None:
        # A tree that could not be written as text is refused when it is built, so that every
        # tree round-trips through to_text and parse_condition.
        if not FIELD_NAME.fullmatch(self.field):
            raise ValueError(f"{self.field!r} is not a REDCap variable name")
        if self.code is not None and not CHECKBOX_CODE.fullmatch(self.code):
            raise ValueError(f"{self.code!r} is not a checkbox option code")
        if self.op not in OPERATORS:
            raise ValueError(f"{self.op!r} is not one of {', '.join(OPERATORS)}")
        if "'" in self.value and '"' in self.value:
            raise ValueError(f"the value {self.value!r} holds both kinds of quote")


@dataclass(frozen=True, slots=True)
class All:
    """Every part holds (``and``)."""

    parts: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise ValueError("'and' needs at least two parts")


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one part holds (``or``)."""

    parts: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise ValueError("'or' needs at least two parts")


@dataclass(frozen=True, slots=True)
class Not:
    """The part does not hold (``not``)."""

    part: Condition


Condition: TypeAlias = Comparison | All | AnyOf | Not


# --- Reading the text ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # field, string, number, op, (, ), word, arith, end
    text: str  # as written (for a string: its content; for a field: the name)
    position: int  # 1-based
    code: str | None = None  # a field's checkbox code
    end: int = 0  # 1-based position just after the token


_FIELD_REF = re.compile(r"\[([A-Za-z][A-Za-z0-9_]*)(?:\(([A-Za-z0-9_-]+)\))?\]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LITERAL_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_KEYWORDS = ("and", "or", "not")


def _tokens(text: str) -> Iterator[_Token]:
    at = 0
    previous = ""
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            yield _Token("end", "", at + 1, end=at + 1)
            return
        char, position = text[at], at + 1
        if char == "[":
            token = _field_token(text, at)
        elif char in "'\"":
            close = text.find(char, at + 1)
            if close < 0:
                raise BranchingSyntaxError(position, f"the quote {char} opened here is not closed")
            token = _Token("string", text[at + 1:close], position, end=close + 2)
        elif char.isdigit() or (char == "-" and previous == "op"
                                and _LITERAL_NUMBER.match(text, at + 1)):
            match = _LITERAL_NUMBER.match(text, at + 1 if char == "-" else at)
            assert match is not None
            token = _Token("number", text[at:match.end()], position, end=match.end() + 1)
        elif text.startswith("==", at):
            raise BranchingSyntaxError(position, "use = to compare, not ==")
        elif text.startswith(("<>", "!=", "<=", ">="), at):
            op = "<>" if text[at:at + 2] == "!=" else text[at:at + 2]
            token = _Token("op", op, position, end=position + 2)
        elif char in "=<>":
            token = _Token("op", char, position, end=position + 1)
        elif char in "()":
            token = _Token(char, char, position, end=position + 1)
        elif char in "+-*/":
            token = _Token("arith", char, position, end=position + 1)
        elif (word := _WORD.match(text, at)) is not None:
            after = word.end()
            while after < len(text) and text[after].isspace():
                after += 1
            if text.startswith("(", after) and word.group().lower() not in _KEYWORDS:
                raise BranchingSyntaxError(position, _function(word.group()))
            token = _Token("word", word.group(), position, end=word.end() + 1)
        elif text.startswith(("&&", "||"), at):
            raise BranchingSyntaxError(position, f"use 'and' or 'or' instead of {text[at:at + 2]}")
        elif char == "]":
            raise BranchingSyntaxError(position, "']' without a matching '['")
        else:
            raise BranchingSyntaxError(position, f"unexpected character {char!r}")
        yield token
        previous = token.kind
        at = token.end - 1


def _field_token(text: str, at: int) -> _Token:
    position = at + 1
    match = _FIELD_REF.match(text, at)
    if match is not None:
        return _Token("field", match.group(1), position, code=match.group(2),
                      end=match.end() + 1)
    close = text.find("]", at)
    if close < 0:
        raise BranchingSyntaxError(position, "'[' is not closed with ']'")
    inside = text[at + 1:close]
    if ":" in inside:
        problem = f"smart variables and modifiers such as [{inside}] are not supported"
    elif "-" in inside:
        problem = f"smart variables such as [{inside}] are not supported"
    elif not inside.strip():
        problem = "'[]' holds no field name"
    else:
        problem = (f"[{inside}] is not a field: a REDCap variable name starts with a letter and "
                   "holds letters, digits and _ (a checkbox option is written [name(code)])")
    raise BranchingSyntaxError(position, problem)


class _Parser:
    """Recursive descent over the tokens: ``or`` of ``and`` of ``not``-prefixed atoms."""

    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.at = 0

    @property
    def next(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def is_keyword(self, keyword: str) -> bool:
        return self.next.kind == "word" and self.next.text.lower() == keyword

    def condition(self) -> Condition:
        parts = [self.conjunction()]
        while self.is_keyword("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def conjunction(self) -> Condition:
        parts = [self.negation()]
        while self.is_keyword("and"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else All(tuple(parts))

    def negation(self) -> Condition:
        if self.is_keyword("not"):
            self.take()
            return Not(self.negation())
        return self.atom()

    def atom(self) -> Condition:
        token = self.take()
        if token.kind == "(":
            inside = self.condition()
            if self.next.kind != ")":
                self.refuse_after_condition("expected ')' after the condition")
            self.take()
            return inside
        if token.kind == "field":
            return self.comparison(token)
        raise BranchingSyntaxError(token.position, self.not_a_condition(token))

    def comparison(self, field: _Token) -> Comparison:
        op = self.take()
        if op.kind != "op":
            if op.kind == "arith":
                raise BranchingSyntaxError(op.position, _arithmetic(op.text))
            if op.kind == "field" and op.position == field.end:
                raise BranchingSyntaxError(field.position,
                                           "event-prefixed fields such as "
                                           f"[{field.text}][{op.text}] are not supported")
            raise BranchingSyntaxError(op.position, f"expected =, <>, <, >, <= or >= after "
                                                    f"{_field_text(field)}, found {_shown(op)}")
        value = self.take()
        if value.kind == "field":
            raise BranchingSyntaxError(value.position, "comparing two fields is not supported")
        if value.kind not in ("string", "number"):
            raise BranchingSyntaxError(value.position, f"expected a value such as '1' after "
                                                       f"{op.text}, found {_shown(value)}")
        after = self.next
        if after.kind == "arith" or (after.kind == "number" and after.text.startswith("-")):
            raise BranchingSyntaxError(after.position, _arithmetic(after.text[0]))
        return Comparison(field.text, field.code, op.text, value.text)

    def not_a_condition(self, token: _Token) -> str:
        """Why ``token`` cannot start a condition."""
        if token.kind == "end":
            return "the condition ends too early: expected a condition such as [x] = '1'"
        if token.kind == "word":
            if token.text.lower() in _KEYWORDS:
                return f"expected a condition before {token.text!r}"
            return (f"unexpected word {token.text!r}: a field is written in square brackets, "
                    "as [name], and a text value in quotes")
        if token.kind in ("string", "number") and self.next.kind == "op":
            return "the field must come first, as in [x] = '1'"
        if token.kind == "arith":
            return _arithmetic(token.text)
        if token.kind == ")":
            return "expected a condition before ')'"
        return f"expected a condition such as [x] = '1', found {_shown(token)}"

    def refuse_after_condition(self, expected: str) -> None:
        """Raise for the token that follows a complete condition where ``expected`` was due."""
        token = self.next
        if token.kind == "arith":
            raise BranchingSyntaxError(token.position, _arithmetic(token.text))
        raise BranchingSyntaxError(token.position, expected)


def _shown(token: _Token) -> str:
    if token.kind == "end":
        return "the end"
    if token.kind == "string":
        return "a text value"
    if token.kind == "field":
        return _field_text(token)
    return repr(token.text)


def _field_text(token: _Token) -> str:
    return f"[{token.text}({token.code})]" if token.code is not None else f"[{token.text}]"


def _arithmetic(sign: str) -> str:
    return f"arithmetic ({sign}) is not supported: compare a field with a value"


def _function(name: str) -> str:
    return f"functions such as {name}() are not supported"


@functools.lru_cache(maxsize=4096)
def parse_condition(text: str) -> Condition:
    """The syntax tree of a branching condition written in REDCap's language.

    Parameters
    ----------
    text
        The condition, e.g. ``[age] >= 18 and ([sex] = '2' or [contact(3)] = '1')``.

    Returns
    -------
    Condition
        The tree; field names are kept as written.

    Raises
    ------
    BranchingSyntaxError
        For anything outside the language described in this module's docstring, with the
        character where the problem is.
    """
    if not text.strip():
        raise BranchingSyntaxError(1, "the condition is empty")
    parser = _Parser(text)
    condition = parser.condition()
    if parser.next.kind == ")":
        raise BranchingSyntaxError(parser.next.position, "')' without a matching '('")
    if parser.next.kind != "end":
        parser.refuse_after_condition(
            f"expected 'and', 'or' or the end of the condition, found {_shown(parser.next)}")
    return condition


# --- Writing the text ----------------------------------------------------------------------


def to_text(condition: Condition) -> str:
    """The condition as canonical REDCap text, which :func:`parse_condition` reads back.

    Comparisons read ``[a] = '1'`` and ``[b(2)] <> '1'``; values are single-quoted (double-quoted
    when they hold a single quote); ``and``/``or`` are lower case; ``not`` is written
    ``not(...)``; parentheses appear only where the tree needs them.
    """
    if isinstance(condition, Comparison):
        code = f"({condition.code})" if condition.code is not None else ""
        quote = '"' if "'" in condition.value else "'"
        return f"[{condition.field}{code}] {condition.op} {quote}{condition.value}{quote}"
    if isinstance(condition, Not):
        return f"not({to_text(condition.part)})"
    keyword = " and " if isinstance(condition, All) else " or "
    return keyword.join(_operand(part, condition) for part in condition.parts)


def _operand(part: Condition, parent: All | AnyOf) -> str:
    # An 'or' inside an 'and' needs parentheses for precedence; a part of the same kind as its
    # parent needs them so that the nesting survives (flat 'a and b and c' is a single All).
    nested = isinstance(part, AnyOf) or type(part) is type(parent)
    return f"({to_text(part)})" if nested else to_text(part)


def to_json(condition: Condition) -> Any:
    """A compact JSON-able form for ``static/branching.js``.

    ``["=", "field", null, "value"]`` (the code instead of ``null`` for a checkbox option),
    ``["and", a, b, ...]``, ``["or", a, b, ...]``, ``["not", a]``.
    """
    if isinstance(condition, Comparison):
        return [condition.op, condition.field, condition.code, condition.value]
    if isinstance(condition, Not):
        return ["not", to_json(condition.part)]
    keyword = "and" if isinstance(condition, All) else "or"
    return [keyword, *(to_json(part) for part in condition.parts)]


# --- Using the tree ------------------------------------------------------------------------


def fields(condition: Condition) -> frozenset[str]:
    """Every field name the condition refers to."""
    if isinstance(condition, Comparison):
        return frozenset((condition.field,))
    if isinstance(condition, Not):
        return fields(condition.part)
    return frozenset().union(*(fields(part) for part in condition.parts))


def rename(condition: Condition, mapping: Callable[[str], str]) -> Condition:
    """The same condition with every field name passed through ``mapping`` (e.g. ``str.lower``)."""
    if isinstance(condition, Comparison):
        return Comparison(mapping(condition.field), condition.code, condition.op, condition.value)
    if isinstance(condition, Not):
        return Not(rename(condition.part, mapping))
    parts = tuple(rename(part, mapping) for part in condition.parts)
    return All(parts) if isinstance(condition, All) else AnyOf(parts)


def evaluate(condition: Condition, answers: Mapping[str, str | None]) -> bool:
    """Whether the condition holds, by the rules in this module's docstring.

    Parameters
    ----------
    condition
        A tree from :func:`parse_condition`.
    answers
        Field name -> stored answer text; ``None`` or absent when unanswered or not shown. A
        checkbox's answer is its ticked codes joined by ``,`` (``"1,3"``).
    """
    if isinstance(condition, All):
        return all(evaluate(part, answers) for part in condition.parts)
    if isinstance(condition, AnyOf):
        return any(evaluate(part, answers) for part in condition.parts)
    if isinstance(condition, Not):
        return not evaluate(condition.part, answers)
    answer = answers.get(condition.field) or ""
    if condition.code is not None:
        ticked = {code.strip() for code in answer.split(",")}
        answer = "1" if condition.code in ticked else "0"
    return _compare(answer, condition.op, condition.value)


def _compare(left: str, op: str, right: str) -> bool:
    numeric = NUMBER.fullmatch(left) is not None and NUMBER.fullmatch(right) is not None
    if op in ("=", "<>"):
        equal = float(left) == float(right) if numeric else left == right
        return equal if op == "=" else not equal
    if left == "" or right == "":
        return False
    if numeric:
        x, y = float(left), float(right)
        order = (x > y) - (x < y)
    else:
        order = (left > right) - (left < right)
    return {"<": order < 0, ">": order > 0, "<=": order <= 0, ">=": order >= 0}[op]
