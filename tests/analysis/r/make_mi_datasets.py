"""Generate the multiple-imputation test data (run once; the outputs are committed).

Usage: ``python tests/analysis/r/make_mi_datasets.py`` from the repository root, then
``Rscript tests/analysis/r/mi.R``.

Writes to ``tests/analysis/data/``:

``mi_missing.csv``
    A seeded two-arm trial (48 education, 55 contact) with three outcomes: ``stigma`` and
    ``anxiety`` lose post scores in both arms, more often for higher pre scores (missing at random
    given pre), and a few pre scores; ``empathy`` has every post score (B = 0 when pooled).
``mi_imputed.csv``
    The completed datasets drawn by :func:`analysis.imputation.impute_post` for each case of
    ``CASES``, stacked as ``mice::complete(imp, "long", include = TRUE)`` lays them out: ``.imp``
    0 is the incomplete data, 1..m the completed ones. ``mi.R`` pools them with ``mice::pool``;
    the tests check that the engine draws these very datasets and pools them as mice does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # this checkout's analysis package, wherever the script is run from

from analysis import load_long_csv  # noqa: E402
from analysis.data import complete_cases, observe, read_design  # noqa: E402
from analysis.imputation import impute_post  # noqa: E402

DATA = ROOT / "tests" / "analysis" / "data"
SEED = 20250409
# (outcome, m, seed) pooled in R; the seeds are arbitrary but fixed.
CASES = (("stigma", 50, 2025), ("anxiety", 5, 7), ("empathy", 5, 1))


def trial(rng: np.random.Generator) -> pd.DataFrame:
    """Long data with missing post scores depending on the pre score (MAR)."""
    n_education, n_contact = 48, 55
    n = n_education + n_contact
    arm = np.array(["education"] * n_education + ["contact"] * n_contact)
    ids = np.array([f"M{i:03d}" for i in rng.permutation(n) + 1])
    contact = arm == "contact"
    frames = {time: pd.DataFrame({"participant": ids, "arm": arm, "time": time})
              for time in ("pre", "post")}
    outcomes = {"stigma": (2.9, 0.55, 0.6, -0.5, 0.18), "anxiety": (3.0, 0.65, 0.5, -0.3, 0.12),
                "empathy": (3.4, 0.5, 0.55, 0.3, 0.0)}
    for name, (mean, sd, rho, effect, lost) in outcomes.items():
        pre = rng.normal(mean, sd, n)
        post = mean + rho * (pre - mean) + rng.normal(0, sd * np.sqrt(1 - rho**2), n) \
            + effect * sd * contact
        # P(post missing) rises with the pre score: logistic around the share ``lost``.
        if lost:
            logit = np.log(lost / (1 - lost)) + 1.2 * (pre - mean) / sd
            missing = rng.random(n) < 1 / (1 + np.exp(-logit))
            post[missing] = np.nan
            pre[rng.choice(np.flatnonzero(~missing), 2, replace=False)] = np.nan
        frames["pre"][name] = np.round(pre, 3)
        frames["post"][name] = np.round(post, 3)
    post_rows = frames["post"]
    # Participants missing every post score have no post row at all (half of them).
    gone = post_rows[list(outcomes)].isna().all(axis=1) & (rng.random(n) < 0.5)
    long = pd.concat([frames["pre"], post_rows[~gone]], ignore_index=True)
    return long.iloc[rng.permutation(len(long))].reset_index(drop=True)


def stacked(frame: pd.DataFrame, outcome: str, m: int, seed: int) -> pd.DataFrame:
    """``.imp`` 0..m of one outcome: participant, arm, pre, post (float text that round-trips)."""
    design = read_design(frame, "education")
    observed = observe(frame, design, outcome)
    complete_cases(observed)  # the engine's checks first
    imputed = impute_post(observed, m, seed)
    arms = np.array(design.arms, dtype=object)[imputed.treated]
    base = pd.DataFrame({
        ".id": np.arange(1, len(imputed.subject) + 1),
        "participant": design.participant_ids[imputed.subject],
        "arm": arms,
        "pre": imputed.pre,
    })
    parts = [base.assign(**{".imp": 0}, post=np.where(imputed.imputed, np.nan, imputed.post[0]))]
    parts += [base.assign(**{".imp": j + 1}, post=imputed.post[j]) for j in range(m)]
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "case", f"{outcome}_m{m}_seed{seed}")
    return out[["case", ".imp", ".id", "participant", "arm", "pre", "post"]]


def main() -> None:
    frame = trial(np.random.default_rng(SEED))
    frame.to_csv(DATA / "mi_missing.csv", index=False)
    loaded = load_long_csv(DATA / "mi_missing.csv")
    stacks = pd.concat([stacked(loaded, *case) for case in CASES], ignore_index=True)
    stacks.to_csv(DATA / "mi_imputed.csv", index=False)
    print(f"mi_missing.csv: {len(frame)} rows; mi_imputed.csv: {len(stacks)} rows")


if __name__ == "__main__":
    main()
