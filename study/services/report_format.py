"""How the study report writes numbers (DESIGN §12): one place, so the tests can format alike.

A true minus sign, fixed decimals per kind of statistic, "< 0.001" for small p, an en dash for
a value that is missing. The report's templates use these as Jinja filters (see
:data:`FILTERS`), and the tests format the analysis JSON with the same functions to find the
numbers in the PDF's text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

MISSING = "–"
MINUS = "−"


def _missing(value: Any) -> bool:
    """No number to show: None, NaN, or not a number at all.

    A figure the JSON gives as ``{"error": …}`` reaches the templates as an undefined value;
    its message is shown apart.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return not math.isfinite(value)


def number(value: Any, digits: int = 2) -> str:
    """``value`` to ``digits`` decimals (an int as it is), with a true minus sign."""
    if _missing(value):
        return MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).replace("-", MINUS)
    text = f"{float(value):.{digits}f}"
    if float(text) == 0:  # "-0.00" reads as a sign that is not there
        text = text.lstrip("-")
    return text.replace("-", MINUS)


def p_value(value: Any) -> str:
    """A p value to three decimals, or "< 0.001"."""
    if _missing(value):
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def interval(low: Any, high: Any, digits: int = 2) -> str:
    """A confidence interval as "[low, high]"."""
    return f"[{number(low, digits)}, {number(high, digits)}]"


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as "n (x.x%)"; just "n" when ``whole`` is 0."""
    if not whole:
        return str(part)
    return f"{part} ({100 * part / whole:.1f}%)"


def share(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage to one decimal, "x.x%"; "–" when ``whole`` is 0."""
    if not whole:
        return "–"
    return f"{100 * part / whole:.1f}%"


def df(value: Any) -> str:
    """Degrees of freedom: whole numbers as they are, Welch or Satterthwaite df to one decimal."""
    if _missing(value):
        return MISSING
    if float(value).is_integer():
        return str(int(value))
    return number(value, 1)


FILTERS: dict[str, Callable[..., str]] = {
    "num": number, "p": p_value, "ci": interval, "pct": percent, "df": df,
}
