"""Figures as SVG strings, drawn on matplotlib ``Figure`` objects (never pyplot: server-safe)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis._dist import t_quantile
from analysis.data import ALL_TIMES, TIMES, check_columns, observe, read_design
from analysis.errors import AnalysisInputError, OutcomeError

# Okabe & Ito (2008) colour-blind-safe palette; markers differ too, so print in grey still works.
_STYLES = (("#0072B2", "o", "-"), ("#D55E00", "s", "--"))
_OFFSET = 0.04
_TIME_LABELS = {"pre": "Pre", "post": "Post", "followup": "Follow-up"}


def interaction_plot_svg(
    frame: pd.DataFrame,
    outcome: str,
    control_arm: str = "education",
    arm_labels: Mapping[str, str] | None = None,
) -> str:
    r"""Interaction plot of ``outcome``: mean by arm and time with 95% confidence intervals.

    Uses all available values per arm x time (the cells of ``descriptives`` in
    :func:`analysis.analyze`), at pre, post and, when the outcome has follow-up values, follow-up;
    the interval is :math:`\bar y \pm t_{0.975, n-1}\, s/\sqrt n`
    and is omitted for a cell with one value. Arms are slightly offset so intervals do not overlap.

    Parameters
    ----------
    frame
        Tidy long data as :func:`analysis.analyze` takes it (``participant``, ``arm``, ``time``).
    outcome
        The outcome column to plot.
    control_arm
        The reference arm; the other arm present is the treatment.
    arm_labels
        Display names by arm, e.g. ``{"education": "Arm A", "contact": "Arm B"}`` for a blinded
        study; arms not in the mapping show their own name.

    Returns
    -------
    str
        A standalone SVG document (no XML declaration, so it can also be inlined in HTML) with a
        ``<title>`` for screen readers; text is kept as text.

    Raises
    ------
    AnalysisInputError
        The frame cannot be analysed, or the outcome is missing, non-numeric or badly structured.
    """
    check_columns(frame)
    design = read_design(frame, control_arm)
    try:
        observed = observe(frame, design, outcome)
    except OutcomeError as error:
        raise AnalysisInputError(f"cannot plot {outcome!r}: {error}") from None
    labels = dict(arm_labels or {})
    unknown = set(labels) - {a for a in design.arms if a is not None}
    if unknown:
        raise AnalysisInputError(f"arm_labels names unknown arm(s): {', '.join(sorted(unknown))}")

    times = ALL_TIMES if not np.isnan(observed.followup_by_subject).all() else TIMES
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "allport"}):
        figure = Figure(figsize=(5.0, 3.4), layout="constrained")
        axes = figure.add_subplot()
        drawn = 0
        for code, arm in enumerate(design.arms):
            if arm is None:
                continue
            points = [_mean_ci(observed.cell(code, t)) for t in range(len(times))]
            x = np.arange(len(times)) + (code - 0.5) * 2 * _OFFSET
            kept = [(xi, p) for xi, p in zip(x, points, strict=True) if p is not None]
            if not kept:
                continue
            colour, marker, line = _STYLES[code]
            means = [p[0] for _, p in kept]
            half = [p[1] for _, p in kept]
            axes.errorbar(
                [xi for xi, _ in kept],
                means,
                yerr=half,
                color=colour,
                marker=marker,
                linestyle=line,
                capsize=4,
                label=labels.get(arm, arm),
            )
            drawn += 1
        if drawn == 0:
            raise AnalysisInputError(f"cannot plot {outcome!r}: it has no values")
        axes.set_xticks(range(len(times)), [_TIME_LABELS[t] for t in times])
        axes.set_xlim(-0.4, len(times) - 0.6)
        axes.set_xlabel("Time")
        axes.set_ylabel(f"{outcome} (mean, 95% CI)")
        axes.spines[["top", "right"]].set_visible(False)
        axes.legend(title="Arm", frameon=False)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    title = _escape(f"Mean {outcome} by arm and time with 95% confidence intervals")
    end = svg.index(">") + 1
    return f"{svg[:end]}\n <title>{title}</title>{svg[end:]}"


def _mean_ci(values: np.ndarray) -> tuple[float, float] | None:
    """Mean and CI half-width (0 when there is a single value); None for an empty cell."""
    n = len(values)
    if n == 0:
        return None
    mean = float(np.mean(values))
    if n == 1:
        return mean, 0.0
    return mean, t_quantile(0.975, n - 1) * float(np.std(values, ddof=1)) / math.sqrt(n)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
