"""The CONSORT 2010 flow diagram drawn from the CONSORT counts (DESIGN §6, §12); no Flask.

Counts in (the shape of :func:`study.services.consort.consort_counts`), SVG out: enrolment
(invited, excluded with reasons, randomized), then per arm the allocation, follow-up and
analysis boxes with their reasons, under the four stage bands of Schulz et al. (2010),
CONSORT 2010 Statement, BMJ 340:c332, figure 1.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from analysis.report_figures import figure_svg

WIDTH = 6.6  # inches: the text width of an A4 or Letter page with 2 cm margins
_LINE = 0.155  # inches per line of 7.5 pt text
_PAD = 0.07
_BAND = 0.24
_GAP = 0.28
_WRAP = 58  # characters of 7.5 pt DejaVu Sans in half the width
_FONT = 7.5
_BAND_COLOUR = "#dce6f2"


@dataclass(frozen=True)
class _Box:
    x: float
    width: float
    lines: list[tuple[str, bool]]  # (text, indented)

    @property
    def height(self) -> float:
        return len(self.lines) * _LINE + 2 * _PAD


def _n(value: int) -> str:
    return f"(n\u00a0=\u00a0{value})"  # no-break spaces: a count is never split over lines


def _wrapped(*texts: str) -> list[tuple[str, bool]]:
    """Unindented lines, long ones (a long arm name) wrapped with a hanging indent."""
    return [(line, False) for text in texts
            for line in textwrap.wrap(text, _WRAP, subsequent_indent="   ")]


def _reasons(reasons: Mapping[str, int], labels: Mapping[str, str]) -> list[tuple[str, bool]]:
    lines: list[tuple[str, bool]] = []
    for reason, count in reasons.items():
        text = f"• {labels.get(reason, reason.replace('_', ' '))} {_n(count)}"
        wrapped = textwrap.wrap(text, _WRAP - 4, subsequent_indent="   ")
        lines += [(line, True) for line in wrapped]
    return lines


def _total(reasons: Mapping[str, int]) -> int:
    return sum(reasons.values())


def consort_diagram_svg(counts: Mapping[str, Any], arm_labels: Mapping[str, str],
                        reason_labels: Mapping[str, str] | None = None, *,
                        followup: bool = True) -> str:
    """The CONSORT flow diagram of ``counts`` as a standalone SVG document.

    Parameters
    ----------
    counts
        CONSORT counts: ``enrolment``, ``allocation``, ``follow_up``, ``analysis`` as DESIGN §6
        gives them, arms keyed by their codes.
    arm_labels
        Arm code -> the name printed in the boxes ("Arm A" while blinded), in display order.
    reason_labels
        Reason category -> readable text; a category without one is shown with spaces.
    followup
        Whether the study has a follow-up questionnaire: without one the follow-up boxes do
        not count its completions (a "(n = 0)" there would read as nobody answering it).
    """
    labels = dict(reason_labels or {})
    arms = [code for code in arm_labels if code in counts["allocation"]]
    enrolment = counts["enrolment"]
    randomized = sum(counts["allocation"][code]["allocated"] for code in arms)
    half = (WIDTH - 0.3) / 2

    invited = _Box(WIDTH / 2 - 1.35, 2.7, [
        ("Assessed for eligibility (invited)", False), (_n(enrolment["invited"]), False)])
    excluded = _Box(WIDTH - 2.95, 2.85, [
        (f"Excluded {_n(_total(enrolment['excluded']))}", False),
        *_reasons(enrolment["excluded"], labels)])
    random_box = _Box(WIDTH / 2 - 1.35, 2.7, [(f"Randomized {_n(randomized)}", False)])

    def per_arm(build: Any) -> list[_Box]:
        if len(arms) == 1:  # arms pooled (a coordinator's view while recruiting): centred
            return [_Box((WIDTH - half) / 2, half, build(arms[0]))]
        return [_Box(0.1 + i * (half + 0.1), half, build(code)) for i, code in enumerate(arms)]

    def allocation(code: str) -> list[tuple[str, bool]]:
        row = counts["allocation"][code]
        return [*_wrapped(f"Allocated to {arm_labels[code]} {_n(row['allocated'])}",
                          f"Received the allocated intervention {_n(row['received'])}",
                          f"Did not receive it {_n(_total(row['not_received']))}"),
                *_reasons(row["not_received"], labels)]

    def follow_up(code: str) -> list[tuple[str, bool]]:
        row = counts["follow_up"][code]
        completions = [(f"Post questionnaire completed {_n(row['post_done'])}", False)]
        if followup:
            completions.append(
                (f"Follow-up questionnaire completed {_n(row['followup_done'])}", False))
        return [*completions,
                (f"Lost to follow-up {_n(_total(row['lost']))}", False),
                *_reasons(row["lost"], labels),
                (f"Discontinued the intervention {_n(_total(row['discontinued']))}", False),
                *_reasons(row["discontinued"], labels)]

    def analysed(code: str) -> list[tuple[str, bool]]:
        row = counts["analysis"][code]
        return [(f"Analysed {_n(row['analysed'])}", False),
                (f"Excluded from analysis {_n(_total(row['excluded']))}", False),
                *_reasons(row["excluded"], labels)]

    stages: list[tuple[str, list[_Box]]] = [
        ("Allocation", per_arm(allocation)),
        ("Follow-up", per_arm(follow_up)),
        ("Analysis", per_arm(analysed)),
    ]
    # Vertical layout, top-down in inches from the top edge.
    enrol_rows = _BAND + _GAP / 2 + invited.height + _GAP + max(excluded.height, 0.0) \
        + _GAP + random_box.height
    height = enrol_rows + sum(_GAP + _BAND + _GAP / 2 + max(b.height for b in boxes)
                              for _, boxes in stages) + 0.1

    with matplotlib.rc_context({"font.size": _FONT}):
        figure = Figure(figsize=(WIDTH, height))
        axes = figure.add_axes((0, 0, 1, 1))
        axes.set_xlim(0, WIDTH)
        axes.set_ylim(height, 0)
        axes.axis("off")

        def band(top: float, text: str) -> float:
            axes.add_patch(Rectangle((0.1, top), WIDTH - 0.2, _BAND, facecolor=_BAND_COLOUR,
                                     edgecolor="none"))
            axes.text(WIDTH / 2, top + _BAND / 2, text, ha="center", va="center",
                      fontweight="bold")
            return top + _BAND + _GAP / 2

        def draw(box: _Box, top: float) -> None:
            axes.add_patch(Rectangle((box.x, top), box.width, box.height, facecolor="white",
                                     edgecolor="black", linewidth=0.8))
            for number, (text, indented) in enumerate(box.lines):
                axes.text(box.x + _PAD + (0.12 if indented else 0),
                          top + _PAD + (number + 0.5) * _LINE, text, va="center", ha="left")

        def arrow(start: tuple[float, float], end: tuple[float, float]) -> None:
            axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=8,
                                           linewidth=0.8, color="black", shrinkA=0, shrinkB=0))

        top = band(0.0, "Enrolment")
        centre = WIDTH / 2
        draw(invited, top)
        invited_bottom = top + invited.height
        excluded_top = invited_bottom + _GAP
        # The excluded box sits to the right; the main line passes it on the left.
        draw(_Box(excluded.x, excluded.width, excluded.lines), excluded_top)
        branch = excluded_top + excluded.height / 2
        random_top = excluded_top + excluded.height + _GAP
        axes.plot([centre, centre], [invited_bottom, branch], color="black", linewidth=0.8)
        arrow((centre, branch), (excluded.x, branch))
        arrow((centre, branch), (centre, random_top))
        draw(random_box, random_top)
        previous_bottom = [random_top + random_box.height] * len(arms)
        arm_centres = [box.x + box.width / 2 for box in stages[0][1]]
        top = random_top + random_box.height + _GAP
        for number, (name, boxes) in enumerate(stages):
            band_top = top
            top = band(band_top, name)
            for i, box in enumerate(boxes):
                draw(box, top)
                if number == 0:
                    split = band_top - _GAP / 2
                    axes.plot([centre, centre], [previous_bottom[i], split], color="black",
                              linewidth=0.8)
                    axes.plot([centre, arm_centres[i]], [split, split], color="black",
                              linewidth=0.8)
                    arrow((arm_centres[i], split), (arm_centres[i], top))
                else:
                    arrow((arm_centres[i], previous_bottom[i]), (arm_centres[i], top))
                previous_bottom[i] = top + box.height
            top = max(previous_bottom) + _GAP
    return figure_svg(figure, "CONSORT 2010 flow diagram of the participants")
