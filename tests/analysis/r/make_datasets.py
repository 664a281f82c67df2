"""Generate the committed test datasets for ``analysis/`` (run once; outputs are committed).

Usage: ``python tests/analysis/r/make_datasets.py`` from the repository root. The datasets are
seeded, written as long CSV (one row per participant x time) and read by both the Python tests and
``reference.R``, so both sides analyse byte-identical input. Values are rounded to a few decimals so
the CSV text is the exact data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent.parent / "data"
PROFESSIONS = ["medicine", "nursing", "social work", "pharmacy"]


def _simulate(
    rng: np.random.Generator,
    n_education: int,
    n_contact: int,
    outcomes: dict[str, tuple[float, float, float, float]],
    decimals: int = 3,
) -> pd.DataFrame:
    """Wide frame: outcome -> (baseline mean, sd, pre-post correlation, contact effect)."""
    n = n_education + n_contact
    arm = np.array(["education"] * n_education + ["contact"] * n_contact)
    wide = pd.DataFrame({"participant": [f"P{i:03d}" for i in rng.permutation(n) + 1], "arm": arm})
    contact = arm == "contact"
    for name, (mean, sd, rho, effect) in outcomes.items():
        pre = rng.normal(mean, sd, n)
        noise = rng.normal(0.0, sd * np.sqrt(1 - rho**2), n)
        post = mean + rho * (pre - mean) + noise - 0.15 * sd + effect * sd * contact
        wide[f"{name}__pre"] = np.round(pre, decimals)
        wide[f"{name}__post"] = np.round(post, decimals)
    return wide


def _to_long(wide: pd.DataFrame, rng: np.random.Generator, extra: Sequence[str] = ()
             ) -> pd.DataFrame:
    outcomes = sorted({c.split("__")[0] for c in wide.columns if "__" in c})
    rows = []
    for time in ("pre", "post"):
        part = wide[["participant", "arm", *extra]].copy()
        part["time"] = time
        for name in outcomes:
            part[name] = wide[f"{name}__{time}"]
        rows.append(part)
    long = pd.concat(rows, ignore_index=True)
    long = long[["participant", "arm", "time", *outcomes, *extra]]
    return long.iloc[rng.permutation(len(long))].reset_index(drop=True)


def balanced(rng: np.random.Generator) -> pd.DataFrame:
    wide = _simulate(
        rng,
        40,
        40,
        {
            "stigma": (2.9, 0.55, 0.6, -0.55),
            "anxiety": (3.1, 0.7, 0.5, -0.35),
            "social_distance": (2.2, 0.6, 0.7, -0.2),
        },
    )
    wide["age"] = rng.integers(20, 41, len(wide))
    wide["profession"] = rng.choice(PROFESSIONS, len(wide))
    return _to_long(wide, rng, ["age", "profession"])


def unbalanced(rng: np.random.Generator) -> pd.DataFrame:
    wide = _simulate(
        rng, 37, 52, {"stigma": (2.8, 0.6, 0.55, -0.5), "anxiety": (3.0, 0.65, 0.45, -0.3)}
    )
    long = _to_long(wide, rng)
    participants = wide["participant"].to_numpy()
    lost = rng.choice(participants, 14, replace=False)
    # Lost to follow-up: half have no post row at all, half a post row with empty scores.
    no_row, empty = lost[:7], lost[7:]
    long = long[~((long["time"] == "post") & long["participant"].isin(no_row))].copy()
    long.loc[(long["time"] == "post") & long["participant"].isin(empty), ["stigma", "anxiety"]] = (
        np.nan
    )
    # A couple of missing baseline scores (post present): they count for the mixed model only.
    kept = np.setdiff1d(participants, lost)
    missing_pre = rng.choice(kept, 2, replace=False)
    long.loc[(long["time"] == "pre") & long["participant"].isin(missing_pre), "stigma"] = np.nan
    long.loc[(long["time"] == "post") & (long["participant"] == kept[0]), "anxiety"] = np.nan
    return long.reset_index(drop=True)


def small(rng: np.random.Generator) -> pd.DataFrame:
    wide = _simulate(rng, 3, 4, {"stigma": (2.9, 0.5, 0.6, -0.6), "anxiety": (3.0, 0.6, 0.5, -0.4)})
    return _to_long(wide, rng)


def null(rng: np.random.Generator) -> pd.DataFrame:
    wide = _simulate(
        rng, 30, 30, {"stigma": (2.9, 0.55, 0.6, 0.0), "anxiety": (3.0, 0.6, 0.5, 0.0)}
    )
    return _to_long(wide, rng)


def ties(rng: np.random.Generator) -> pd.DataFrame:
    """Integer sums of three 1-5 items (range 3-15): many tied values."""
    n_education, n_contact = 25, 28
    n = n_education + n_contact
    arm = np.array(["education"] * n_education + ["contact"] * n_contact)
    wide = pd.DataFrame({"participant": [f"T{i:02d}" for i in rng.permutation(n) + 1], "arm": arm})
    shift = np.where(arm == "contact", -2, 0)
    for name, base in (("stigma", 9), ("anxiety", 8)):
        trait = rng.normal(0, 1.5, n)
        pre = np.clip(np.round(base + trait + rng.normal(0, 1.2, n)), 3, 15)
        post = np.clip(np.round(base + trait + shift + rng.normal(0, 1.2, n)), 3, 15)
        wide[f"{name}__pre"] = pre.astype(int)
        wide[f"{name}__post"] = post.astype(int)
    return _to_long(wide, rng)


def singular(rng: np.random.Generator) -> pd.DataFrame:
    """Pre and post negatively correlated: the REML participant variance is 0 (lme4: singular)."""
    wide = _simulate(
        rng, 24, 26, {"stigma": (2.9, 0.55, -0.4, -0.5), "anxiety": (3.0, 0.6, -0.3, -0.3)}
    )
    long = _to_long(wide, rng)
    dropped = rng.choice(wide["participant"].to_numpy(), 5, replace=False)
    return long[~((long["time"] == "post") & long["participant"].isin(dropped))].reset_index(
        drop=True
    )


def main() -> None:
    DATA.mkdir(exist_ok=True)
    for seed, make in enumerate(
        (balanced, unbalanced, small, null, ties, singular), start=20250401
    ):
        frame = make(np.random.default_rng(seed))
        frame.to_csv(DATA / f"{make.__name__}.csv", index=False)
        print(f"{make.__name__}: {len(frame)} rows")


if __name__ == "__main__":
    main()
