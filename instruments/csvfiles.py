"""CSV in and out for the instrument files people exchange: wording, data dictionaries, codebooks.

Each takes a path or an open text file, so the CLI passes paths and the web layer and tests pass
streams. Files are read as UTF-8 with or without a byte-order mark (spreadsheets write one).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from instruments.errors import DefinitionError


def read_table(source: str | Path | IO[str], name: str) -> list[list[str]]:
    """Every row of a CSV as a list of cells; a file that cannot be read is one DefinitionError."""
    try:
        if isinstance(source, str | Path):
            with open(source, encoding="utf-8-sig", newline="") as handle:
                return list(csv.reader(handle))
        return list(csv.reader(source))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DefinitionError(name, f"cannot read the CSV: {error}") from None


def write_table(target: str | Path | IO[str], columns: Sequence[str],
                rows: Iterable[Mapping[str, Any]]) -> None:
    """Write ``rows`` under a header of ``columns`` to a path (UTF-8) or an open text file."""
    if isinstance(target, str | Path):
        with open(target, "w", encoding="utf-8", newline="") as handle:
            write_table(handle, columns, rows)
        return
    writer = csv.DictWriter(target, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
