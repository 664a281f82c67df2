"""CSV in and out: every CSV file Allport writes, and the instrument files people exchange.

:func:`write_table` is the one writer of the platform (exports, the statistical exports' wide CSV
and codebook, the reproducibility bundle, codebooks, REDCap data dictionaries, supplied wording),
so the rule against formula injection (DESIGN §9, OWASP "CSV Injection") lives here and nowhere
else:

- a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, which a
  spreadsheet would run as a formula, is written with a single quote in front (``'=HYPERLINK(…)``);
  spreadsheets show such a cell as the text typed, and :func:`read_table` drops the quote again;
- a cell may also hold a separator that a spreadsheet splits at although the file's is the comma
  (``;`` in locales whose decimal mark is the comma, a tab when text is pasted): what follows it
  starts a cell of its own there, quotes or not, so a formula character right after a ``;`` or a
  tab gets the quote too (``fine;'=1+1``);
- a row holding a neutralised cell is written with every cell quoted, as OWASP advises;
- numbers are left alone: a cell holding an ``int`` or ``float``, or text that reads as a number in
  a column the caller names ``numeric``, is written as it is (a score of -1.5 stays -1.5, so R and
  pandas still read numeric columns as numbers). Text typed by a person is text, whatever it looks
  like: a free-text answer "-1.5" is written ``'-1.5``.

Each function takes a path or an open text file, so the CLI passes paths and the web layer and tests
pass streams. Files are read as UTF-8 with or without a byte-order mark (spreadsheets write one).
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from instruments.errors import DefinitionError

if TYPE_CHECKING:
    import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A formula character after a separator other than the comma (which is quoted) starts a cell too.
INNER_FORMULA = re.compile(r"(?<=[;\t])(?=[=+\-@\t\r])")
INNER_RESTORE = re.compile(r"(?<=[;\t])'(?=[=+\-@\t\r])")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet must show it: a quote before each formula character.

    Those are the characters that could start a cell: at the start, or after a ``;`` or a tab.
    """
    text = INNER_FORMULA.sub("'", text)
    return "'" + text if text.startswith(FORMULA_START) else text


def _cell(value: Any, numeric: bool) -> tuple[Any, bool]:
    """The value to write and whether its row must be quoted whole."""
    if value is None:
        return "", False
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        if isinstance(value, numbers.Real) and math.isnan(value):
            return "", False
        return value, False
    text = str(value)
    if numeric and NUMBER.fullmatch(text):
        return text, False
    safe = neutralise(text)
    return safe, safe != text


def read_table(source: str | Path | IO[str], name: str) -> list[list[str]]:
    """Every row of a CSV as a list of cells; a file that cannot be read is one DefinitionError.

    Lines may end in CR LF, LF or a bare CR (old spreadsheets on the Mac), and a UTF-8 byte-order
    mark is dropped. A cell that :func:`write_table` neutralised (a quote before a formula
    character) reads back as it was given, as a spreadsheet shows it.
    """
    try:
        if isinstance(source, str | Path):
            with open(source, encoding="utf-8-sig", newline="") as handle:
                rows = list(csv.reader(handle))
        else:
            # read whole and split anew, so that a bare CR ends a line as in a file
            text = source.read().removeprefix("\ufeff")
            rows = list(csv.reader(io.StringIO(text, newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DefinitionError(name, f"cannot read the CSV: {error}") from None
    return [[_restore(cell) for cell in row] for row in rows]


def _restore(cell: str) -> str:
    cell = INNER_RESTORE.sub("", cell)
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def write_table(target: str | Path | IO[str], columns: Sequence[str],
                rows: Iterable[Mapping[str, Any]], *, numeric: Collection[str] = (),
                lineterminator: str = "\r\n") -> None:
    """Write ``rows`` under a header of ``columns`` to a path (UTF-8) or an open text file.

    ``numeric`` names the columns whose cells that read as numbers are numbers (module docstring);
    a missing cell is empty.
    """
    if isinstance(target, str | Path):
        with open(target, "w", encoding="utf-8", newline="") as handle:
            write_table(handle, columns, rows, numeric=numeric, lineterminator=lineterminator)
        return
    plain = csv.writer(target, lineterminator=lineterminator)
    quoted = csv.writer(target, lineterminator=lineterminator, quoting=csv.QUOTE_ALL)
    numeric = frozenset(numeric)
    for row in ({c: c for c in columns}, *rows):
        cells = [_cell(row.get(column), column in numeric) for column in columns]
        writer = quoted if any(risky for _, risky in cells) else plain
        writer.writerow([value for value, _ in cells])


def table_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *,
               numeric: Collection[str] = (), lineterminator: str = "\n") -> str:
    """:func:`write_table` into a string; the exports end their lines with a bare line feed."""
    buffer = io.StringIO(newline="")
    write_table(buffer, columns, rows, numeric=numeric, lineterminator=lineterminator)
    return buffer.getvalue()


def frame_text(frame: pd.DataFrame, *, float_format: str | None = None) -> str:
    """A pandas frame as CSV text by :func:`write_table`: its numeric columns stay numbers.

    ``float_format`` (e.g. ``"%.17g"``) formats the floats of numeric columns, as pandas'
    ``to_csv`` would.
    """
    from pandas.api.types import is_numeric_dtype

    columns = [str(column) for column in frame.columns]
    numeric = [str(c) for c in frame.columns if is_numeric_dtype(frame[c].dtype)
               and frame[c].dtype != bool]
    data = frame.set_axis(columns, axis=1).astype(object)
    data = data.where(frame.set_axis(columns, axis=1).notna(), None)
    if float_format is not None:
        for column in numeric:
            data[column] = [
                float_format % value if isinstance(value, float) and not math.isnan(value)
                else value for value in data[column]]
    return table_text(columns, data.to_dict("records"), numeric=numeric)
