"""pingouin as an independent oracle where its methods are the engine's (DESIGN §6, §9).

R is the reference (``test_analysis_reference.py``); pingouin is a second, independent Python
implementation, checked on the committed datasets where it computes the same quantity:

* ``mixed_anova`` on **balanced** arms: pingouin's Type II sums of squares equal the engine's Type
  III there. With unequal arms the arm and interaction effects still agree (the between-subject
  stratum holds the arm alone; the interaction is the highest-order term), while the time effect
  differs, which is why the engine does not use Type II (DESIGN §9).
* ``ancova``'s F, p and partial eta squared for the arm in ``post ~ pre + arm`` (Type II equals
  Type III for the arm when the model has no arm x pre term).

pingouin 0.7 on pandas 3 warns (``Pandas4Warning``) about its own use of ``inplace=``; each call
below silences exactly that warning, so any other warning still fails the test
(``filterwarnings = error``). Its inputs are built as plain object/float columns (pandas 3's
string columns trip patsy-style code, DESIGN §9).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pingouin as pg
import pytest

from analysis import analyze, load_long_csv

DATA = Path(__file__).parent / "data"
REL = 1e-9  # two exact computations: agreement to rounding error
OUTCOMES = {
    "balanced": ["anxiety", "social_distance", "stigma"],
    "null": ["anxiety", "stigma"],
    "unbalanced": ["anxiety", "stigma"],
    "ties": ["anxiety", "stigma"],
    "small": ["anxiety", "stigma"],
}
EFFECTS = {"arm": "arm", "time": "time", "interaction": "Interaction"}


def quietly(call: Callable[..., pd.DataFrame], **kwargs: Any) -> pd.DataFrame:
    """Call pingouin, silencing only its pandas-3 deprecation of ``inplace=`` (DESIGN §9)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The inplace keyword in DataFrame", category=pd.errors.Pandas4Warning
        )
        return call(**kwargs)


def long_frame(name: str, outcome: str) -> pd.DataFrame:
    frame = load_long_csv(DATA / f"{name}.csv")
    return pd.DataFrame(
        {
            "participant": frame["participant"].to_numpy(dtype=object),
            "arm": frame["arm"].to_numpy(dtype=object),
            "time": frame["time"].to_numpy(dtype=object),
            "y": frame[outcome].to_numpy(dtype=float),
        }
    )


def engine(name: str, outcome: str) -> dict[str, Any]:
    frame = load_long_csv(DATA / f"{name}.csv")
    entry: dict[str, Any] = analyze(frame, outcomes=outcome)["outcomes"][outcome]
    return entry


def cases(*names: str) -> list[tuple[str, str]]:
    return [(name, outcome) for name in names for outcome in OUTCOMES[name]]


@pytest.mark.parametrize(("name", "outcome"), cases("balanced", "null"))
def test_balanced_mixed_anova_equals_pingouin(name: str, outcome: str) -> None:
    got = engine(name, outcome)
    assert got["n_complete"]["education"] == got["n_complete"]["contact"]  # balanced
    table = quietly(
        pg.mixed_anova, data=long_frame(name, outcome), dv="y", within="time", between="arm",
        subject="participant",
    ).set_index("Source")
    for key, source in EFFECTS.items():
        row, mine = table.loc[source], got["mixed_anova"][key]
        assert (mine["df1"], mine["df2"]) == (row["DF1"], row["DF2"])
        assert mine["F"] == pytest.approx(row["F"], rel=REL)
        assert mine["p"] == pytest.approx(row["p_unc"], rel=REL)
        assert mine["np2"] == pytest.approx(row["np2"], rel=REL)


@pytest.mark.parametrize(("name", "outcome"), cases("unbalanced", "ties"))
def test_unbalanced_mixed_anova_differs_from_pingouin_only_for_time(
    name: str, outcome: str
) -> None:
    got = engine(name, outcome)
    assert got["n_complete"]["education"] != got["n_complete"]["contact"]
    table = quietly(
        pg.mixed_anova, data=long_frame(name, outcome), dv="y", within="time", between="arm",
        subject="participant",
    ).set_index("Source")
    for key in ("arm", "interaction"):
        assert got["mixed_anova"][key]["F"] == pytest.approx(table.loc[EFFECTS[key], "F"], rel=REL)
    # Type II (pingouin) weights the time effect by the arm sizes; Type III (afex, SPSS) does not.
    assert got["mixed_anova"]["time"]["F"] != pytest.approx(table.loc["time", "F"], rel=1e-3)


@pytest.mark.parametrize(
    ("name", "outcome"), cases("balanced", "null", "unbalanced", "ties", "small")
)
def test_ancova_arm_f_equals_pingouin(name: str, outcome: str) -> None:
    frame = long_frame(name, outcome)
    wide = frame.pivot(index="participant", columns="time", values="y").dropna()
    arm = frame.drop_duplicates("participant").set_index("participant")["arm"]
    data = pd.DataFrame(
        {
            "pre": wide["pre"].to_numpy(dtype=float),
            "post": wide["post"].to_numpy(dtype=float),
            "arm": arm.loc[wide.index].to_numpy(dtype=object),
        }
    )
    row = quietly(pg.ancova, data=data, dv="post", covar="pre", between="arm").set_index(
        "Source"
    ).loc["arm"]
    mine = engine(name, outcome)["ancova"]["arm"]
    assert mine["df1"] == row["DF"]
    assert mine["df2"] == len(data) - 3
    assert mine["F"] == pytest.approx(row["F"], rel=REL)
    assert mine["p"] == pytest.approx(row["p_unc"], rel=REL)
    assert mine["np2"] == pytest.approx(row["np2"], rel=REL)
