"""Benchmark: ``flask --app app report demo`` at 100 and at 10,000 simulated trainees (DESIGN §10).

Goals (issue 10): the report for 10,000 trainees takes at most 2 x the time of the report for
100 (the cost nearly flat in N), and the process's peak memory at 10,000 stays under 400 MB.
Each size's database is built once with ``flask demo --simulate --trainees N`` in its own
instance folder under ``--data`` and reused by later runs (building 10,000 journeys takes
minutes). The reports run alternately, ``--rounds`` timed turns each after a warm-up, and the
medians are compared; peak memory is the child's maximum resident set size.

Usage: ``.venv/bin/python bench/report.py [--small 100] [--large 10000] [--rounds 3]
[--data DIR]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLASK = [str(Path(sys.executable).parent / "flask"), "--app", "app"]
RATIO_GOAL = 2.0
MEMORY_GOAL_MB = 400


def _env(instance: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", "benchmark-only-" + "0" * 32)
    env["ALLPORT_INSTANCE_PATH"] = str(instance)
    env.pop("DATABASE_URL", None)
    env.pop("ALLPORT_DATABASE_URL", None)
    return env


def ensure_demo(data: Path, trainees: int) -> Path:
    """The instance folder of a demo with ``trainees`` simulated journeys, built if missing."""
    instance = data / f"demo-{trainees}"
    done = instance / "built"
    if done.exists():
        return instance
    instance.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for command in (["init-db"], ["demo", "--trainees", str(trainees), "--simulate"]):
        subprocess.run([*FLASK, *command], cwd=ROOT, env=_env(instance), check=True,
                       stdout=subprocess.DEVNULL)
    done.write_text(f"{time.perf_counter() - started:.0f} s\n")
    print(f"built the {trainees}-trainee demo in {time.perf_counter() - started:.0f} s")
    return instance


def run_report(instance: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and pages of one ``report`` run in a fresh process."""
    out = instance / "report.pdf"
    command = [sys.executable, "-c",
               "import resource, subprocess, sys, time;"
               "t = time.perf_counter();"
               "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
               "print(time.perf_counter() - t,"
               " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
               *FLASK, "report", "demo", "--out", str(out)]
    result = subprocess.run(command, cwd=ROOT, env=_env(instance), check=True,
                            capture_output=True, text=True)
    seconds, rss_kb = result.stdout.split()
    return float(seconds), int(rss_kb) / 1024, page_count(out)


def page_count(pdf: Path) -> int:
    """Pages of ``pdf`` (pypdf comes with the test extra); 0 when pypdf is not installed."""
    try:
        import pypdf
    except ImportError:
        return 0
    return len(pypdf.PdfReader(pdf).pages)


def main() -> None:
    """Build (or reuse) both demos, time the reports alternately, print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path,
                        default=Path(tempfile.gettempdir()) / "allport-bench-report")
    args = parser.parse_args()
    sizes = (args.small, args.large)
    instances = {n: ensure_demo(args.data, n) for n in sizes}
    for n in sizes:  # warm-up: imports, font cache, the database's pages
        run_report(instances[n])
    times: dict[int, list[float]] = {n: [] for n in sizes}
    memory: dict[int, float] = dict.fromkeys(sizes, 0.0)
    pages: dict[int, int] = {}
    for _ in range(args.rounds):
        for n in sizes:
            seconds, rss, pages[n] = run_report(instances[n])
            times[n].append(seconds)
            memory[n] = max(memory[n], rss)
    for n in sizes:
        print(f"{n:>6} trainees: median {statistics.median(times[n]):.1f} s "
              f"(runs {', '.join(f'{t:.1f}' for t in times[n])}), peak {memory[n]:.0f} MB, "
              f"{pages[n]} pages")
    ratio = statistics.median(times[args.large]) / statistics.median(times[args.small])
    print(f"ratio {args.large}/{args.small}: {ratio:.2f} (goal <= {RATIO_GOAL}); "
          f"peak memory at {args.large}: {memory[args.large]:.0f} MB (goal < {MEMORY_GOAL_MB})")


if __name__ == "__main__":
    main()
