"""The registry of item kinds: everything that differs between a scale, a choice, a number and text.

Each kind knows which fields it accepts in a definition file, how to build an :class:`~instruments.
model.Item` from them and write them back, which answers are possible, how a trainee gives one
(:class:`AnswerField`), how the codebook describes it (:class:`CodebookCells`), how it maps to a
REDCap field and back (:class:`RedcapField`), how SPSS and Stata hold it (:class:`StatType`) and
what a simulated trainee answers. The loader, the trainee form, the codebook, the REDCap and
statistics exports and the demo ask the item's kind instead of testing its name, so a new kind is
one class here and one entry in :data:`KINDS`, checked for uniqueness at import.

The descriptions are plain data: nothing here knows WTForms or pyreadstat (DESIGN §2), the web layer
and the exports turn them into form fields and file metadata.
"""

from __future__ import annotations

import math
import numbers
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from instruments.errors import AnswerError, DefinitionError
from instruments.model import UNANSWERED_KINDS, Choice, Item

if TYPE_CHECKING:
    import numpy as np

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
        unknown = set(entry) - {"value", "label", "scored_as", "missing"}
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
        missing = entry.get("missing", False)
        if not isinstance(missing, bool):
            raise spot.fail(f"missing of choice {value!r} must be true or false, not {missing!r}")
        if missing and scored_as is not None:
            raise spot.fail(f"choice {value!r} is a missing-data code and cannot be scored_as")
        choices.append(
            Choice(
                int(value) if numeric else value,
                label.strip(),
                None if scored_as is None else int(scored_as),
                missing,
            )
        )
    values = [c.value for c in choices]
    duplicate = next((v for v in values if values.count(v) > 1), None)
    if duplicate is not None:
        raise spot.fail(f"choice value {duplicate!r} appears twice")
    if numeric:
        plain = [int(c.value) for c in choices if c.scored_as is None and not c.missing]
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
    """Choices as the definition file writes them (``scored_as`` only where it is set)."""
    out: list[dict[str, Any]] = []
    for c in choices:
        entry: dict[str, Any] = {"value": c.value, "label": c.label}
        if c.scored_as is not None:
            entry["scored_as"] = c.scored_as
        if c.missing:
            entry["missing"] = True
        out.append(entry)
    return out


def _flag(raw: Mapping[str, Any], name: str, default: bool, spot: Spot) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise spot.fail(f"{name} must be true or false, not {value!r}")
    return value


def is_int_text(text: str) -> bool:
    """``"-3"`` and ``" 12 "`` are whole numbers; ``"4.5"`` and ``"x"`` are not."""
    return re.fullmatch(r"-?\d+", text.strip()) is not None


def redcap_choices(text: str, spot: Spot) -> list[tuple[str, str]]:
    """``"1, Strongly disagree | 2, Disagree"`` -> ``[("1", "Strongly disagree"), ...]``."""
    choices = []
    for part in text.split("|"):
        if not part.strip():
            continue
        code, comma, label = part.partition(",")
        if not comma or not code.strip() or not label.strip():
            raise spot.fail(f"choice {part.strip()!r} is not 'code, label' (e.g. '1, Agree')")
        choices.append((code.strip(), label.strip()))
    if len(choices) < 2:
        raise spot.fail(f"needs at least two choices, got {text!r}")
    return choices


# --- what a kind tells the rest of the system ---------------------------------------------------


@dataclass(frozen=True)
class AnswerField:
    """How a trainee answers an item, for the web layer to build its form field from.

    ``widget`` is ``options`` (pick one of ``options``, pairs of posted value and label shown),
    ``whole_number`` (from ``min`` to ``max``, either open), ``line`` or ``lines`` (text of at most
    ``max_length`` characters). ``layout`` sets options side by side as a rating ``scale`` or one
    under another (``stack``).
    """

    widget: Literal["options", "whole_number", "line", "lines"]
    options: tuple[tuple[str, str], ...] = ()
    min: int | float | None = None
    max: int | float | None = None
    max_length: int | None = None
    layout: Literal["scale", "stack"] = "stack"


@dataclass(frozen=True)
class CodebookCells:
    """The cells of an item's codebook row that depend on its kind."""

    values: str = ""
    scoring: str = ""
    range: str = ""


@dataclass(frozen=True)
class RedcapField:
    """The kind-specific columns of one field of a REDCap data dictionary.

    ``validation``, ``min`` and ``max`` are the Text Validation columns (or a slider's number and
    bounds); ``annotation`` is what REDCap cannot express, carried as an ``allport:{json}`` line of
    the Field Annotation (:mod:`instruments.redcap`).
    """

    field_type: str
    choices: str = ""
    validation: str = ""
    min: str = ""
    max: str = ""
    annotation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatType:
    """How SPSS and Stata hold an item's answers.

    ``measure`` is SPSS's measurement level. ``codes`` number answers stored as text
    (``medicine`` -> 1); ``value_labels`` label the numbers.
    """

    storage: Literal["numeric", "string"] = "numeric"
    measure: Literal["nominal", "ordinal", "scale"] = "scale"
    codes: dict[str, int] | None = None
    value_labels: dict[int, str] = field(default_factory=dict)


# --- the kinds ----------------------------------------------------------------------------------


class Kind(ABC):
    """One kind of item: its definition fields, its answers, and how every export shows it.

    The abstract methods are what a new kind must say; the others have defaults that fit a kind
    without options or bounds.
    """

    name: ClassVar[str]
    fields: ClassVar[frozenset[str]] = frozenset()
    redcap_types: ClassVar[tuple[str, ...]] = ()  # REDCap field types it may import
    response_prefix: ClassVar[str] = "options"  # shared choice lists in a written definition
    answered: ClassVar[bool] = True  # False: text shown on its own, never answered or exported
    multiple: ClassVar[bool] = False  # True: several choices at once, stored as "code,code"

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Keyword arguments for :class:`Item` beyond key, text, kind and required."""
        return {}

    def dump(self, item: Item) -> dict[str, Any]:
        """The kind-specific fields of ``item`` as they would be written in a file."""
        return {}

    @abstractmethod
    def check(self, item: Item, value: Any) -> Any:
        """The answer in its stored type, or :class:`AnswerError` when it is not possible."""

    def parse(self, item: Item, text: str) -> Any:
        """A non-blank answer posted or stored as text, in its stored type (or AnswerError)."""
        return self.check(item, text)

    @abstractmethod
    def answer_field(self, item: Item) -> AnswerField:
        """How a trainee gives the answer."""

    @abstractmethod
    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str | None:
        """A plausible answer for the demo, as posted text (``None``: left unanswered).

        ``latent`` is the simulated trainee's standardized attitude, higher meaning more anxiety
        or stigma; a kind whose answers do not express attitude may ignore it.
        """

    def codebook(self, item: Item) -> CodebookCells:
        """The codebook's values, scoring and range cells."""
        return CodebookCells()

    def columns(self, item: Item) -> tuple[str, ...]:
        """The variables an answer becomes in the wide exports: the item's key, by default."""
        return (item.key,)

    def cells(self, item: Item, value: Any) -> tuple[Any, ...]:
        """A stored answer (its stored type, ``None`` when unanswered) as one cell per column."""
        return (value,)

    @abstractmethod
    def statistics(self, item: Item) -> StatType:
        """How SPSS and Stata hold the answers."""

    @abstractmethod
    def to_redcap(self, item: Item) -> RedcapField:
        """The item as a REDCap field (``ValueError`` when REDCap cannot hold it)."""

    def from_redcap(
        self, redcap: RedcapField, spot: Spot, warn: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """Definition fields, as :meth:`build` reads them, for an imported REDCap field.

        Only fields of one of :attr:`redcap_types` are offered, to each kind in the order of
        :data:`KINDS`; the first that does not return ``None`` (not of this kind) imports the
        field. ``warn`` reports what is left out on the way.
        """
        return {}


def _numbered_label(choice: Choice) -> str:
    """On a numbered scale with labelled ends, the ends read "1 – Not at all", not "Not at all"."""
    if choice.label != str(choice.value):
        return f"{choice.value} – {choice.label}"
    return choice.label


def _whole_number(item: Item, text: str) -> int:
    if not is_int_text(text):
        raise AnswerError(item.key, f"{text!r} is not a whole number")
    return int(text)


class _WithChoices(Kind):
    """A kind answered by picking one of the item's choices (a REDCap radio or dropdown)."""

    numeric: ClassVar[bool]
    redcap_types = ("radio", "dropdown")

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

    def codebook(self, item: Item) -> CodebookCells:
        return CodebookCells(
            values=self._values(item), scoring="; ".join(self._special_scoring(item))
        )

    def _values(self, item: Item) -> str:
        return "; ".join(f"{c.value} = {c.label}" for c in item.choices)

    def _special_scoring(self, item: Item) -> list[str]:
        return [
            f"{c.value} scored as {c.scored_as}" for c in item.choices if c.scored_as is not None
        ] + [f"{c.value} is a missing-data code, never scored" for c in item.choices if c.missing]

    def to_redcap(self, item: Item) -> RedcapField:
        bad = next((c.label for c in item.choices if "|" in c.label), None)
        if bad is not None:
            raise ValueError(f"item {item.key!r}: REDCap choice labels cannot hold '|': {bad!r}")
        return RedcapField(
            item.widget,
            choices=" | ".join(f"{c.value}, {c.label}" for c in item.choices),
            annotation=self._redcap_annotation(item),
        )

    def _redcap_annotation(self, item: Item) -> dict[str, Any]:
        return {}

    def from_redcap(
        self, redcap: RedcapField, spot: Spot, warn: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """Integer codes make a scale, others a choice, unless the annotation names the kind."""
        pairs = redcap_choices(redcap.choices, spot)
        wanted = redcap.annotation.get("kind")
        if wanted is None:
            if all(is_int_text(code) for code, _ in pairs) != self.numeric:
                return None
        elif wanted != self.name:
            return None
        scored_as = redcap.annotation.get("scored_as") or {}
        choices: list[dict[str, Any]] = []
        for code, label in pairs:
            choice: dict[str, Any] = {
                "value": int(code) if self.numeric and is_int_text(code) else code,
                "label": label,
            }
            if code in scored_as:
                choice["scored_as"] = scored_as[code]
            choices.append(choice)
        entry: dict[str, Any] = {"choices": choices}
        if redcap.field_type == "dropdown":
            entry["widget"] = "dropdown"
        for name in ("reverse", "subscale", "scored"):
            if name in redcap.annotation:
                entry[name] = redcap.annotation[name]
        return entry


class ScaleKind(_WithChoices):
    """A rating on ordered integer values (agreement, frequency, 1-10)."""

    name = "scale"
    numeric = True
    fields = frozenset({"response", "choices", "reverse", "subscale", "scored", "widget"})
    response_prefix = "scale"

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        choices = self._choices(raw, spot, responses)
        scores = [int(c.score) for c in choices if not c.missing]
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

    def check(self, item: Item, value: Any) -> int:
        if is_int(value) and any(c.value == int(value) for c in item.choices):
            return int(value)
        allowed = ", ".join(str(c.value) for c in item.choices)
        raise AnswerError(item.key, f"{value!r} is not one of {allowed}")

    def parse(self, item: Item, text: str) -> int:
        return self.check(item, _whole_number(item, text))

    def answer_field(self, item: Item) -> AnswerField:
        """Options in a row.

        A numbered scale (its middle options labelled by their numbers) shows its labelled ends
        with their numbers; agreement scales keep their phrases as they are.
        """
        numbered = any(c.label == str(c.value) for c in item.choices)
        return AnswerField(
            "options",
            options=tuple(
                (str(c.value), _numbered_label(c) if numbered else c.label) for c in item.choices
            ),
            layout="scale",
        )

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str:
        """Centred on the scale's midpoint, moved by ``latent`` (against it when reverse-keyed)."""
        values = [int(c.value) for c in item.choices if c.scored_as is None and not c.missing]
        low, high = min(values), max(values)
        centre = (low + high) / 2
        signed = -latent if item.reverse else latent
        raw = centre + signed * (high - low) / 4 + rng.normal(0, (high - low) / 6)
        return str(int(min(max(round(raw), low), high)))

    def codebook(self, item: Item) -> CodebookCells:
        special = self._special_scoring(item)
        if item.reverse and item.min is not None and item.max is not None:
            special.insert(0, f"reverse-keyed: scored as {item.min + item.max} - value")
        return CodebookCells(
            values=self._values(item),
            scoring="; ".join(special) if item.scored else "not scored",
            range=f"{item.min}-{item.max}",
        )

    def statistics(self, item: Item) -> StatType:
        return StatType(
            measure="ordinal", value_labels={int(c.value): c.label for c in item.choices}
        )

    def _redcap_annotation(self, item: Item) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if item.reverse:
            meta["reverse"] = True
        if item.subscale:
            meta["subscale"] = item.subscale
        if not item.scored:
            meta["scored"] = False
        scored_as = {str(c.value): c.scored_as for c in item.choices if c.scored_as is not None}
        if scored_as:
            meta["scored_as"] = scored_as
        return meta


class ChoiceKind(_WithChoices):
    """One option out of unordered, coded categories (profession, yes/no/don't know)."""

    name = "choice"
    numeric = False
    fields = frozenset({"response", "choices", "widget"})

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"choices": self._choices(raw, spot, responses), "widget": self._widget(raw, spot)}

    def dump(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {"choices": dump_choices(item.choices)}
        if item.widget != "radio":
            out["widget"] = item.widget
        return out

    def check(self, item: Item, value: Any) -> str:
        if isinstance(value, str) and any(c.value == value for c in item.choices):
            return value
        allowed = ", ".join(str(c.value) for c in item.choices)
        raise AnswerError(item.key, f"{value!r} is not one of {allowed}")

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("options", options=tuple((str(c.value), c.label) for c in item.choices))

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str:
        """Any option, equally likely: categories say nothing about attitude."""
        return str(item.choices[int(rng.integers(len(item.choices)))].value)

    def statistics(self, item: Item) -> StatType:
        """Text codes numbered 1, 2, ... in the order of the instrument."""
        return StatType(
            measure="nominal",
            codes={str(c.value): i for i, c in enumerate(item.choices, start=1)},
            value_labels={i: c.label for i, c in enumerate(item.choices, start=1)},
        )

    def _redcap_annotation(self, item: Item) -> dict[str, Any]:
        """Codes that look like integers would import as a scale: say it is a choice."""
        return {"kind": "choice"} if all(is_int_text(str(c.value)) for c in item.choices) else {}


class IntegerKind(Kind):
    """A whole number within bounds (year of training)."""

    name = "integer"
    fields = frozenset({"min", "max"})
    redcap_types = ("text",)

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

    def dump(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if item.min is not None:
            out["min"] = item.min
        if item.max is not None:
            out["max"] = item.max
        return out

    def check(self, item: Item, value: Any) -> int:
        if not is_int(value):
            raise AnswerError(item.key, f"{value!r} is not a whole number")
        number = int(value)
        if (item.min is not None and number < item.min) or (
            item.max is not None and number > item.max
        ):
            raise AnswerError(item.key, f"{number} is outside {item.min}-{item.max}")
        return number

    def parse(self, item: Item, text: str) -> int:
        return self.check(item, _whole_number(item, text))

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("whole_number", min=item.min, max=item.max)

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str:
        return str(int(rng.integers(int(item.min or 0), int(item.max or 5) + 1)))

    def codebook(self, item: Item) -> CodebookCells:
        low = "" if item.min is None else item.min
        high = "" if item.max is None else item.max
        return CodebookCells(range=f"{low}-{high}")

    def statistics(self, item: Item) -> StatType:
        return StatType()

    def to_redcap(self, item: Item) -> RedcapField:
        return RedcapField(
            "text",
            validation="integer",
            min="" if item.min is None else str(item.min),
            max="" if item.max is None else str(item.max),
        )

    def from_redcap(
        self, redcap: RedcapField, spot: Spot, warn: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """A text field validated as an integer; bounds that are not whole numbers are dropped."""
        if redcap.validation not in ("integer", "int"):
            return None
        entry: dict[str, Any] = {}
        for name, bound in (("min", redcap.min), ("max", redcap.max)):
            if is_int_text(bound):
                entry[name] = int(bound)
            elif bound:
                warn(f"{name} {bound!r} left out")
        return entry


class TextKind(Kind):
    """Free text, one line or several (``multiline``)."""

    name = "text"
    fields = frozenset({"multiline"})
    redcap_types = ("text", "notes")

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"multiline": _flag(raw, "multiline", False, spot)}

    def dump(self, item: Item) -> dict[str, Any]:
        return {"multiline": True} if item.multiline else {}

    def check(self, item: Item, value: Any) -> str:
        if not isinstance(value, str):
            raise AnswerError(item.key, f"{value!r} is not text")
        return value

    def answer_field(self, item: Item) -> AnswerField:
        if item.multiline:
            return AnswerField("lines", max_length=2000)
        return AnswerField("line", max_length=500)

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str | None:
        return "—" if item.required else None

    def statistics(self, item: Item) -> StatType:
        return StatType(storage="string", measure="nominal")

    def to_redcap(self, item: Item) -> RedcapField:
        return RedcapField("notes" if item.multiline else "text")

    def from_redcap(
        self, redcap: RedcapField, spot: Spot, warn: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """Notes are several lines; any validation of a text field other than integer is lost."""
        if redcap.field_type == "notes":
            return {"multiline": True}
        if redcap.validation:
            warn(f"{redcap.validation} validation left out")
        return {}


def _registry(*kinds: Kind) -> dict[str, Kind]:
    registry: dict[str, Kind] = {}
    for kind in kinds:
        if kind.name in registry:
            raise RuntimeError(f"item kind {kind.name!r} is registered twice")
        if kind.answered == (kind.name in UNANSWERED_KINDS):
            raise RuntimeError(f"item kind {kind.name!r}: answered must agree with"
                               " instruments.model.UNANSWERED_KINDS")
        registry[kind.name] = kind
    return registry


# The order is the order in which kinds are offered a REDCap field: integer before text.
KINDS: dict[str, Kind] = _registry(ScaleKind(), ChoiceKind(), IntegerKind(), TextKind())


def kind_of(item: Item) -> Kind:
    """The registered kind of ``item``."""
    return KINDS[item.kind]


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
    return kind_of(item).parse(item, str(text).strip())


def check_answer(item: Item, value: Any) -> Any:
    """The answer in its stored type; ``None`` if unanswered; :class:`AnswerError` if impossible."""
    if is_missing(value) or value == "":
        return None
    return kind_of(item).check(item, value)
