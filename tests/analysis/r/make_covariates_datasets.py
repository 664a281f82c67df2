"""Generate the committed covariate datasets ``data/covariates_*.csv`` (run once; committed).

Usage: ``python tests/analysis/r/make_covariates_datasets.py`` from the repository root. Seeded;
read by ``covariates.R`` and by ``tests/analysis/test_covariates_reference.py``.

* ``covariates_balanced``: 36 + 36 participants, a three-level categorical covariate
  ``profession`` and a numeric ``year``, both related to the post score; no missing values.
* ``covariates_unbalanced``: 31 + 47 participants, the same covariates plus ``site`` whose level
  ``winter`` has a single participant (in one arm); some post scores are missing, four participants
  have no ``profession`` and two no ``year`` (they leave the adjusted ANCOVA).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent.parent / "data"
PROFESSIONS = ["medicine", "nursing", "social work"]
EFFECT = {"medicine": 0.0, "nursing": -0.25, "social work": -0.45}


def _simulate(rng: np.random.Generator, n_education: int, n_contact: int, prefix: str
              ) -> pd.DataFrame:
    n = n_education + n_contact
    arm = np.array(["education"] * n_education + ["contact"] * n_contact)
    wide = pd.DataFrame({"participant": [f"{prefix}{i:03d}" for i in rng.permutation(n) + 1],
                         "arm": arm})
    contact = arm == "contact"
    wide["profession"] = rng.choice(PROFESSIONS, n, p=[0.4, 0.35, 0.25])
    wide["year"] = rng.integers(1, 6, n)
    shift = wide["profession"].map(EFFECT).to_numpy() + 0.08 * (wide["year"].to_numpy() - 3)
    for name, (mean, sd, rho, effect) in {"stigma": (2.9, 0.55, 0.6, -0.5),
                                          "anxiety": (3.1, 0.65, 0.5, -0.3)}.items():
        pre = rng.normal(mean, sd, n)
        noise = rng.normal(0.0, sd * np.sqrt(1 - rho**2), n)
        post = mean + rho * (pre - mean) + noise + shift + effect * sd * contact
        wide[f"{name}__pre"] = np.round(pre, 3)
        wide[f"{name}__post"] = np.round(post, 3)
    return wide


def _to_long(wide: pd.DataFrame, rng: np.random.Generator, covariates: list[str]
             ) -> pd.DataFrame:
    rows = []
    for time in ("pre", "post"):
        part = wide[["participant", "arm", *covariates]].copy()
        part["time"] = time
        for name in ("anxiety", "stigma"):
            part[name] = wide[f"{name}__{time}"]
        rows.append(part)
    long = pd.concat(rows, ignore_index=True)
    long = long[["participant", "arm", "time", "anxiety", "stigma", *covariates]]
    return long.iloc[rng.permutation(len(long))].reset_index(drop=True)


def balanced(rng: np.random.Generator) -> pd.DataFrame:
    return _to_long(_simulate(rng, 36, 36, "B"), rng, ["profession", "year"])


def unbalanced(rng: np.random.Generator) -> pd.DataFrame:
    wide = _simulate(rng, 31, 47, "U")
    wide["site"] = rng.choice(["autumn", "spring"], len(wide))
    wide.loc[wide.index[wide["arm"] == "contact"][0], "site"] = "winter"
    ids = wide["participant"].to_numpy()
    no_profession = rng.choice(ids, 4, replace=False)
    no_year = rng.choice(np.setdiff1d(ids, no_profession), 2, replace=False)
    wide["year"] = wide["year"].astype(object)
    wide.loc[wide["participant"].isin(no_profession), "profession"] = ""
    wide.loc[wide["participant"].isin(no_year), "year"] = ""
    lost = rng.choice(ids, 9, replace=False)
    wide.loc[wide["participant"].isin(lost), ["stigma__post", "anxiety__post"]] = np.nan
    wide.loc[wide["participant"] == ids[0], "anxiety__pre"] = np.nan
    return _to_long(wide, rng, ["profession", "year", "site"])


def main() -> None:
    for seed, make in enumerate((balanced, unbalanced), start=20250901):
        frame = make(np.random.default_rng(seed))
        frame.to_csv(DATA / f"covariates_{make.__name__}.csv", index=False)
        print(f"covariates_{make.__name__}: {len(frame)} rows")


if __name__ == "__main__":
    main()
