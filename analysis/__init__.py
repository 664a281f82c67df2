"""Pure statistics for two-arm pre/post stigma-reduction trials (DESIGN.md section 6).

Nothing here imports Flask: functions take pandas frames and return plain data.

>>> from analysis import analyze, load_long_csv
>>> result = analyze(load_long_csv("scores.csv"), control_arm="education")  # doctest: +SKIP

The public names are loaded on first use, so ``import analysis`` costs almost nothing (pandas,
SciPy and matplotlib are imported only by the functions that need them).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from analysis.errors import AnalysisInputError

if TYPE_CHECKING:
    from analysis.baseline import baseline_table
    from analysis.data import load_long_csv
    from analysis.engine import analyze
    from analysis.plots import interaction_plot_svg

__all__ = [
    "AnalysisInputError",
    "analyze",
    "baseline_table",
    "interaction_plot_svg",
    "load_long_csv",
]

_LAZY = {
    "analyze": "analysis.engine",
    "baseline_table": "analysis.baseline",
    "interaction_plot_svg": "analysis.plots",
    "load_long_csv": "analysis.data",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
