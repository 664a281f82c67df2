"""Benchmark: the report and the analysis page at 100 and at 10,000 simulated trainees (DESIGN §10).

Goals (issue 10): the report for 10,000 trainees takes at most 2 x the time of the report for
100 (the cost nearly flat in N), and the process's peak memory at 10,000 stays under 400 MB.
Each size's database is built once with ``flask demo --simulate --trainees N`` in its own
instance folder under ``--data`` and reused by later runs (building 10,000 journeys takes
many minutes). The reports run alternately, ``--rounds`` timed turns each after a warm-up, each
a fresh ``flask report`` process that rebuilds the report; the medians are compared; peak memory
is the child's maximum resident set size.

Then, at the largest size, from the same run: the cached second request (``flask report
--cached``, a whole process, against the rebuild above; and inside one process, the cache key
(hashed, then remembered at an unchanged data version)
and a cached ``report_pdf`` call), and the researcher's analysis page, first view (the cache
emptied: the analysis computed) against the second (served from the cache), with ``/healthz``
in the same process as the yardstick. ``make bench`` adds ``--huge 20000`` (issue 14 item 5):
the same figures at 20,000 trainees; that demo is built once (it takes long) and reused.

Usage: ``.venv/bin/python bench/report.py [--small 100] [--large 10000] [--huge 20000]
[--rounds 3] [--data DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLASK = [str(Path(sys.executable).parent / "flask"), "--app", "app"]
RATIO_GOAL = 2.0
MEMORY_GOAL_MB = 400
TIMED = ("import resource, subprocess, sys, time;"
         "t = time.perf_counter();"
         "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
         "print(time.perf_counter() - t,"
         " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


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
    if done.exists():  # reused: brought up to the current schema (init-db migrates)
        subprocess.run([*FLASK, "init-db"], cwd=ROOT, env=_env(instance), check=True,
                       stdout=subprocess.DEVNULL)
        return instance
    instance.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for command in (["init-db"], ["demo", "--trainees", str(trainees), "--simulate"]):
        subprocess.run([*FLASK, *command], cwd=ROOT, env=_env(instance), check=True,
                       stdout=subprocess.DEVNULL)
    done.write_text(f"{time.perf_counter() - started:.0f} s\n")
    print(f"built the {trainees}-trainee demo in {time.perf_counter() - started:.0f} s")
    return instance


def run_report(instance: Path, *, cached: bool = False) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and pages of one ``report`` run in a fresh process."""
    out = instance / "report.pdf"
    command = [sys.executable, "-c", TIMED, *FLASK, "report", "demo", "--out", str(out),
               *(["--cached"] if cached else [])]
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


def measure_in_process() -> dict[str, Any]:
    """Run inside the instance's environment (``--child``): key, cached report, analysis page."""
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select

    from app import create_app
    from study.database import read_snapshot
    from study.extensions import db, instrument_library
    from study.models import Study
    from study.services import report, report_cache

    app = create_app()
    figures: dict[str, Any] = {}
    with app.app_context():
        study = db.session.scalars(select(Study).where(Study.slug == "demo")).one()
        report_cache.app_code_fingerprint()  # once per process: timed apart
        versions = report.software_versions()
        shutil.rmtree(report_cache.cache_dir(app.instance_path, "digests"), ignore_errors=True)
        for figure in ("key", "remembered_key"):  # the rows hashed, then the digest remembered
            started = time.perf_counter()
            with read_snapshot(db.session):
                report_cache.cache_key(db.session, study, paper="a4", versions=versions,
                                       instance_path=app.instance_path)
            figures[figure] = time.perf_counter() - started
        started = time.perf_counter()
        report_cache.report_pdf(db.session, study, instrument_library(), paper="a4",
                                instance_path=app.instance_path)
        figures["cached_report"] = time.perf_counter() - started
        db.session.rollback()
    logins = (Path(app.instance_path) / "demo-logins.txt").read_text()
    found = re.search(r"researcher\s+(\S+)\s+password: (\S+)", logins)
    assert found is not None, "demo-logins.txt names no researcher"
    client = app.test_client()
    https = {"base_url": "https://localhost"}  # production cookies are Secure
    page = client.get("/login", **https).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    signed_in = client.post("/login", data={"csrf_token": token.group(1),
                                            "email": found.group(1),
                                            "password": found.group(2)},
                            headers={"Referer": "https://localhost/login"}, **https)
    assert signed_in.status_code == 303, signed_in.status_code
    shutil.rmtree(report_cache.cache_dir(app.instance_path, "analysis"), ignore_errors=True)
    for view in ("first_view", "second_view"):
        started = time.perf_counter()
        shown = client.get("/researcher/demo/analysis", **https)
        figures[view] = time.perf_counter() - started
        assert shown.status_code == 200, shown.status_code
    health = []
    for _ in range(21):
        started = time.perf_counter()
        answered = client.get("/healthz", **https)
        health.append(time.perf_counter() - started)
        assert answered.status_code == 200, answered.status_code
    figures["healthz"] = statistics.median(health)
    return figures


def in_process(instance: Path) -> dict[str, Any]:
    """:func:`measure_in_process` in a fresh process with ``instance``'s environment."""
    result = subprocess.run([sys.executable, __file__, "--child"], cwd=ROOT,
                            env=_env(instance), check=True, capture_output=True, text=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Build (or reuse) the demos, time the reports alternately, then the cache; print figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--huge", type=int, default=None,
                        help="also measure the cache and the analysis page at this size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path,
                        default=Path(tempfile.gettempdir()) / "allport-bench-report")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_in_process()))
        return
    sizes = (args.small, args.large)
    instances = {n: ensure_demo(args.data, n) for n in sizes}
    if args.huge:
        instances[args.huge] = ensure_demo(args.data, args.huge)
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
        print(f"{n:>6} trainees: report median {statistics.median(times[n]):.1f} s "
              f"(runs {', '.join(f'{t:.1f}' for t in times[n])}), peak {memory[n]:.0f} MB, "
              f"{pages[n]} pages")
    built = statistics.median(times[args.large])
    ratio = built / statistics.median(times[args.small])
    print(f"ratio {args.large}/{args.small}: {ratio:.2f} (goal <= {RATIO_GOAL}); "
          f"peak memory at {args.large}: {memory[args.large]:.0f} MB (goal < {MEMORY_GOAL_MB})")
    for n in (args.large, *([args.huge] if args.huge else [])):
        cached = statistics.median(run_report(instances[n], cached=True)[0] for _ in range(3))
        figures = in_process(instances[n])
        print(f"{n:>6} trainees, cache: `report --cached` process {cached:.1f} s "
              f"(rebuild {built:.1f} s)" if n == args.large else
              f"{n:>6} trainees, cache: `report --cached` process {cached:.1f} s")
        print(f"{'':>6}   in one process: cache key {figures['key'] * 1000:.0f} ms hashed, "
              f"{figures['remembered_key'] * 1000:.1f} ms remembered; cached "
              f"report {figures['cached_report'] * 1000:.0f} ms; analysis page first view "
              f"{figures['first_view']:.2f} s, second view {figures['second_view']:.2f} s "
              f"({figures['first_view'] / figures['second_view']:.0f}x faster; "
              f"{figures['second_view'] / figures['healthz']:.1f}x the "
              f"{figures['healthz'] * 1000:.1f} ms of /healthz)")


if __name__ == "__main__":
    main()
