"""The registry of item kinds.

Each kind knows which fields it accepts in a definition file, how to build an :class:`~instruments.
model.Item` from them, and which stored answers are possible. The loader looks kinds up here, so a
new kind is one class and one line in :data:`KINDS`, checked for uniqueness at import.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from instruments.errors import AnswerError, DefinitionError
from instruments.model import Choice, Item

NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # subscale and response-scale names
CHOICE_CODE = re.compile(r"^[A-Za-z0-9_]+$")  # stored codes of choice items, as REDCap allows


class Spot:
    """Where the loader is (file and item), so that every problem is reported on one line."""

    def __init__(self, file: str, item: str | None = None) -> None:
        self.file = file
        self.item = item

    def at(self, item: str | None) -> Spot:
        return Spot(self.file, item)

    def fail(self, problem: str) -> Exception:
        return DefinitionError(self.file, problem, self.item)


def is_int(value: Any) -> bool:
    """True for ints (not bools), numpy ints and integral floats such as pandas gives."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, float) and value.is_integer()


def is_missing(value: Any) -> bool:
    """``None``, NaN and ``pandas.NA`` count as not answered."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in {"NAType", "NaTType"}


def parse_choices(raw: Any, spot: Spot, *, numeric: bool) -> tuple[Choice, ...]:
    """Choices from ``[{value, label[, scored_as]}, ...]`` or ``{range: [lo, hi], anchors: {}}``."""
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"range", "anchors"}
        if unknown:
            raise spot.fail(f"unknown field {sorted(unknown)[0]!r} in a response scale")
        if not numeric:
            raise spot.fail("a numeric range is only possible for scale items; list the choices")
        bounds = raw.get("range")
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(is_int(b) for b in bounds)
            or bounds[0] >= bounds[1]
        ):
            raise spot.fail(f"range must be [lowest, highest] integers, not {bounds!r}")
        anchors = raw.get("anchors") or {}
        if not isinstance(anchors, Mapping):
            raise spot.fail("anchors must map values to labels, e.g. {1: Not at all}")
        low, high = int(bounds[0]), int(bounds[1])
        for point, anchor in anchors.items():
            if not is_int(point) or not low <= int(point) <= high:
                raise spot.fail(f"anchor {point!r} is outside the range {low}-{high}")
            if not isinstance(anchor, str) or not anchor.strip():
                raise spot.fail(f"anchor {point!r} needs a label")
        return tuple(
            Choice(point, str(anchors.get(point, point)).strip()) for point in range(low, high + 1)
        )
    if not isinstance(raw, list) or len(raw) < 2:
        raise spot.fail("choices must be a list of at least two {value, label} entries")
    choices: list[Choice] = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            raise spot.fail(f"each choice must be {{value: ..., label: ...}}, not {entry!r}")
        unknown = set(entry) - {"value", "label", "scored_as"}
        if unknown:
            raise spot.fail(f"unknown field {sorted(unknown)[0]!r} in a choice")
        value: Any = entry.get("value")
        label = entry.get("label")
        if numeric and not is_int(value):
            raise spot.fail(f"choice values of a scale item must be integers, not {value!r}")
        if not numeric and not (isinstance(value, str) and CHOICE_CODE.match(value)):
            raise spot.fail(
                f"choice values must be text codes of letters, digits and _, not {value!r}"
                " (use kind: scale for numbered answers)"
            )
        if not isinstance(label, str) or not label.strip():
            raise spot.fail(f"choice {value!r} needs a label")
        scored_as = entry.get("scored_as")
        if scored_as is not None and (not numeric or not is_int(scored_as)):
            raise spot.fail(f"scored_as of choice {value!r} must be an integer on a scale item")
        choices.append(
            Choice(
                int(value) if numeric else value,
                label.strip(),
                None if scored_as is None else int(scored_as),
            )
        )
    values = [c.value for c in choices]
    duplicate = next((v for v in values if values.count(v) > 1), None)
    if duplicate is not None:
        raise spot.fail(f"choice value {duplicate!r} appears twice")
    if numeric:
        plain = [int(c.value) for c in choices if c.scored_as is None]
        if len(plain) < 2:
            raise spot.fail("a scale needs at least two choices scored as themselves")
        for c in choices:
            if c.scored_as is not None and not min(plain) <= c.scored_as <= max(plain):
                raise spot.fail(
                    f"choice {c.value!r} is scored as {c.scored_as}, outside the scale"
                    f" {min(plain)}-{max(plain)}"
                )
    return tuple(choices)


def dump_choices(choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in choices:
        entry: dict[str, Any] = {"value": c.value, "label": c.label}
        if c.scored_as is not None:
            entry["scored_as"] = c.scored_as
        out.append(entry)
    return out


def _flag(raw: Mapping[str, Any], name: str, default: bool, spot: Spot) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise spot.fail(f"{name} must be true or false, not {value!r}")
    return value


class Kind:
    """Base class: what an item of this kind accepts in a file and as an answer."""

    name: ClassVar[str]
    fields: ClassVar[frozenset[str]] = frozenset()

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Keyword arguments for :class:`Item` beyond key, text, kind and required."""
        return {}

    def check(self, item: Item, value: Any) -> Any:
        """The answer in its stored type, or :class:`AnswerError` when it is not possible."""
        raise NotImplementedError

    def dump(self, item: Item) -> dict[str, Any]:
        """The kind-specific fields of ``item`` as they would be written in a file."""
        return {}


class _WithChoices(Kind):
    numeric: ClassVar[bool]

    def _choices(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> tuple[Choice, ...]:
        if "choices" in raw and "response" in raw:
            raise spot.fail("give either response or choices, not both")
        if "choices" in raw:
            return parse_choices(raw["choices"], spot, numeric=self.numeric)
        name = raw.get("response")
        if name is None:
            if len(responses) == 1:
                name = next(iter(responses))
            else:
                raise spot.fail("needs response: (one of response_scales) or choices:")
        if name not in responses:
            raise spot.fail(f"response {name!r} is not one of response_scales")
        return parse_choices(responses[name], spot, numeric=self.numeric)

    def _widget(self, raw: Mapping[str, Any], spot: Spot) -> str:
        widget = raw.get("widget", "radio")
        if widget not in ("radio", "dropdown"):
            raise spot.fail(f"widget must be radio or dropdown, not {widget!r}")
        return str(widget)


class ScaleKind(_WithChoices):
    """A rating on ordered integer values (agreement, frequency, 1-10)."""

    name = "scale"
    numeric = True
    fields = frozenset({"response", "choices", "reverse", "subscale", "scored", "widget"})

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        choices = self._choices(raw, spot, responses)
        scores = [int(c.score) for c in choices]
        subscale = raw.get("subscale")
        if subscale is not None and not (isinstance(subscale, str) and NAME.match(subscale)):
            raise spot.fail(
                f"subscale must be a scale name such as social_distance, not {subscale!r}"
            )
        return {
            "choices": choices,
            "min": min(scores),
            "max": max(scores),
            "reverse": _flag(raw, "reverse", False, spot),
            "subscale": subscale,
            "scored": _flag(raw, "scored", True, spot),
            "widget": self._widget(raw, spot),
        }

    def check(self, item: Item, value: Any) -> int:
        if is_int(value) and any(c.value == int(value) for c in item.choices):
            return int(value)
        allowed = ", ".join(str(c.value) for c in item.choices)
        raise AnswerError(item.key, f"{value!r} is not one of {allowed}")

    def dump(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {"choices": dump_choices(item.choices)}
        if item.reverse:
            out["reverse"] = True
        if item.subscale:
            out["subscale"] = item.subscale
        if not item.scored:
            out["scored"] = False
        if item.widget != "radio":
            out["widget"] = item.widget
        return out


class ChoiceKind(_WithChoices):
    """One option out of unordered, coded categories (profession, yes/no/don't know)."""

    name = "choice"
    numeric = False
    fields = frozenset({"response", "choices", "widget"})

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"choices": self._choices(raw, spot, responses), "widget": self._widget(raw, spot)}

    def check(self, item: Item, value: Any) -> str:
        if isinstance(value, str) and any(c.value == value for c in item.choices):
            return value
        allowed = ", ".join(str(c.value) for c in item.choices)
        raise AnswerError(item.key, f"{value!r} is not one of {allowed}")

    def dump(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {"choices": dump_choices(item.choices)}
        if item.widget != "radio":
            out["widget"] = item.widget
        return out


class IntegerKind(Kind):
    """A whole number within bounds (year of training)."""

    name = "integer"
    fields = frozenset({"min", "max"})

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        low, high = raw.get("min"), raw.get("max")
        for name, bound in (("min", low), ("max", high)):
            if bound is not None and not is_int(bound):
                raise spot.fail(f"{name} must be an integer, not {bound!r}")
        if low is not None and high is not None and low > high:
            raise spot.fail(f"min {low} is greater than max {high}")
        return {
            "min": None if low is None else int(low),
            "max": None if high is None else int(high),
        }

    def check(self, item: Item, value: Any) -> int:
        if not is_int(value):
            raise AnswerError(item.key, f"{value!r} is not a whole number")
        number = int(value)
        if (item.min is not None and number < item.min) or (
            item.max is not None and number > item.max
        ):
            raise AnswerError(item.key, f"{number} is outside {item.min}-{item.max}")
        return number

    def dump(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if item.min is not None:
            out["min"] = item.min
        if item.max is not None:
            out["max"] = item.max
        return out


class TextKind(Kind):
    """Free text, one line or several (``multiline``)."""

    name = "text"
    fields = frozenset({"multiline"})

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"multiline": _flag(raw, "multiline", False, spot)}

    def check(self, item: Item, value: Any) -> str:
        if not isinstance(value, str):
            raise AnswerError(item.key, f"{value!r} is not text")
        return value

    def dump(self, item: Item) -> dict[str, Any]:
        return {"multiline": True} if item.multiline else {}


def _registry(*kinds: Kind) -> dict[str, Kind]:
    registry: dict[str, Kind] = {}
    for kind in kinds:
        if kind.name in registry:
            raise RuntimeError(f"item kind {kind.name!r} is registered twice")
        registry[kind.name] = kind
    return registry


KINDS: dict[str, Kind] = _registry(ScaleKind(), ChoiceKind(), IntegerKind(), TextKind())


def parse_answer(item: Item, text: str | None) -> Any:
    """An answer stored or posted as text, in its stored type (``None`` when blank).

    ``"4"`` becomes ``4`` for scale and integer items; choice and text answers stay text.

    Raises
    ------
    AnswerError
        When the text is not a possible answer of the item.
    """
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if item.kind in ("scale", "integer"):
        if not re.fullmatch(r"-?\d+", text):
            raise AnswerError(item.key, f"{text!r} is not a whole number")
        return check_answer(item, int(text))
    return check_answer(item, text)


def check_answer(item: Item, value: Any) -> Any:
    """The answer in its stored type; ``None`` if unanswered; :class:`AnswerError` if impossible."""
    if is_missing(value) or value == "":
        return None
    return KINDS[item.kind].check(item, value)
