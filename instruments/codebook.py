"""The codebook: what every exported variable means.

One row per item (its variable name in the ``responses`` export) and one per scale (the ``scale``
column of the ``scores`` export), for every instrument given, with the instrument version, so that
a data file can be read without Allport. Contact items are not research data and are never
exported, so the codebook leaves them out.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from instruments.csvfiles import write_table
from instruments.kinds import kind_of
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
]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _item_row(instrument: Instrument, item: Item) -> dict[str, str]:
    scales = [s.name for s in instrument.scales if item.key in s.items]
    cells = kind_of(item).codebook(item)
    return {
        "variable": item.key,
        "role": "item",
        "instrument": instrument.id,
        "version": instrument.version,
        "label": item.text if item.text else "(licensed wording not supplied)",
        "kind": item.kind,
        "values": cells.values,
        "reverse": "yes" if item.reverse else "no",
        "scales": "; ".join(scales),
        "scoring": cells.scoring,
        "range": cells.range,
        "direction": "",
        "required": "yes" if item.required else "no",
    }


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
    }


def codebook_rows(instruments: Instrument | Iterable[Instrument]) -> list[dict[str, str]]:
    """Codebook rows (dicts keyed by :data:`COLUMNS`): each instrument's items, then its scales."""
    if isinstance(instruments, Instrument):
        instruments = [instruments]
    rows = []
    for instrument in instruments:
        rows += [_item_row(instrument, item) for item in instrument.research_items]
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
