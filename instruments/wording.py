"""Licensed wording supplied by a site.

Scales whose wording is licensed (OMS-HC, RIBS) ship as scoring keys with ``text: null``. A site
that holds the licence supplies the text once, as a CSV with columns ``key`` and ``text`` (and
optionally a row ``_instructions``); it is validated against the instrument version and stored in
the site's wording folder as ``<id>@<version>.csv``, and :func:`~instruments.library.load_library`
merges it in.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO

from instruments.csvfiles import read_table, write_table
from instruments.errors import DefinitionError
from instruments.model import Instrument

INSTRUCTIONS = "_instructions"


def wording_filename(instrument_id: str, version: str) -> str:
    """The site file of supplied wording for one version: ``<id>@<version>.csv``."""
    return f"{instrument_id}@{version}.csv"


def missing_wording(instrument: Instrument) -> list[str]:
    """Keys of the items that have no text, in item order (empty when the form can be shown).

    A study must not open recruitment while any of its instruments returns a non-empty list.
    """
    return [item.key for item in instrument.items if not item.text]


def read_wording_csv(source: str | Path | IO[str], file: str | None = None) -> dict[str, str]:
    """``{key: text}`` from a CSV with a header row naming columns ``key`` and ``text``.

    Raises
    ------
    DefinitionError
        On a missing column, an empty key or text, or a key given twice.
    """
    name = file or str(source)
    rows = read_table(source, name)
    if not rows:
        raise DefinitionError(name, "the CSV is empty; it needs a header row: key,text")
    header = [cell.strip().lower() for cell in rows[0]]
    if "key" not in header or "text" not in header:
        raise DefinitionError(name, f"the header must name columns key and text, not {rows[0]}")
    key_at, text_at = header.index("key"), header.index("text")
    wording: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        key = row[key_at].strip() if key_at < len(row) else ""
        text = row[text_at].strip() if text_at < len(row) else ""
        if not key:
            raise DefinitionError(name, f"line {line}: the key is empty")
        if not text:
            raise DefinitionError(name, f"line {line}: the text is empty", key)
        if key in wording:
            raise DefinitionError(name, "appears twice", key)
        wording[key] = text
    return wording


def apply_wording(
    instrument: Instrument, wording: Mapping[str, str], file: str = "<wording>"
) -> Instrument:
    """``instrument`` with the supplied texts merged in, after checking they fit it exactly.

    Every key must be an item of this version whose text is not bundled, and every item without
    bundled text must be given; ``_instructions`` may be given when no instructions are bundled.
    The fingerprint is kept: supplied wording does not change the definition.
    """
    for key in wording:
        if key == INSTRUCTIONS:
            if instrument.instructions:
                raise DefinitionError(
                    file, f"{instrument.id} {instrument.version} already has instructions", key
                )
            continue
        try:
            item = instrument.item(key)
        except LookupError:
            raise DefinitionError(
                file, f"is not an item of {instrument.id} {instrument.version}", key
            ) from None
        if item.text:
            raise DefinitionError(
                file,
                f"has bundled wording in {instrument.id} {instrument.version}; changing it needs"
                " a new version",
                key,
            )
    missing = [key for key in missing_wording(instrument) if key not in wording]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DefinitionError(
            file, f"wording for {instrument.id} {instrument.version} is missing{more}", missing[0]
        )
    items = tuple(
        replace(item, text=wording[item.key]) if item.key in wording else item
        for item in instrument.items
    )
    return replace(
        instrument, items=items, instructions=wording.get(INSTRUCTIONS, instrument.instructions)
    )


def write_wording(instrument: Instrument, wording: Mapping[str, str], folder: str | Path) -> Path:
    """Validate ``wording`` against ``instrument`` and store it in the site's wording ``folder``.

    The file is replaced atomically; the folder is created if needed. Returns the file written.
    """
    folder = Path(folder)
    target = folder / wording_filename(instrument.id, instrument.version)
    apply_wording(instrument, wording, str(target))
    folder.mkdir(parents=True, exist_ok=True)
    order = [INSTRUCTIONS] + [item.key for item in instrument.items]
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", newline="", dir=folder, suffix=".tmp", delete=False
    )
    try:
        with handle:
            write_table(handle, ["key", "text"],
                        [{"key": key, "text": wording[key]} for key in order if key in wording])
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return target
