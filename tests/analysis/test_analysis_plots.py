"""The interaction plot: a valid, self-describing SVG built without pyplot."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pandas as pd
import pytest

from analysis import AnalysisInputError, interaction_plot_svg

Loader = Callable[[str], pd.DataFrame]
SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_returns_valid_svg_with_title_and_labels(dataset: Loader) -> None:
    svg = interaction_plot_svg(dataset("unbalanced"), "stigma")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text == (
        "Mean stigma by arm and time with 95% confidence intervals"
    )
    labels = texts(svg)
    for label in ("education", "contact", "Pre", "Post", "stigma (mean, 95% CI)"):
        assert label in labels


def test_blinded_labels_replace_arm_names(dataset: Loader) -> None:
    svg = interaction_plot_svg(
        dataset("balanced"), "anxiety", arm_labels={"education": "Arm A", "contact": "Arm B"}
    )
    assert {"Arm A", "Arm B"} <= set(texts(svg))
    assert "education" not in svg and "contact" not in svg


def test_output_is_deterministic_and_pyplot_free(dataset: Loader) -> None:
    frame = dataset("small")
    assert interaction_plot_svg(frame, "stigma") == interaction_plot_svg(frame, "stigma")
    assert "matplotlib.pyplot" not in sys.modules


def test_plot_errors_are_one_line(dataset: Loader) -> None:
    frame = dataset("small")
    with pytest.raises(AnalysisInputError, match="^cannot plot 'ribs': there is no column 'ribs'"):
        interaction_plot_svg(frame, "ribs")
    with pytest.raises(AnalysisInputError, match="arm_labels names unknown arm"):
        interaction_plot_svg(frame, "stigma", arm_labels={"waitlist": "Arm C"})


def test_a_cell_with_one_value_is_drawn_without_interval(dataset: Loader) -> None:
    frame = dataset("small")
    post = frame[(frame["arm"] == "education") & (frame["time"] == "post")]
    ET.fromstring(interaction_plot_svg(frame.drop(index=post.index[1:]), "stigma"))
