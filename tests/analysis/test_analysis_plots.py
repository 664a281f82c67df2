"""The interaction plot: one line per arm through its cell means, with 95% intervals, in SVG.

The SVG is read back as a reader would see it: the y axis's tick labels turn positions into
values, and the legend ties each line's colour to an arm's label.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import AnalysisInputError, interaction_plot_svg

Loader = Callable[[str], pd.DataFrame]
SVG = "{http://www.w3.org/2000/svg}"
TIME_LABELS = {"pre": "Pre", "post": "Post", "followup": "Follow-up"}


@dataclass
class Series:
    """One arm as drawn, in data units: its line's (time, value) points, its (low, high) bars."""

    points: list[tuple[str, float]] = field(default_factory=list)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def read_plot(svg: str) -> dict[str, Series]:
    """The arms of an interaction plot by their legend label, in data units."""
    axes = ET.fromstring(svg).find(f".//{SVG}g[@id='axes_1']")
    assert axes is not None
    to_value = _y_scale(axes)
    to_time = _x_ticks(axes)
    by_colour: dict[str, Series] = {}
    for group in axes.findall(f"{SVG}g"):
        name = group.get("id", "")
        if name.startswith("line2d_") and (line := group.find(f"{SVG}path")) is not None:
            series = by_colour.setdefault(_stroke(line), Series())
            series.points = [(to_time(x), to_value(y)) for x, y in _vertices(line)]
        elif name.startswith("LineCollection_"):
            for bar in group.findall(f"{SVG}path"):
                (x, one_end), (_, other_end) = _vertices(bar)
                low, high = sorted((to_value(one_end), to_value(other_end)))
                series = by_colour.setdefault(_stroke(bar), Series())
                series.intervals[to_time(x)] = (low, high)
    return {label: by_colour[colour] for colour, label in _legend(axes)}


def _vertices(path: ET.Element) -> list[tuple[float, float]]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path.get("d", ""))]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def _stroke(element: ET.Element) -> str:
    match = re.search(r"stroke: (#[0-9a-f]{6})", element.get("style", ""))
    assert match, element.get("style")
    return match.group(1)


def _ticks(axes: ET.Element, axis: str) -> list[tuple[float, str]]:
    """(position along the axis, label) of each tick of ``axis`` ("x" or "y")."""
    ticks = []
    for tick in axes.iter(f"{SVG}g"):
        if tick.get("id", "").startswith(f"{axis}tick_"):
            mark = tick.find(f".//{SVG}use")
            label = tick.find(f".//{SVG}text")
            assert mark is not None and label is not None
            ticks.append((float(mark.get(axis, "nan")), "".join(label.itertext())))
    return ticks


def _y_scale(axes: ET.Element) -> Callable[[float], float]:
    """SVG y -> data value, from the y tick labels (checked to be evenly spaced)."""
    ticks = [(y, float(label.replace("\N{MINUS SIGN}", "-"))) for y, label in _ticks(axes, "y")]
    (y0, v0), (y1, v1) = ticks[0], ticks[-1]
    slope = (v1 - v0) / (y1 - y0)
    for y, value in ticks:
        assert v0 + (y - y0) * slope == pytest.approx(value)
    return lambda y: v0 + (y - y0) * slope


def _x_ticks(axes: ET.Element) -> Callable[[float], str]:
    """SVG x -> the time whose tick is nearest (arms are drawn slightly either side of it)."""
    ticks = _ticks(axes, "x")
    return lambda x: min(ticks, key=lambda tick: abs(tick[0] - x))[1]


def _legend(axes: ET.Element) -> list[tuple[str, str]]:
    """(line colour, label) of each legend entry, in legend order."""
    legend = axes.find(f"{SVG}g[@id='legend_1']")
    assert legend is not None
    entries, colour = [], None
    for group in legend.findall(f"{SVG}g"):
        name = group.get("id", "")
        if name.startswith("line2d_") and (line := group.find(f"{SVG}path")) is not None:
            colour = _stroke(line)
        elif name.startswith("text_") and colour is not None:
            entries.append((colour, "".join(group.itertext()).strip()))
            colour = None
    return entries


def cell_summaries(frame: pd.DataFrame, outcome: str) -> dict[tuple[str, str], tuple[float, float]]:
    """(arm, Time) -> (mean, 95% CI half-width) of the available values, computed here afresh."""
    cells = {}
    for (arm, time), values in frame.dropna(subset=[outcome]).groupby(["arm", "time"])[outcome]:
        n = len(values)
        half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
        cells[(str(arm), TIME_LABELS[str(time)])] = (float(values.mean()), float(half))
    return cells


def test_returns_valid_svg_with_title_and_labels(dataset: Loader) -> None:
    svg = interaction_plot_svg(dataset("unbalanced"), "stigma")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == (
        "Mean stigma by arm and time with 95% confidence intervals"
    )
    labels = texts(svg)
    for label in ("education", "contact", "Pre", "Post", "stigma (mean, 95% CI)"):
        assert label in labels


def test_each_arm_is_a_line_through_its_means_with_95_percent_intervals(dataset: Loader) -> None:
    frame = dataset("unbalanced")  # arms of different sizes, and missing post values
    arms = read_plot(interaction_plot_svg(frame, "stigma"))
    assert list(arms) == ["education", "contact"]  # the control arm first
    expected = cell_summaries(frame, "stigma")
    for arm, drawn in arms.items():
        assert [time for time, _ in drawn.points] == ["Pre", "Post"]
        for time, value in drawn.points:
            mean, half = expected[(arm, time)]
            assert value == pytest.approx(mean, abs=1e-4), (arm, time)
            assert drawn.intervals[time] == pytest.approx((mean - half, mean + half),
                                                          abs=1e-4), (arm, time)


def test_blinded_labels_replace_arm_names(dataset: Loader) -> None:
    frame = dataset("balanced")
    svg = interaction_plot_svg(frame, "anxiety",
                               arm_labels={"education": "Arm A", "contact": "Arm B"})
    assert {"Arm A", "Arm B"} <= set(texts(svg))
    assert "education" not in svg and "contact" not in svg
    # Each label names its own arm's line.
    arms = read_plot(svg)
    expected = cell_summaries(frame, "anxiety")
    for label, arm in (("Arm A", "education"), ("Arm B", "contact")):
        assert dict(arms[label].points) == pytest.approx(
            {"Pre": expected[(arm, "Pre")][0], "Post": expected[(arm, "Post")][0]}, abs=1e-4)


def test_output_is_deterministic_and_pyplot_free(dataset: Loader) -> None:
    frame = dataset("small")
    assert interaction_plot_svg(frame, "stigma") == interaction_plot_svg(frame, "stigma")
    # In a fresh interpreter: other tests (pingouin, an oracle) import pyplot in this one.
    data = Path(__file__).parent / "data" / "small.csv"
    code = (
        "import sys, analysis; "
        f"analysis.interaction_plot_svg(analysis.load_long_csv({str(data)!r}), 'stigma'); "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_plot_errors_are_one_line(dataset: Loader) -> None:
    frame = dataset("small")
    with pytest.raises(AnalysisInputError, match="^cannot plot 'ribs': there is no column 'ribs'"):
        interaction_plot_svg(frame, "ribs")
    with pytest.raises(AnalysisInputError, match="arm_labels names unknown arm"):
        interaction_plot_svg(frame, "stigma", arm_labels={"waitlist": "Arm C"})


def test_a_cell_with_one_value_is_drawn_without_interval(dataset: Loader) -> None:
    frame = dataset("small")
    post = frame[(frame["arm"] == "education") & (frame["time"] == "post")]
    frame = frame.drop(index=post.index[1:])
    only = float(post["stigma"].iloc[0])
    education = read_plot(interaction_plot_svg(frame, "stigma"))["education"]
    assert dict(education.points)["Post"] == pytest.approx(only, abs=1e-4)
    assert education.intervals["Post"] == pytest.approx((only, only), abs=1e-4)
    low, high = education.intervals["Pre"]  # the other cells keep theirs
    assert high - low > 0.1


def test_follow_up_data_give_three_time_points(dataset: Loader) -> None:
    # arms of different sizes; missing post, follow-up and pre values
    frame = dataset("followup_unbalanced")
    svg = interaction_plot_svg(frame, "stigma")
    assert {"Pre", "Post", "Follow-up"} <= set(texts(svg))
    arms = read_plot(svg)
    assert list(arms) == ["education", "contact"]
    expected = cell_summaries(frame, "stigma")
    for arm, drawn in arms.items():
        assert [time for time, _ in drawn.points] == ["Pre", "Post", "Follow-up"]
        assert sorted(drawn.intervals) == ["Follow-up", "Post", "Pre"]
        for time, value in drawn.points:
            mean, half = expected[(arm, time)]
            assert value == pytest.approx(mean, abs=1e-4), (arm, time)
            assert drawn.intervals[time] == pytest.approx((mean - half, mean + half),
                                                          abs=1e-4), (arm, time)


def test_an_outcome_without_follow_up_values_keeps_two_time_points(dataset: Loader) -> None:
    frame = dataset("followup_balanced")
    frame.loc[frame["time"] == "followup", "anxiety"] = np.nan
    svg = interaction_plot_svg(frame, "anxiety")
    assert "Follow-up" not in texts(svg)
    for drawn in read_plot(svg).values():
        assert [time for time, _ in drawn.points] == ["Pre", "Post"]
