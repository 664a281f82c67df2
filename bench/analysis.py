"""Benchmark: ``flask --app app analyze`` on 20,000 trainees x 2 outcomes (DESIGN.md section 10).

Target: the whole process takes at most 1.2 x the time of a minimal hand-written
pandas/statsmodels/scipy script computing the same figures on the same CSV
(``bench/analysis_baseline.py``). The two commands run alternately (a warm-up of each first, then
``--rounds`` timed turns each) and the medians are compared, so machine noise hits both alike.
The script also reports how far the two sets of figures are apart, as evidence they are the same.

Second target (issue 14 item 6): the engine takes at most 0.2 x the time of R doing the same
analyses (afex, car, effectsize, lme4, mice: ``bench/analysis_r.R``) on the same CSV, timed in the
same alternating turns. When ``Rscript`` or one of those packages is not installed, the script
says so and skips that comparison only.

Usage: ``.venv/bin/python bench/analysis.py [--trainees 20000] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = 1.2
R_TARGET = 0.2
R_PACKAGES = ("afex", "car", "effectsize", "lme4", "mice", "jsonlite")


def simulate(path: Path, trainees: int, seed: int = 20250405) -> None:
    """Long CSV: 1:1 arms, two correlated outcomes, 8% lost to follow-up (no post row)."""
    rng = np.random.default_rng(seed)
    arm = rng.permutation(
        np.repeat(["education", "contact"], [trainees // 2, trainees - trainees // 2])
    )
    ids = np.array([f"T{i:06d}" for i in range(trainees)])
    contact = arm == "contact"
    columns = {}
    for name, (mean, sd, rho, effect) in {
        "stigma": (2.9, 0.55, 0.6, -0.5),
        "anxiety": (3.1, 0.7, 0.5, -0.3),
    }.items():
        pre = rng.normal(mean, sd, trainees)
        post = (
            mean
            + rho * (pre - mean)
            + rng.normal(0, sd * np.sqrt(1 - rho**2), trainees)
            + effect * sd * contact
        )
        columns[name] = (np.round(pre, 3), np.round(post, 3))
    followed = rng.random(trainees) >= 0.08
    pre_rows = pd.DataFrame({"participant": ids, "arm": arm, "time": "pre"})
    post_rows = pd.DataFrame({"participant": ids, "arm": arm, "time": "post"})
    for name, (pre, post) in columns.items():
        pre_rows[name] = pre
        post_rows[name] = post
    long = pd.concat([pre_rows, post_rows[followed]], ignore_index=True)
    long.iloc[rng.permutation(len(long))].to_csv(path, index=False)


def engine_command(csv: Path, out: Path) -> tuple[list[str], str]:
    """The CLI if it exists, else a stand-in process doing what the CLI does."""
    flask = [str(BIN / "flask"), "--app", "app", "analyze"]
    probe = subprocess.run([*flask, "--help"], cwd=ROOT, env=_env(), capture_output=True)
    if probe.returncode == 0:
        return [*flask, str(csv), "--json", str(out)], "flask --app app analyze CSV --json FILE"
    code = (
        "import analysis, json, sys; "
        "r = analysis.analyze(analysis.load_long_csv(sys.argv[1])); "
        "open(sys.argv[2], 'w').write(json.dumps(r, indent=2))"
    )
    return [sys.executable, "-c", code, str(csv), str(out)], "stand-in: python -c 'import analysis'"


def r_command(csv: Path, out: Path) -> tuple[list[str] | None, str]:
    """``Rscript bench/analysis_r.R CSV OUT``, or None and why R cannot run it here."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None, "Rscript is not installed"
    wanted = ", ".join(f'"{name}"' for name in R_PACKAGES)
    probe = subprocess.run(
        [rscript, "-e", f"quit(status = !all(sapply(c({wanted}), requireNamespace, "
                        "quietly = TRUE)))"],
        capture_output=True,
    )
    if probe.returncode != 0:
        return None, f"R lacks one of the packages {', '.join(R_PACKAGES)}"
    return [rscript, str(ROOT / "bench" / "analysis_r.R"), str(csv), str(out)], "R"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", "benchmark-only-" + "0" * 32)
    env.setdefault("ALLPORT_INSTANCE_PATH", str(Path(tempfile.gettempdir()) / "allport-bench"))
    return env


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=_env(), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def max_deviation(engine: dict, baseline: dict) -> tuple[float, int]:
    """Largest relative difference over the figures both outputs share, and how many there were.

    The multiple-imputation figures (``sensitivity``) are left out: they rest on random draws,
    which are numpy's in the engine and R's in ``analysis_r.R``.

    p-values below 1e-10 are left out: there a relative error of the SE is multiplied by z^2 (at
    p = 1e-93 the MixedLM SE's 2e-6 becomes 1e-3) and nobody reads such p-values beyond "< 0.001".
    """
    worst, count = 0.0, 0

    def walk(a: object, b: object, path_end: str = "") -> None:
        nonlocal worst, count
        if isinstance(a, dict) and isinstance(b, dict):
            for key in a.keys() & b.keys() - {"sensitivity"}:
                walk(a[key], b[key], key)
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
            if not isinstance(a, bool) and not (path_end == "p" and abs(b) < 1e-10):
                count += 1
                worst = max(worst, abs(a - b) / max(abs(b), 1e-300))

    for name, entry in engine["outcomes"].items():
        walk(entry, baseline["outcomes"][name])
    return worst, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainees", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "scores.csv"
        simulate(csv, args.trainees)
        out_engine, out_baseline = Path(tmp) / "engine.json", Path(tmp) / "baseline.json"
        out_r = Path(tmp) / "r.json"
        engine, label = engine_command(csv, out_engine)
        baseline = [
            sys.executable,
            str(ROOT / "bench" / "analysis_baseline.py"),
            str(csv),
            str(out_baseline),
        ]
        r, r_label = r_command(csv, out_r)
        print(f"{args.trainees} trainees x 2 outcomes, {csv.stat().st_size / 1e6:.1f} MB CSV")
        print(f"engine:   {label}")
        print("baseline: python bench/analysis_baseline.py CSV FILE (pandas/statsmodels/scipy)")
        print("R:        " + ("Rscript bench/analysis_r.R CSV FILE (afex, car, effectsize, lme4, "
                             "mice)" if r is not None else f"skipped: {r_label}"))
        commands = {"engine": engine, "baseline": baseline}
        if r is not None:
            commands["R"] = r
        for command in commands.values():  # warm-up: page cache, .pyc files
            timed(command)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                times[name].append(timed(command))
        result = json.loads(out_engine.read_text())
        worst, count = max_deviation(result, json.loads(out_baseline.read_text()))
        against_r = max_deviation(result, json.loads(out_r.read_text())) if r else None
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:9} median {medians[name]:6.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")
    ratio = medians["engine"] / medians["baseline"]
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"ratio engine/baseline = {ratio:.3f} ({verdict} the target <= {TARGET})")
    print(f"figures compared: {count}, max relative difference {worst:.1e}")
    if against_r is None:
        print(f"analyze vs R: skipped ({r_label})")
        return
    ratio = medians["engine"] / medians["R"]
    verdict = "meets" if ratio <= R_TARGET else "MISSES"
    print(f"analyze vs R = {ratio:.3f} ({verdict} the target <= {R_TARGET}); figures compared "
          f"with R's: {against_r[1]}, max relative difference {against_r[0]:.1e}")

if __name__ == "__main__":
    main()
