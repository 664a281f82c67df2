"""Figures of the study report (DESIGN §12) as SVG strings, from plain numbers; no Flask.

Every figure is drawn on a matplotlib ``Figure`` (never pyplot, so it is safe in a server) and
saved with text kept as text, so WeasyPrint sets it in the report's embedded font.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import matplotlib
import numpy as np
from matplotlib.figure import Figure

# Okabe & Ito (2008) colour-blind-safe palette, as analysis.plots uses.
ARM_COLOURS = ("#0072B2", "#D55E00")
_HATCHES = ("", "//")


def figure_svg(figure: Figure, title: str) -> str:
    """``figure`` as a standalone SVG document with a ``<title>`` for screen readers."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "allport"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    end = svg.index(">") + 1
    safe = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"{svg[:end]}\n <title>{safe}</title>{svg[end:]}"


def change_distribution_svg(changes: Mapping[str, Sequence[float]], outcome_label: str) -> str:
    """Histograms of post − pre per arm on shared bins, one panel per arm.

    ``changes`` maps an arm's label to its complete cases' change scores, in display order.
    """
    values = [np.asarray(v, dtype=float) for v in changes.values()]
    pooled = np.concatenate(values) if values else np.array([])
    with matplotlib.rc_context({"font.size": 8}):
        figure = Figure(figsize=(6.0, 2.4), layout="constrained")
        panels = figure.subplots(1, max(len(changes), 1), sharex=True, sharey=True,
                                 squeeze=False)[0]
        bins = np.histogram_bin_edges(pooled, bins=20) if pooled.size else np.linspace(-1, 1, 11)
        for number, (axes, label, arm_values) in enumerate(
                zip(panels, changes, values, strict=False)):
            axes.hist(arm_values, bins=bins, color=ARM_COLOURS[number % 2], alpha=0.85,
                      hatch=_HATCHES[number % 2], edgecolor="white", linewidth=0.5)
            if arm_values.size:
                axes.axvline(float(np.mean(arm_values)), color="black", linewidth=1)
            axes.axvline(0, color="grey", linewidth=0.6, linestyle=":")
            axes.set_title(f"{label} (n = {arm_values.size})", fontsize=8)
            axes.spines[["top", "right"]].set_visible(False)
        panels[0].set_ylabel("Participants")
        figure.supxlabel(f"Change in {outcome_label} (post − pre)", fontsize=8)
    return figure_svg(figure, f"Distribution of the change in {outcome_label} by arm")


def recruitment_svg(allocations: Mapping[str, Sequence[date]]) -> str:
    """Allocations per calendar week (Monday start), stacked by arm, with the cumulative total.

    ``allocations`` maps an arm's label to the dates its participants were allocated.
    """
    days = [day for dates in allocations.values() for day in dates]
    with matplotlib.rc_context({"font.size": 8}):
        figure = Figure(figsize=(6.0, 2.6), layout="constrained")
        axes = figure.add_subplot()
        if days:
            first = min(days) - timedelta(days=min(days).weekday())
            weeks = (max(days) - first).days // 7 + 1
            starts = [first + timedelta(weeks=w) for w in range(weeks)]
            x = np.arange(weeks)
            bottom = np.zeros(weeks)
            for number, (label, dates) in enumerate(allocations.items()):
                counts = np.bincount([(d - first).days // 7 for d in dates], minlength=weeks)
                axes.bar(x, counts, bottom=bottom, color=ARM_COLOURS[number % 2],
                         hatch=_HATCHES[number % 2], edgecolor="white", linewidth=0.5,
                         label=label)
                bottom += counts
            cumulative = axes.twinx()
            cumulative.plot(x, np.cumsum(bottom), color="black", linewidth=1.2,
                            label="Cumulative")
            cumulative.set_ylabel("Allocated, cumulative")
            cumulative.set_ylim(bottom=0)
            cumulative.spines[["top"]].set_visible(False)
            step = max(1, weeks // 8)
            axes.set_xticks(x[::step], [s.isoformat() for s in starts[::step]])
            axes.legend(frameon=False, loc="upper left")
        axes.set_xlabel("Week starting")
        axes.set_ylabel("Allocated per week")
        axes.spines[["top"]].set_visible(False)
    return figure_svg(figure, "Participants allocated per week, by arm")


# Line styles told apart without colour: solid, dashed, dotted, each with its own marker.
_STAGE_STYLES = (("#000000", "-", "o"), ("#0072B2", "--", "s"), ("#D55E00", ":", "^"))


def enrolment_progress_svg(stages: Mapping[str, Sequence[date]], *, until: date) -> str:
    """How many trainees had reached each stage by the end of each week, up to ``until``.

    ``stages`` maps a stage's label ("Invited", "Consented", "Allocated") to the day each
    trainee reached it. Pooled over arms: the coordinator's dashboard shows it while
    recruitment is open, when a split by arm would help guess the next allocation (DESIGN §4).
    """
    days = [day for dates in stages.values() for day in dates]
    with matplotlib.rc_context({"font.size": 8}):
        figure = Figure(figsize=(6.0, 2.6), layout="constrained")
        axes = figure.add_subplot()
        if days:
            first = min(days) - timedelta(days=min(days).weekday())
            weeks = max((max(max(days), until) - first).days // 7 + 1, 1)
            ends = [first + timedelta(weeks=w, days=6) for w in range(weeks)]
            x = np.arange(weeks)
            for number, (label, dates) in enumerate(stages.items()):
                per_week = np.bincount([(d - first).days // 7 for d in dates], minlength=weeks)
                colour, line, marker = _STAGE_STYLES[number % len(_STAGE_STYLES)]
                axes.plot(x, np.cumsum(per_week), color=colour, linestyle=line, marker=marker,
                          markersize=3, linewidth=1.2, label=f"{label} ({len(dates)})")
            step = max(1, weeks // 8)
            axes.set_xticks(x[::step], [end.isoformat() for end in ends[::step]])
            axes.legend(frameon=False, loc="upper left")
        else:
            axes.text(0.5, 0.5, "No trainees yet", ha="center", va="center",
                      transform=axes.transAxes)
            axes.set_xticks([])
        axes.set_xlabel("Week ending")
        axes.set_ylabel("Trainees, cumulative")
        axes.set_ylim(bottom=0)
        axes.spines[["top", "right"]].set_visible(False)
    return figure_svg(figure, "Trainees invited, consented and allocated, cumulative by week")
