"""The codebook: what every exported variable means.

One row per item (its variable name in the ``responses`` export) and one per scale (the ``scale``
column of the ``scores`` export), for every instrument given, with the instrument version, so that
a data file can be read without Allport. An item that takes several answers (a checkbox) has its
row, which lists its codes, followed by a row for each of its exported variables: one 0/1 variable
per choice, ``<item>___<code>``. Contact items are not
research data and text shown on its own (descriptive) is no data at all: neither is exported, so
the codebook leaves them out.

Labels written as HTML are given as their words (:func:`instruments.labels.plain_label`). The
``missing`` column says what an empty or coded value means beyond "not answered": an item asked
only under a condition (REDCap's branching logic) is empty when not applicable, and a
missing-data code (99 "inadequate information") is kept as given and never scored.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from instruments.csvfiles import write_table
from instruments.kinds import kind_of
from instruments.labels import plain_label
from instruments.model import Instrument, Item, ScaleDef
from instruments.scoring import needed

COLUMNS = [
    "variable",
    "role",
    "instrument",
    "version",
    "label",
    "kind",
    "values",
    "reverse",
    "scales",
    "scoring",
    "range",
    "direction",
    "required",
    "missing",
]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def item_label(item: Item) -> str:
    """The item's wording as plain text (markup removed), or a note that it is not supplied."""
    return plain_label(item.text, item.html) if item.text else "(licensed wording not supplied)"


def missing_note(item: Item) -> str:
    """What the ``missing`` column says of ``item``.

    ``empty when not applicable: shown only if [smoker] = '1'`` for an item with branching logic,
    and ``99 = inadequate information (missing-data code)`` for each missing-data code.
    """
    notes = [f"{choice.value} = {plain_label(choice.label)} (missing-data code)"
             for choice in item.choices if choice.missing]
    return "; ".join(_not_applicable(item) + notes)


def _not_applicable(item: Item) -> list[str]:
    return [f"empty when not applicable: shown only if {item.show_if}"] if item.show_if else []


def _item_rows(instrument: Instrument, item: Item) -> list[dict[str, str]]:
    """The item's row; for an item that takes several answers (a checkbox), then one per choice."""
    scales = [s.name for s in instrument.scales if item.key in s.items]
    kind = kind_of(item)
    cells = kind.codebook(item)
    row = {
        "variable": item.key,
        "role": "item",
        "instrument": instrument.id,
        "version": instrument.version,
        "label": item_label(item),
        "kind": item.kind,
        "values": cells.values,
        "reverse": "yes" if item.reverse else "no",
        "scales": "; ".join(scales),
        "scoring": cells.scoring,
        "range": cells.range,
        "direction": "",
        "required": "yes" if item.required else "no",
        "missing": missing_note(item),
    }
    if not kind.multiple:
        return [row]
    held = kind.statistics(item)  # how each choice's variable is held: 1 = Checked, 0 = ...
    values = "; ".join(f"{number} = {label}"
                       for number, label in sorted(held.value_labels.items(), reverse=True))
    return [row] + [
        row | {"variable": column, "label": f"{row['label']}: {plain_label(choice.label)}",
               "values": values, "range": "0-1",
               "missing": "; ".join(_not_applicable(item) + (
                   ["1 = a missing-data code (checked), never scored"] if choice.missing else []))}
        for column, choice in zip(kind.columns(item), item.choices, strict=True)
    ]


def _scale_row(instrument: Instrument, scale: ScaleDef) -> dict[str, str]:
    n = len(scale.items)
    rule = f"{scale.rule} of {n} items"
    if needed(scale) < n:
        rule += f"; prorated with at least {needed(scale)} answered, else missing"
    else:
        rule += "; missing unless every item is answered"
    return {
        "variable": scale.name,
        "role": "scale",
        "instrument": instrument.id,
        "version": instrument.version,
        "label": scale.label,
        "kind": "score",
        "values": "",
        "reverse": "",
        "scales": "",
        "scoring": f"{rule}: {', '.join(scale.items)}",
        "range": f"{_number(scale.range[0])}-{_number(scale.range[1])}",
        "direction": scale.direction,
        "required": "",
        "missing": "",
    }


def codebook_rows(instruments: Instrument | Iterable[Instrument]) -> list[dict[str, str]]:
    """Codebook rows (dicts keyed by :data:`COLUMNS`): each instrument's items, then its scales."""
    if isinstance(instruments, Instrument):
        instruments = [instruments]
    rows = []
    for instrument in instruments:
        for item in instrument.research_items:
            rows += _item_rows(instrument, item)
        rows += [_scale_row(instrument, scale) for scale in instrument.scales]
    return rows


def write_codebook(
    instruments: Instrument | Iterable[Instrument], target: str | Path | IO[str]
) -> None:
    """Write the codebook as CSV to a path or an open text file."""
    write_table(target, COLUMNS, codebook_rows(instruments))


def codebook_csv(instruments: Instrument | Iterable[Instrument]) -> str:
    """The codebook as CSV text."""
    buffer = io.StringIO(newline="")
    write_codebook(instruments, buffer)
    return buffer.getvalue()
