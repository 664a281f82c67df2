"""Allport's intergroup-anxiety page against the same 12 items on oTree 6; a worker's peak memory.

DESIGN §10: the 12-item, 10-point intergroup-anxiety page on gunicorn (4 workers, SQLite) should
serve ≥ 10 × the requests per second of the same 12 items on oTree 6's production server (one
process, its default SQLite). Both servers run side by side; wrk, with the same settings for both,
takes alternating turns so that the shared machine's noise hits both alike; the script prints each
median and the ratio. Before measuring, it checks that each page carries all 12 adjectives of the
bundled instrument and 120 radio buttons.

oTree is not a dependency of Allport: the first run installs it into its own virtual environment,
bench/.otree-venv (git-ignored), and serves the project in bench/otree_project from a scratch copy.
Without a package index the comparison is skipped with one line saying so; the rest still runs.

Then the peak resident memory of an Allport worker over 10,000 GETs of the page. Workers recycle
after gunicorn.conf.py's ``max_requests`` (1,000 plus jitter), so a worker's peak is the peak of its
own life: every worker's VmHWM is sampled from /proc while the run lasts.

    .venv/bin/python bench/versus_otree.py [--seconds 8] [--rounds 3] [--connections 16]
                                           [--requests 10000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import runpy
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path

from questionnaire import flask, free_port, wrk

from instruments.definition import load_definition
from instruments.library import bundled_dir

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OTREE_PROJECT = ROOT / "bench" / "otree_project"
OTREE_VENV = ROOT / "bench" / ".otree-venv"
OTREE_REQUIREMENT = "otree>=6,<7"
INSTRUMENT = "intergroup-anxiety@1.0.yaml"
TARGET = 10.0


def wait_until_up(url: str, server: subprocess.Popen[bytes], name: str) -> None:
    for _ in range(150):
        if server.poll() is not None:
            raise SystemExit(f"{name} exited with status {server.returncode} before serving {url}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:  # it answered: up, whatever it thinks of the request
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{name} did not answer {url} within 30 s")


def check_page(html: str, adjectives: list[str], name: str) -> int:
    """The number of radio buttons on a page, after checking that it asks all 12 adjectives."""
    missing = [word for word in adjectives if f">{word}" not in html and f"{word}<" not in html]
    if missing:
        raise SystemExit(f"{name}: the page wrk would measure lacks {', '.join(missing)}")
    return html.count('type="radio"')


def install_otree() -> Path | None:
    """oTree's command in bench/.otree-venv, installed on first use; None (said why) if it can't."""
    command = OTREE_VENV / "bin" / "otree"
    if command.exists():
        return command
    steps = [("create a virtual environment", [sys.executable, "-m", "venv", str(OTREE_VENV)]),
             (f"pip install {OTREE_REQUIREMENT}",
              [str(OTREE_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
               OTREE_REQUIREMENT])]
    print(f"Installing {OTREE_REQUIREMENT} into {OTREE_VENV.relative_to(ROOT)} (first run only)")
    for what, step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            print(f"oTree comparison skipped: could not {what} in "
                  f"{OTREE_VENV.relative_to(ROOT)} ({lines[-1]})")
            shutil.rmtree(OTREE_VENV, ignore_errors=True)
            return None
    return command


def otree_version(command: Path) -> str:
    return subprocess.run([str(command), "--version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def start_allport(workdir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """gunicorn x4 with gunicorn.conf.py on SQLite, and a trainee sitting on the anxiety page.

    Returns the server, the anxiety page's URL and the trainee's session cookie.
    """
    env = {**os.environ, "SECRET_KEY": "bench", "ALLPORT_ENV": "development",
           "ALLPORT_INSTANCE_PATH": str(workdir), "DATABASE_URL": f"sqlite:///{workdir}/b.db"}
    flask(env, "init-db")
    flask(env, "demo")
    root = f"http://127.0.0.1:{free_port()}"
    token = flask(env, "invite", "demo", "--count", "1", "--base-url", root).split("/t/")[1].strip()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "app:create_app()", "--config", "gunicorn.conf.py",
         "--workers", "4", "--bind", root.removeprefix("http://"), "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page_url, cookie = walk_to_anxiety_page(root, token, server)
    except BaseException:
        stop(server)
        raise
    return server, page_url, cookie


def walk_to_anxiety_page(root: str, token: str, server: subprocess.Popen[bytes]) -> tuple[str, str]:
    """Consent and answer the background page; the anxiety page's URL and the session cookie."""
    wait_until_up(root + "/healthz", server, "Allport's gunicorn")
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def post(path: str, html: str, answers: dict[str, str]) -> tuple[str, str]:
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
        if csrf is None:
            raise SystemExit(f"Allport: no CSRF token on {path}")
        body = urllib.parse.urlencode({"csrf_token": csrf.group(1), **answers}).encode()
        with opener.open(root + path, data=body) as response:
            return urllib.parse.urlsplit(response.url).path, response.read().decode()

    # The demo study's baseline: consent, the background page, then the anxiety page.
    with opener.open(f"{root}/t/{token}/consent") as response:
        html = response.read().decode()
    path, html = post(f"/t/{token}/consent", html, {"choice": "agree"})
    path, _ = post(path, html, {"q_profession": "nursing", "q_training_year": "2",
                                "q_prior_contact": "none"})
    return root + path, "; ".join(f"{c.name}={c.value}" for c in jar)


def start_otree(command: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """oTree's prodserver on a scratch copy of bench/otree_project, and a participant's page URL.

    The session is created through oTree's REST API; its session-wide link assigns the one
    participant and redirects to the page, whose URL then serves it again on every GET.
    """
    project = workdir / "otree_project"
    shutil.copytree(OTREE_PROJECT, project,
                    ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    rest_key = secrets.token_urlsafe(16)
    # oTree reads DATABASE_URL too; without it, it keeps db.sqlite3 in the project folder.
    env = {name: value for name, value in os.environ.items()
           if name not in {"DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH"}}
    env.update(PATH=f"{command.parent}{os.pathsep}{env.get('PATH', '')}", OTREE_PRODUCTION="1",
               OTREE_AUTH_LEVEL="STUDY", OTREE_ADMIN_PASSWORD=secrets.token_urlsafe(16),
               OTREE_SECRET_KEY=secrets.token_urlsafe(32), OTREE_REST_KEY=rest_key)
    # prodserver starts a helper process of its own: a session of their own lets stop() end both.
    server = subprocess.Popen([str(command), "prodserver", f"127.0.0.1:{port}"], cwd=project,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        return server, participant_page(root, rest_key, server)
    except BaseException:
        stop(server, group=True)
        raise


def participant_page(root: str, rest_key: str, server: subprocess.Popen[bytes]) -> str:
    """Create a one-participant session; the URL of the page its session-wide link leads to."""
    wait_until_up(root + "/api/otree_version", server, "oTree's prodserver")
    request = urllib.request.Request(
        root + "/api/sessions", method="POST", headers={"otree-rest-key": rest_key},
        data=b'{"session_config_name": "intergroup_anxiety", "num_participants": 1}')
    with urllib.request.urlopen(request) as response:
        join = re.search(r'"session_wide_url":\s*"([^"]+)"', response.read().decode())
    if join is None:
        raise SystemExit("oTree: creating a session returned no session-wide link")
    with urllib.request.urlopen(join.group(1)) as response:
        return response.url


def stop(server: subprocess.Popen[bytes], *, group: bool = False) -> None:
    if server.poll() is not None:
        return
    if group:
        os.killpg(server.pid, signal.SIGTERM)
    else:
        server.terminate()
    server.wait(timeout=30)


def peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set size so far (VmHWM), or None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


class WorkerPeaks(threading.Thread):
    """Samples the VmHWM of every child of a gunicorn master until stopped: one peak per worker.

    A worker's VmHWM only grows, so its last sample before it is recycled is its life's peak,
    short of whatever it grew in the last ``interval``. New workers are looked for twice a second.
    """

    def __init__(self, master: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self._done = threading.Event()

    def children(self) -> set[int]:
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                # Fields after the command's closing parenthesis: state, then the parent's pid.
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.master:
                    found.add(int(entry.name))
        return found

    def run(self) -> None:
        alive: set[int] = set()
        next_scan = 0.0
        while not self._done.is_set():
            if time.monotonic() >= next_scan:
                alive |= self.children()
                next_scan = time.monotonic() + 0.5
            for pid in list(alive):
                peak = peak_rss_kib(pid)
                if peak is None:
                    alive.discard(pid)
                else:
                    self.peaks[pid] = max(peak, self.peaks.get(pid, 0))
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def counted_run(url: str, requests: int, connections: int, cookie: str) -> int:
    """Send exactly ``requests`` GETs over ``connections`` concurrent clients; the number sent.

    wrk runs for a time, not a count, so this run has a client of its own: throughput does not
    matter here, only that every worker serves its share up to recycling, many times over.
    """
    tickets = itertools.count()
    failures: list[str] = []

    def client() -> int:
        served = 0
        while next(tickets) < requests and not failures:
            request = urllib.request.Request(url, headers={"Cookie": cookie})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    response.read()
                served += 1
            except OSError as error:
                failures.append(f"{url}: {error}")
        return served

    with ThreadPoolExecutor(connections) as pool:
        sent = sum(pool.map(lambda _: client(), range(connections)))
    if failures:
        raise SystemExit(f"{len(failures)} failed requests in the memory run, first: {failures[0]}")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10_000,
                        help="GETs of Allport's page in the memory run")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    adjectives = [str(item.text) for item in load_definition(bundled_dir() / INSTRUMENT).items]
    otree = install_otree()

    workdir = Path(tempfile.mkdtemp(prefix="allport-bench-otree-"))
    allport, allport_url, cookie = start_allport(workdir)
    otree_server = None
    try:
        get_script = workdir / "get.lua"
        get_script.write_text(f'wrk.headers["Cookie"] = "{cookie}"\n')
        html = urllib.request.urlopen(urllib.request.Request(
            allport_url, headers={"Cookie": cookie})).read().decode()
        allport_radios = check_page(html, adjectives, "Allport")
        if otree is not None:
            version = otree_version(otree)
            otree_server, otree_url = start_otree(otree, workdir)
            html = urllib.request.urlopen(otree_url).read().decode()
            otree_radios = check_page(html, adjectives, f"oTree {version}")
            ours, theirs = [], []
            for _ in range(options.rounds):
                ours.append(wrk(allport_url, options.seconds, options.connections, get_script))
                theirs.append(wrk(otree_url, options.seconds, options.connections))
            otree_peak = peak_rss_kib(otree_server.pid)
            stop(otree_server, group=True)
            a, o = statistics.median(ours), statistics.median(theirs)
            print(f"Allport gunicorn x4 vs oTree {version} prodserver (one process), both on "
                  f"SQLite, wrk -c{options.connections}, {options.rounds} alternated rounds of "
                  f"{options.seconds}s")
            print(f"intergroup-anxiety page, Allport ({len(adjectives)} items, {allport_radios} "
                  f"radios)   {a:8.1f} req/s")
            print(f"the same page on oTree {version} ({len(adjectives)} items, {otree_radios} "
                  f"radios)   {o:8.1f} req/s   ratio {a / o:.1f}  (target >= {TARGET:.0f})")
            if otree_peak is not None:
                print(f"oTree's one process, peak resident memory after its turns: "
                      f"{otree_peak / 1024:.1f} MiB (VmHWM)")

        recycle = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        sampler = WorkerPeaks(allport.pid)
        sampler.start()
        sent = counted_run(allport_url, options.requests, options.connections, cookie)
        sampler.stop()
        if not sampler.peaks:
            raise SystemExit(f"no gunicorn worker of pid {allport.pid} was seen in /proc")
        peaks = sorted(kib / 1024 for kib in sampler.peaks.values())
        print(f"Allport worker peak resident memory over {sent:,} GETs of the page "
              f"(workers recycle after {recycle['max_requests']:,} + up to "
              f"{recycle['max_requests_jitter']} requests): {len(peaks)} worker lives, highest "
              f"{peaks[-1]:.1f} MiB, median {statistics.median(peaks):.1f} MiB, lowest "
              f"{peaks[0]:.1f} MiB (VmHWM)")
    finally:
        if otree_server is not None:
            stop(otree_server, group=True)
        stop(allport)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
