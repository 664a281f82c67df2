"""Generate the committed follow-up datasets (``data/followup_*.csv``; run once, outputs committed).

Usage: ``python tests/analysis/r/followup_datasets.py`` from the repository root. Seeded; read by
both the Python tests and ``followup.R`` so both sides analyse byte-identical input.

Sphericity fails on purpose: the post score stays close to the pre score (a small pre-post change
variance) while the follow-up score wanders (a large post-follow-up change variance), so the
Greenhouse-Geisser epsilon of the three-level time factor is well below 1 (about 0.6-0.75).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent.parent / "data"
TIMES = ("pre", "post", "followup")


def _simulate(
    rng: np.random.Generator,
    n_education: int,
    n_contact: int,
    outcomes: dict[str, tuple[float, float, float, float, float]],
) -> pd.DataFrame:
    """Wide frame: outcome -> (mean, sd, post noise sd, follow-up noise sd, contact effect)."""
    n = n_education + n_contact
    arm = np.array(["education"] * n_education + ["contact"] * n_contact)
    wide = pd.DataFrame({"participant": [f"F{i:03d}" for i in rng.permutation(n) + 1], "arm": arm})
    contact = arm == "contact"
    for name, (mean, sd, post_sd, followup_sd, effect) in outcomes.items():
        pre = rng.normal(mean, sd, n)
        post = pre - 0.1 + effect * contact + rng.normal(0.0, post_sd, n)
        followup = post + 0.05 - 0.4 * effect * contact + rng.normal(0.0, followup_sd, n)
        for time, values in zip(TIMES, (pre, post, followup), strict=True):
            wide[f"{name}__{time}"] = np.round(values, 3)
    return wide


def _to_long(wide: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    outcomes = sorted({c.split("__")[0] for c in wide.columns if "__" in c})
    parts = []
    for time in TIMES:
        part = wide[["participant", "arm"]].copy()
        part["time"] = time
        for name in outcomes:
            part[name] = wide[f"{name}__{time}"]
        parts.append(part)
    long = pd.concat(parts, ignore_index=True)[["participant", "arm", "time", *outcomes]]
    return long.iloc[rng.permutation(len(long))].reset_index(drop=True)


def _drop(long: pd.DataFrame, time: str, who: np.ndarray) -> pd.DataFrame:
    return long[~((long["time"] == time) & long["participant"].isin(who))]


def balanced(rng: np.random.Generator) -> pd.DataFrame:
    """30 + 30, everyone at pre and post; one per arm without a follow-up row (29 + 29 complete)."""
    wide = _simulate(
        rng, 30, 30, {"stigma": (2.9, 0.6, 0.3, 0.6, -0.5), "anxiety": (3.1, 0.7, 0.35, 0.6, -0.3)}
    )
    long = _to_long(wide, rng)
    lost = [rng.choice(wide.loc[wide["arm"] == arm, "participant"].to_numpy())
            for arm in ("education", "contact")]
    return _drop(long, "followup", np.array(lost))


def unbalanced(rng: np.random.Generator) -> pd.DataFrame:
    """27 + 41 with missing post, missing follow-up (no row, or a row with empty scores)."""
    wide = _simulate(
        rng,
        27,
        41,
        {"stigma": (2.8, 0.55, 0.25, 0.45, -0.45), "anxiety": (3.0, 0.6, 0.3, 0.55, 0.0)},
    )
    long = _to_long(wide, rng).reset_index(drop=True)
    people = wide["participant"].to_numpy()
    chosen = rng.choice(people, 16, replace=False)
    no_post, no_followup_row, empty_followup, only_pre = (
        chosen[:4], chosen[4:9], chosen[9:13], chosen[13:]
    )
    long = _drop(long, "post", no_post)  # these still have a follow-up score
    long = _drop(long, "followup", no_followup_row)
    long = _drop(long, "post", only_pre)
    long = _drop(long, "followup", only_pre)
    long = long.copy()
    empty = (long["time"] == "followup") & long["participant"].isin(empty_followup)
    long.loc[empty, ["stigma", "anxiety"]] = np.nan
    # One missing follow-up anxiety score, one missing pre stigma score (post and follow-up kept).
    kept = np.setdiff1d(people, chosen)
    long.loc[(long["time"] == "followup") & (long["participant"] == kept[0]), "anxiety"] = np.nan
    long.loc[(long["time"] == "pre") & (long["participant"] == kept[1]), "stigma"] = np.nan
    return long.reset_index(drop=True)


def main() -> None:
    DATA.mkdir(exist_ok=True)
    for seed, make in enumerate((balanced, unbalanced), start=20250901):
        frame = make(np.random.default_rng(seed))
        frame.to_csv(DATA / f"followup_{make.__name__}.csv", index=False)
        print(f"followup_{make.__name__}: {len(frame)} rows")


if __name__ == "__main__":
    main()
