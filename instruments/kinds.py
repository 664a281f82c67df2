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
from dataclasses import dataclass, field, replace
from datetime import date, datetime
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

    ``widget`` is one of

    - ``options``: pick one of ``options`` (pairs of posted value and label shown); ``layout``
      sets them side by side as a rating ``scale`` or one under another (``stack``);
    - ``several``: tick any of ``options`` (a checkbox item; the answer is posted as several
      values of one name and stored as the ticked codes joined by ``,`` in choice order);
    - ``whole_number``: from ``min`` to ``max``, either open;
    - ``decimal``: a number from ``min`` to ``max`` (either open), written with a decimal point,
      with exactly ``decimals`` decimal places when that is set;
    - ``date``: a date, posted as ``YYYY-MM-DD``, from ``earliest`` to ``latest`` (either open);
    - ``slider``: a whole number from ``min`` to ``max``, with ``options`` the anchor labels shown
      at their positions (pairs of position and label);
    - ``line`` or ``lines``: text of at most ``max_length`` characters;
    - ``none``: nothing to answer (text shown on its own).
    """

    widget: Literal[
        "options", "several", "whole_number", "decimal", "date", "slider", "line", "lines", "none"
    ]
    options: tuple[tuple[str, str], ...] = ()
    min: int | float | None = None
    max: int | float | None = None
    max_length: int | None = None
    layout: Literal["scale", "stack"] = "stack"
    decimals: int | None = None
    earliest: str | None = None
    latest: str | None = None


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
    redcap_types: ClassVar[tuple[str, ...]] = ("radio", "dropdown")

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
        annotation = self._redcap_annotation(item)
        missing = [str(c.value) for c in item.choices if c.missing]
        if missing:
            annotation["missing"] = missing
        return RedcapField(
            self._field_type(item),
            choices=" | ".join(f"{c.value}, {c.label}" for c in item.choices),
            annotation=annotation,
        )

    def _field_type(self, item: Item) -> str:
        return item.widget

    def _redcap_annotation(self, item: Item) -> dict[str, Any]:
        return {}

    def _takes(self, codes: list[str]) -> bool:
        """Whether a field with these codes is of this kind, when no annotation says."""
        return all(is_int_text(code) for code in codes) == self.numeric

    def from_redcap(
        self, redcap: RedcapField, spot: Spot, warn: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """Integer codes make a scale, others a choice, unless the annotation names the kind.

        Codes listed in the annotation's ``missing`` (Allport's own, or the importer's
        ``missing_codes``) become missing-data codes; they count as codes like any other when
        deciding whether the field is a scale, so 99 "inadequate information" keeps a scale one.
        """
        pairs = redcap_choices(redcap.choices, spot)
        wanted = redcap.annotation.get("kind")
        if wanted is None:
            if not self._takes([code for code, _ in pairs]):
                return None
        elif wanted != self.name:
            return None
        scored_as = redcap.annotation.get("scored_as") or {}
        missing = {str(code) for code in redcap.annotation.get("missing") or ()}
        choices: list[dict[str, Any]] = []
        for code, label in pairs:
            choice: dict[str, Any] = {
                "value": int(code) if self.numeric and is_int_text(code) else code,
                "label": label,
            }
            if code in scored_as:
                choice["scored_as"] = scored_as[code]
            if code in missing:
                choice["missing"] = True
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


class _Bounded(Kind):
    """A number within optional bounds: what the integer and number kinds share.

    A subclass says what its bounds and answers are (``_is_value``, ``_value``, ``described``)
    and which REDCap validation it writes.
    """

    fields = frozenset({"min", "max"})
    redcap_types = ("text",)
    described: ClassVar[str]  # "an integer", "a number"
    validation: ClassVar[str]  # REDCap's Text Validation type written on export

    @staticmethod
    @abstractmethod
    def _is_value(value: Any) -> bool:
        """Whether ``value`` is a possible bound or answer of the kind."""

    @staticmethod
    @abstractmethod
    def _value(value: Any) -> int | float:
        """``value`` in the kind's stored type."""

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        low, high = raw.get("min"), raw.get("max")
        for name, bound in (("min", low), ("max", high)):
            if bound is not None and not self._is_value(bound):
                raise spot.fail(f"{name} must be {self.described}, not {bound!r}")
        if low is not None and high is not None and low > high:
            raise spot.fail(f"min {low} is greater than max {high}")
        return {
            "min": None if low is None else self._value(low),
            "max": None if high is None else self._value(high),
        }

    def dump(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if item.min is not None:
            out["min"] = item.min
        if item.max is not None:
            out["max"] = item.max
        return out

    def _within(self, item: Item, number: int | float, shown: Any) -> None:
        """Nothing when ``number`` lies within the item's bounds, else an :class:`AnswerError`."""
        if (item.min is not None and number < item.min) or (
            item.max is not None and number > item.max
        ):
            raise AnswerError(item.key, f"{shown} is outside {self._range(item)}")

    @staticmethod
    def _range(item: Item) -> str:
        low = "" if item.min is None else item.min
        high = "" if item.max is None else item.max
        return f"{low}-{high}"

    def statistics(self, item: Item) -> StatType:
        return StatType()

    def to_redcap(self, item: Item) -> RedcapField:
        return RedcapField(
            "text",
            validation=self.validation,
            min="" if item.min is None else str(item.min),
            max="" if item.max is None else str(item.max),
        )


class IntegerKind(_Bounded):
    """A whole number within bounds (year of training)."""

    name = "integer"
    described = "an integer"
    validation = "integer"

    @staticmethod
    def _is_value(value: Any) -> bool:
        return is_int(value)

    @staticmethod
    def _value(value: Any) -> int:
        return int(value)

    def check(self, item: Item, value: Any) -> int:
        if not is_int(value):
            raise AnswerError(item.key, f"{value!r} is not a whole number")
        number = int(value)
        self._within(item, number, number)
        return number

    def parse(self, item: Item, text: str) -> int:
        return self.check(item, _whole_number(item, text))

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("whole_number", min=item.min, max=item.max)

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str:
        return str(int(rng.integers(int(item.min or 0), int(item.max or 5) + 1)))

    def codebook(self, item: Item) -> CodebookCells:
        return CodebookCells(range=self._range(item))

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
            warn(f"{redcap.validation} validation left out: the answer is free text")
        return {}


class CheckboxKind(_WithChoices):
    """Any number of coded options ticked at once (REDCap's checkbox: "select all that apply").

    The answer is the ticked codes in choice order, a tuple in Python and ``"1,3"`` as stored
    text; in the wide exports it is one 0/1 variable per choice, ``<key>___<code>`` as REDCap
    names them.
    """

    name = "checkbox"
    numeric = False
    multiple = True
    fields = frozenset({"response", "choices"})
    redcap_types = ("checkbox",)
    response_prefix = "ticks"

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"choices": self._choices(raw, spot, responses)}

    def dump(self, item: Item) -> dict[str, Any]:
        return {"choices": dump_choices(item.choices)}

    def check(self, item: Item, value: Any) -> tuple[str, ...]:
        """The ticked codes in choice order, from ``"3,1"`` or a sequence of codes."""
        if isinstance(value, str):
            ticked = [code.strip() for code in value.split(",")] if value.strip() else []
        elif isinstance(value, list | tuple) and all(
            isinstance(code, str) or is_int(code) for code in value
        ):
            ticked = [code if isinstance(code, str) else str(int(code)) for code in value]
        else:
            raise AnswerError(item.key, f"{value!r} is not a list of ticked codes")
        codes = [str(c.value) for c in item.choices]
        for code in ticked:
            if code not in codes:
                raise AnswerError(item.key, f"{code!r} is not one of {', '.join(codes)}")
            if ticked.count(code) > 1:
                raise AnswerError(item.key, f"{code!r} is ticked twice")
        return tuple(code for code in codes if code in ticked)

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("several", options=tuple((str(c.value), c.label) for c in item.choices))

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str | None:
        """Each option ticked with probability 0.4; at least one when the item is required."""
        codes = [str(c.value) for c in item.choices if not c.missing]
        ticked = [code for code in codes if rng.random() < 0.4]
        if not ticked and item.required:
            ticked = [codes[int(rng.integers(len(codes)))]]
        return ",".join(ticked) or None

    def columns(self, item: Item) -> tuple[str, ...]:
        """``<key>___<code>`` per choice, the code in lower case, as REDCap exports them."""
        return tuple(f"{item.key}___{str(c.value).lower()}" for c in item.choices)

    def cells(self, item: Item, value: Any) -> tuple[Any, ...]:
        """1 for a ticked choice and 0 for another; all ``None`` when unanswered."""
        if is_missing(value):
            return (None,) * len(item.choices)
        ticked = self.check(item, value)
        return tuple(1 if str(c.value) in ticked else 0 for c in item.choices)

    def codebook(self, item: Item) -> CodebookCells:
        scoring = [f"one variable per choice ({', '.join(self.columns(item))}): 1 ticked, 0 not"]
        return CodebookCells(
            values=self._values(item), scoring="; ".join(scoring + self._special_scoring(item))
        )

    def statistics(self, item: Item) -> StatType:
        """Each of the item's variables is 0 or 1."""
        return StatType(measure="nominal", value_labels={0: "Unchecked", 1: "Checked"})

    def _field_type(self, item: Item) -> str:
        return "checkbox"

    def _takes(self, codes: list[str]) -> bool:
        return True


class _Binary(Kind):
    """A question answered 1 or 0 under two fixed labels (REDCap's yesno and truefalse)."""

    labels: ClassVar[tuple[str, str]]  # the labels of 1 and of 0

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"choices": (Choice(1, self.labels[0]), Choice(0, self.labels[1]))}

    def check(self, item: Item, value: Any) -> int:
        if is_int(value) and int(value) in (0, 1):
            return int(value)
        raise AnswerError(
            item.key, f"{value!r} is not 1 ({self.labels[0]}) or 0 ({self.labels[1]})"
        )

    def parse(self, item: Item, text: str) -> int:
        return self.check(item, _whole_number(item, text))

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("options", options=(("1", self.labels[0]), ("0", self.labels[1])))

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str:
        """Either answer, equally likely."""
        return str(int(rng.integers(2)))

    def codebook(self, item: Item) -> CodebookCells:
        return CodebookCells(values=f"1 = {self.labels[0]}; 0 = {self.labels[1]}")

    def statistics(self, item: Item) -> StatType:
        return StatType(measure="nominal", value_labels={1: self.labels[0], 0: self.labels[1]})

    def to_redcap(self, item: Item) -> RedcapField:
        return RedcapField(self.name)


class YesNoKind(_Binary):
    """Yes (1) or No (0)."""

    name = "yesno"
    redcap_types = ("yesno",)
    labels = ("Yes", "No")


class TrueFalseKind(_Binary):
    """True (1) or False (0)."""

    name = "truefalse"
    redcap_types = ("truefalse",)
    labels = ("True", "False")


class SliderKind(Kind):
    """A whole number chosen on a slider from ``min`` to ``max`` (0-100 unless given).

    ``anchors`` label positions on the slider (``{0: Not at all, 100: Completely}``); they are the
    item's choices, kept for display and the codebook: any whole number in the range is an answer.
    REDCap labels the left end, the middle (``(min + max) // 2``) and the right end; other
    positions travel in the ``allport:`` annotation.
    """

    name = "slider"
    fields = frozenset({"min", "max", "anchors"})
    redcap_types = ("slider",)
    default_range: ClassVar[tuple[int, int]] = (0, 100)

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        low, high = raw.get("min", self.default_range[0]), raw.get("max", self.default_range[1])
        for name, bound in (("min", low), ("max", high)):
            if not is_int(bound):
                raise spot.fail(f"{name} of a slider must be an integer, not {bound!r}")
        low, high = int(low), int(high)
        if low >= high:
            raise spot.fail(f"min {low} of a slider must be below its max {high}")
        anchors = raw.get("anchors") or {}
        if not isinstance(anchors, Mapping):
            raise spot.fail("anchors must map positions to labels, e.g. {0: Not at all}")
        for point, label in anchors.items():
            if not is_int(point):
                raise spot.fail(f"anchor positions must be whole numbers, not {point!r}")
            if not low <= int(point) <= high:
                raise spot.fail(f"anchor {point!r} is outside the slider's range {low}-{high}")
            if not isinstance(label, str) or not label.strip():
                raise spot.fail(f"anchor {point!r} needs a label")
        return {
            "min": low,
            "max": high,
            "choices": tuple(
                Choice(int(point), anchors[point].strip()) for point in sorted(anchors)
            ),
        }

    def dump(self, item: Item) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if item.min != self.default_range[0]:
            out["min"] = item.min
        if item.max != self.default_range[1]:
            out["max"] = item.max
        if item.choices:
            out["anchors"] = {c.value: c.label for c in item.choices}
        return out

    def check(self, item: Item, value: Any) -> int:
        if not is_int(value):
            raise AnswerError(item.key, f"{value!r} is not a whole number")
        number = int(value)
        assert item.min is not None and item.max is not None
        if not item.min <= number <= item.max:
            raise AnswerError(item.key, f"{number} is outside {item.min}-{item.max}")
        return number

    def parse(self, item: Item, text: str) -> int:
        return self.check(item, _whole_number(item, text))

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField(
            "slider",
            options=tuple((str(c.value), c.label) for c in item.choices),
            min=item.min,
            max=item.max,
        )

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str:
        """Anywhere on the slider, equally likely: what it measures has no known direction."""
        assert item.min is not None and item.max is not None
        return str(int(rng.integers(int(item.min), int(item.max) + 1)))

    def codebook(self, item: Item) -> CodebookCells:
        return CodebookCells(
            values="; ".join(f"{c.value} = {c.label}" for c in item.choices),
            range=f"{item.min}-{item.max}",
        )

    def statistics(self, item: Item) -> StatType:
        return StatType(value_labels={int(c.value): c.label for c in item.choices})

    def _ends(self, low: int, high: int) -> tuple[int, int, int]:
        return low, (low + high) // 2, high

    def to_redcap(self, item: Item) -> RedcapField:
        """Labels at the ends and the middle; ``number`` shows the chosen number, as here."""
        assert item.min is not None and item.max is not None
        bad = next((c.label for c in item.choices if "|" in c.label), None)
        if bad is not None:
            raise ValueError(f"item {item.key!r}: REDCap slider labels cannot hold '|': {bad!r}")
        labels = {int(c.value): c.label for c in item.choices}
        ends = self._ends(int(item.min), int(item.max))
        annotation: dict[str, Any] = {}
        if set(labels) - set(ends):
            annotation["anchors"] = [[c.value, c.label] for c in item.choices]
        return RedcapField(
            "slider",
            choices=" | ".join(labels.get(point, "") for point in ends) if labels else "",
            validation="number",
            min="" if item.min == self.default_range[0] else str(item.min),
            max="" if item.max == self.default_range[1] else str(item.max),
            annotation=annotation,
        )

    def from_redcap(
        self, redcap: RedcapField, spot: Spot, warn: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """``left | middle | right`` labels at min, middle and max; integer bounds or 0-100."""
        entry: dict[str, Any] = {}
        for name, bound, default in (
            ("min", redcap.min, self.default_range[0]),
            ("max", redcap.max, self.default_range[1]),
        ):
            if is_int_text(bound):
                entry[name] = int(bound)
            elif bound:
                warn(f"slider {name} {bound!r} is not a whole number; {default} used")
        low = entry.get("min", self.default_range[0])
        high = entry.get("max", self.default_range[1])
        if low >= high:
            raise spot.fail(f"slider min {low} must be below its max {high}")
        if "anchors" in redcap.annotation:
            entry["anchors"] = {int(point): label for point, label in redcap.annotation["anchors"]}
            return entry
        labels = [part.strip() for part in redcap.choices.split("|")] if redcap.choices else []
        if len(labels) > 3:
            raise spot.fail(
                f"a slider has at most three labels (left | middle | right), got {redcap.choices!r}"
            )
        ends = self._ends(low, high)[: len(labels)]
        anchors = {point: label for point, label in zip(ends, labels, strict=True) if label}
        if anchors:
            entry["anchors"] = anchors
        return entry


DECIMAL_TEXT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _bound(text: str) -> int | float | None:
    """A REDCap bound as written: ``"3"`` -> 3, ``"2.5"`` -> 2.5, anything else ``None``."""
    if is_int_text(text):
        return int(text)
    if DECIMAL_TEXT.fullmatch(text.strip()):
        return float(text)
    return None


class NumberKind(_Bounded):
    """A number, decimals allowed, within optional bounds (hours of contact, a lab value).

    Answers are written with a decimal point and kept as floats. ``decimals`` (1 to 4, REDCap's
    ``number_1dp`` to ``number_4dp``) asks for exactly that many decimal places: 2 takes 37.50
    and refuses 37.5, as REDCap does.
    """

    name = "number"
    fields = _Bounded.fields | {"decimals"}
    described = "a number"
    validation = "number"
    # REDCap's validation types of a number (float and decimal are older names of number)
    VALIDATIONS: ClassVar[frozenset[str]] = frozenset({"number", "float", "decimal"})
    FIXED = re.compile(r"number_(?P<decimals>[1-4])dp(?P<comma>_comma_decimal)?")
    MOST_DECIMALS = 4

    @staticmethod
    def _is_value(value: Any) -> bool:
        return _is_number(value)

    @staticmethod
    def _value(value: Any) -> int | float:
        return value  # as written: a bound of 3 stays 3, of 2.5 stays 2.5

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        entry = super().build(raw, spot, responses)
        decimals = raw.get("decimals")
        if decimals is not None and not (
                is_int(decimals) and 1 <= decimals <= self.MOST_DECIMALS):
            raise spot.fail(f"decimals must be a whole number from 1 to {self.MOST_DECIMALS}, "
                            f"not {decimals!r}")
        return {**entry, "decimals": decimals}

    def dump(self, item: Item) -> dict[str, Any]:
        out = super().dump(item)
        if item.decimals is not None:
            out["decimals"] = item.decimals
        return out

    def check(self, item: Item, value: Any) -> float:
        if not _is_number(value):
            raise AnswerError(item.key, f"{value!r} is not a number")
        number = float(value)
        self._within(item, number, repr(value))
        return number

    def parse(self, item: Item, text: str) -> float:
        if not DECIMAL_TEXT.fullmatch(text):
            hint = " (write decimals with a point: 2.5)" if "," in text else ""
            raise AnswerError(item.key, f"{text!r} is not a number{hint}")
        if item.decimals is not None and decimal_places(text) != item.decimals:
            raise AnswerError(item.key, f"{text!r} does not have {item.decimals} decimal places")
        return self.check(item, float(text))

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("decimal", min=item.min, max=item.max, decimals=item.decimals)

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str:
        low = 0.0 if item.min is None else float(item.min)
        high = low + 10 if item.max is None else float(item.max)
        return f"{float(rng.uniform(low, high)):.{item.decimals or 1}f}"

    def codebook(self, item: Item) -> CodebookCells:
        values = ("a number, decimals allowed" if item.decimals is None else
                  f"a number with {item.decimals} decimal place{'s' if item.decimals > 1 else ''}")
        return CodebookCells(values=values, range=self._range(item))

    def to_redcap(self, item: Item) -> RedcapField:
        field = super().to_redcap(item)
        if item.decimals is None:
            return field
        return replace(field, validation=f"number_{item.decimals}dp")

    def from_redcap(
        self, redcap: RedcapField, spot: Spot, warn: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """A text field validated as a number; bounds that are not numbers are dropped.

        ``number_2dp`` keeps its two decimal places; the decimal comma of the
        ``*_comma_decimal`` types is not kept (a point is the decimal mark here).
        """
        entry: dict[str, Any] = {}
        fixed = self.FIXED.fullmatch(redcap.validation)
        if fixed:
            entry["decimals"] = int(fixed["decimals"])
        if redcap.validation == "number_comma_decimal" or (fixed and fixed["comma"]):
            warn(f"{redcap.validation} validation imported with a point as the decimal mark")
        elif not fixed and redcap.validation not in self.VALIDATIONS:
            return None
        for name, text in (("min", redcap.min), ("max", redcap.max)):
            bound = _bound(text)
            if bound is not None:
                entry[name] = bound
            elif text:
                warn(f"{name} {text!r} left out")
        return entry


def decimal_places(text: str) -> int:
    """How many digits a number written with a decimal point has after it."""
    whole, point, fraction = text.partition(".")
    return len(fraction) if point else 0


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class DateKind(Kind):
    """A calendar date, stored as ISO 8601 text ``YYYY-MM-DD``, from ``earliest`` to ``latest``.

    REDCap's ``date_ymd``, ``date_mdy`` and ``date_dmy`` differ only in how the date is shown; all
    three import as a date (the browser shows it in the trainee's own format), with their
    bounds (REDCap writes them as year-month-day whatever the display).
    """

    name = "date"
    fields = frozenset({"earliest", "latest"})
    redcap_types = ("text",)
    VALIDATIONS: ClassVar[frozenset[str]] = frozenset({"date_ymd", "date_mdy", "date_dmy"})

    def build(
        self, raw: Mapping[str, Any], spot: Spot, responses: Mapping[str, Any]
    ) -> dict[str, Any]:
        bounds: dict[str, Any] = {}
        for name in ("earliest", "latest"):
            bound = raw.get(name)
            if bound is not None and not (isinstance(bound, str) and is_iso_date(bound)):
                raise spot.fail(f"{name} must be a date written YYYY-MM-DD, not {bound!r}")
            bounds[name] = bound
        if None not in bounds.values() and bounds["earliest"] > bounds["latest"]:
            raise spot.fail(f"earliest {bounds['earliest']} is after latest {bounds['latest']}")
        return bounds

    def dump(self, item: Item) -> dict[str, Any]:
        return {name: bound for name, bound in (("earliest", item.earliest),
                                                ("latest", item.latest)) if bound is not None}

    def check(self, item: Item, value: Any) -> str:
        if isinstance(value, date) and not isinstance(value, datetime):
            text = value.isoformat()
        elif isinstance(value, str) and ISO_DATE.fullmatch(value):
            try:
                text = date.fromisoformat(value).isoformat()
            except ValueError:
                raise AnswerError(item.key, f"{value!r} is not a date in the calendar") from None
        else:
            raise AnswerError(item.key, f"{value!r} is not a date written YYYY-MM-DD")
        # ISO dates compare as text in calendar order.
        if (item.earliest is not None and text < item.earliest) or (
                item.latest is not None and text > item.latest):
            raise AnswerError(item.key, f"{text} is outside {item.earliest or ''}"
                                        f" to {item.latest or ''}")
        return text

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("date", earliest=item.earliest, latest=item.latest)

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> str | None:
        """A day of the last year (or within the item's bounds), when it must be answered."""
        if not item.required:
            return None
        first = date.fromisoformat(item.earliest or "2025-01-01").toordinal()
        last = date.fromisoformat(item.latest).toordinal() if item.latest else first + 364
        return date.fromordinal(first + int(rng.integers(last - first + 1))).isoformat()

    def codebook(self, item: Item) -> CodebookCells:
        bounded = item.earliest is not None or item.latest is not None
        return CodebookCells(values="a date, YYYY-MM-DD", range=(
            f"{item.earliest or ''} to {item.latest or ''}" if bounded else ""))

    def statistics(self, item: Item) -> StatType:
        return StatType(storage="string", measure="nominal")

    def to_redcap(self, item: Item) -> RedcapField:
        return RedcapField("text", validation="date_ymd", min=item.earliest or "",
                           max=item.latest or "")

    def from_redcap(
        self, redcap: RedcapField, spot: Spot, warn: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """A text field validated as a date, with its bounds when they are dates.

        REDCap writes a date's bounds as year-month-day; one written in the field's own order
        (day-month-year for ``date_dmy``) is read that way. "today" and piped fields, which
        REDCap also takes there, are left out with a warning.
        """
        if redcap.validation not in self.VALIDATIONS:
            return None
        entry: dict[str, Any] = {}
        for name, redcap_name, text in (("earliest", "min", redcap.min),
                                        ("latest", "max", redcap.max)):
            bound = self._redcap_date(text.strip(), redcap.validation)
            if bound is not None:
                entry[name] = bound
            elif text:
                warn(f"{redcap_name} {text!r} left out: not a date")
        return entry

    @staticmethod
    def _redcap_date(text: str, validation: str) -> str | None:
        if is_iso_date(text):
            return text
        order = {"date_dmy": "%d-%m-%Y", "date_mdy": "%m-%d-%Y"}.get(validation)
        if order is not None:
            try:
                return datetime.strptime(text, order).date().isoformat()
            except ValueError:
                pass
        return None


def is_iso_date(text: str) -> bool:
    """Whether ``text`` is a date of the calendar written ``YYYY-MM-DD``."""
    if not ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


class DescriptiveKind(Kind):
    """Text shown on its own (instructions between questions, a vignette): never answered.

    It is never required, never scored and never exported; a branching condition may show or hide
    it like any item.
    """

    name = "descriptive"
    redcap_types = ("descriptive",)
    answered = False

    def check(self, item: Item, value: Any) -> Any:
        raise AnswerError(item.key, "shows text and takes no answer")

    def answer_field(self, item: Item) -> AnswerField:
        return AnswerField("none")

    def simulate(self, item: Item, latent: float, rng: np.random.Generator) -> None:
        return None

    def codebook(self, item: Item) -> CodebookCells:
        return CodebookCells(values="text shown, never answered")

    def columns(self, item: Item) -> tuple[str, ...]:
        return ()

    def cells(self, item: Item, value: Any) -> tuple[Any, ...]:
        return ()

    def statistics(self, item: Item) -> StatType:
        return StatType(storage="string", measure="nominal")

    def to_redcap(self, item: Item) -> RedcapField:
        return RedcapField("descriptive")


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


# The order is the order in which kinds are offered a REDCap field: a radio with integer codes is
# a scale before it is a choice; a text field is an integer, a number or a date (by its validation)
# before it is free text, which takes any text field.
KINDS: dict[str, Kind] = _registry(
    ScaleKind(),
    ChoiceKind(),
    CheckboxKind(),
    YesNoKind(),
    TrueFalseKind(),
    SliderKind(),
    IntegerKind(),
    NumberKind(),
    DateKind(),
    TextKind(),
    DescriptiveKind(),
)


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
