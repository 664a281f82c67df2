"""The instrument model: frozen dataclasses that every other module reads.

An :class:`Instrument` is built by the loader (:mod:`instruments.definition`) from a versioned
data file and never changes afterwards; scoring, reliability, the codebook and the REDCap export
take it as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

CompletedBy = Literal["trainee", "rater"]
# Kinds whose items show text and are never answered; instruments.kinds checks that its registry
# agrees (the model may not import the kinds, which import it).
UNANSWERED_KINDS = frozenset({"descriptive"})
Rule = Literal["sum", "mean"]


@dataclass(frozen=True, slots=True)
class Choice:
    """One response option, in display order.

    ``value`` is what is stored (an ``int`` for scale items, a ``str`` for choice items).
    ``scored_as`` is set when an option is stored under its own code but scored as another value,
    e.g. RIBS's "don't know" stored as 9 and scored as the midpoint 3. ``missing`` marks a
    missing-data code (99 "inadequate information", -9 "refused"): stored as given, never scored.
    """

    value: int | str
    label: str
    scored_as: int | None = None
    missing: bool = False

    @property
    def score(self) -> int | str:
        """The value this option contributes to a scale score."""
        return self.value if self.scored_as is None else self.scored_as


@dataclass(frozen=True, slots=True)
class Item:
    """One question.

    ``kind`` names its kind in :data:`instruments.kinds.KINDS`, which says what the other fields
    mean for it. ``min``/``max`` bound an integer item; for a scale item they are the lowest and
    highest *scored* values of its choices, which reverse keying uses: ``(min + max) - x``.
    ``decimals`` fixes how many decimal places a number item's answer has (REDCap's
    ``number_2dp``); ``earliest``/``latest`` bound a date item (ISO dates, either open).
    ``scored`` is set only by kinds whose answers score (scales); only such items enter a scale.
    ``contact`` marks contact data (an email, a phone number): the trainee answers it, but no
    export, analysis or report ever shows it (DESIGN §8); such an item is never scored.

    What a REDCap form says about where and when an item is asked:

    - ``show_if`` is its branching logic, in the canonical text of :mod:`instruments.branching`:
      when false the item is not asked and its answer is stored as "not applicable";
    - ``section`` is a heading shown above it, and ``new_page`` starts a page with it;
    - ``note`` is a hint shown under the label (REDCap's Field Note);
    - ``matrix`` names the matrix group of consecutive items that share their choices;
    - ``html`` says that ``text``, ``section`` and ``note`` are markup, sanitized against an
      allow-list when the definition is loaded (:mod:`instruments.labels`); otherwise they are
      plain text.
    """

    key: str
    text: str | None
    kind: str
    choices: tuple[Choice, ...] = ()
    min: int | float | None = None
    max: int | float | None = None
    reverse: bool = False
    subscale: str | None = None
    scored: bool = False
    required: bool = True
    multiline: bool = False
    widget: Literal["radio", "dropdown"] = "radio"
    contact: bool = False
    show_if: str | None = None
    section: str | None = None
    note: str | None = None
    matrix: str | None = None
    new_page: bool = False
    html: bool = False
    decimals: int | None = None
    earliest: str | None = None
    latest: str | None = None
    # Its hash, once computed: an item is part of the key of its page's form class and of its
    # kept markup, looked up on every page view, and hashing all of its words and choices each
    # time cost a twentieth of a view. Never compared, and never pickled: another process
    # salts the hashes of strings differently.
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(tuple(
                getattr(self, name) for name in _ITEM_FIELDS)))
        return self._hash  # type: ignore[return-value]

    def __getstate__(self) -> list[object]:
        return [None if name == "_hash" else getattr(self, name)
                for name in (f.name for f in fields(self))]

    def choice(self, value: int | str) -> Choice:
        """The option stored as ``value``; ``LookupError`` when there is none."""
        for option in self.choices:
            if option.value == value:
                return option
        raise LookupError(f"item {self.key!r} has no option {value!r}")


# What an item's hash and equality are made of.
_ITEM_FIELDS = tuple(f.name for f in fields(Item) if f.compare)


@dataclass(frozen=True, slots=True)
class ScaleDef:
    """A total or subscale score: which items, how they combine, and how missing items are handled.

    ``min_answered`` is a fraction of ``items``: with fewer answered the score is missing; with at
    least that many a ``sum`` is prorated (mean of the answered items times the number of items)
    and a ``mean`` is the mean of the answered items.
    """

    name: str
    label: str
    items: tuple[str, ...]
    rule: Rule
    min_answered: float
    direction: str
    range: tuple[float, float]


@dataclass(frozen=True)
class Instrument:
    """A versioned questionnaire or checklist.

    ``fingerprint`` is the SHA-256 of the canonical definition, set by the loader
    (:func:`instruments.definition.parse_definition`), which knows the canonical form.
    """

    id: str
    version: str
    title: str
    instructions: str | None
    items: tuple[Item, ...]
    scales: tuple[ScaleDef, ...] = ()
    completed_by: CompletedBy = "trainee"
    citation: str = ""
    licence: str = ""
    page_size: int | None = None
    note: str | None = None
    source: str | None = field(default=None, compare=False, repr=False)
    fingerprint: str = field(default="", compare=False, repr=False)
    _by_key: dict[str, Item] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {item.key: item for item in self.items})

    def item(self, key: str) -> Item:
        """The item whose variable name is ``key``."""
        try:
            return self._by_key[key]
        except KeyError:
            raise LookupError(f"instrument {self.id} {self.version} has no item {key!r}") from None

    def scale(self, name: str) -> ScaleDef:
        """The scale (``"total"`` or a subscale name) called ``name``."""
        for scale in self.scales:
            if scale.name == name:
                return scale
        raise LookupError(f"instrument {self.id} {self.version} has no scale {name!r}")

    @property
    def answered_items(self) -> tuple[Item, ...]:
        """The items a trainee answers: every item but text shown on its own (``descriptive``)."""
        return tuple(item for item in self.items if item.kind not in UNANSWERED_KINDS)

    @property
    def research_items(self) -> tuple[Item, ...]:
        """The answers that are research data: every answered item but contact data (DESIGN §8)."""
        return tuple(item for item in self.answered_items if not item.contact)

    @property
    def has_wording(self) -> bool:
        """Every item has its text (licensed wording, when needed, has been supplied)."""
        return all(item.text for item in self.items)
