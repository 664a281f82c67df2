"""Questionnaire pages on gunicorn (4 workers, SQLite) against the same server's /healthz.

DESIGN §10: the GET of a baseline questionnaire page should reach ≥ 0.4 × the requests per
second of /healthz, and storing a page of answers (POST) ≥ 0.3 ×. Turns alternate (/healthz,
page, post) so that the shared machine's noise hits both sides alike. Each ratio is the median
over the rounds of the ratio within one round, printed with its lowest and highest: on these
machines /healthz alone swings by half from one turn to the next, and a ratio of two medians
taken from different turns swung with it.

    .venv/bin/python bench/questionnaire.py [--seconds 6] [--rounds 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask(env: dict[str, str], *args: str) -> str:
    return subprocess.run([str(BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env,
                          check=True, capture_output=True, text=True).stdout


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> float:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise SystemExit(f"{url}: {non_2xx.group(1)} error responses\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def paired_ratio(measured: list[float], baseline: list[float]) -> str:
    """The median of the rounds' ratios, with the lowest and the highest: "0.31 (0.27–0.35)"."""
    ratios = [m / b for m, b in zip(measured, baseline, strict=True)]
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def expect_status(url: str, cookie: str, status: int, body: bytes | None = None) -> None:
    """Stop unless ``url`` answers ``status`` itself: wrk counts a redirect as a success."""
    request = urllib.request.Request(url, data=body, headers={"Cookie": cookie})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request) as response:
            got = response.status
    except urllib.error.HTTPError as error:
        got = error.code
    if got != status:
        raise SystemExit(f"{url} answered {got}, not {status}: the benchmark would time that")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="allport-bench-"))
    env = {**os.environ, "SECRET_KEY": "bench", "ALLPORT_ENV": "development",
           "ALLPORT_INSTANCE_PATH": str(workdir), "DATABASE_URL": f"sqlite:///{workdir}/b.db"}
    flask(env, "init-db")
    flask(env, "demo")
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    # Two trainees: one stays on the anxiety page for the GETs, the other stores answers.
    reader, writer = (line.split("/t/")[1].strip() for line in flask(
        env, "invite", "demo", "--count", "2", "--base-url", root).splitlines() if "/t/" in line)
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "app:create_app()", "--workers", "4", "--bind",
         f"127.0.0.1:{port}", "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(root + "/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        # Each trainee consents and answers the background page: on to the anxiety page.
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

        def get(path: str) -> tuple[str, str]:
            with opener.open(root + path) as response:
                return urllib.parse.urlsplit(response.url).path, response.read().decode()

        def post(path: str, data: dict[str, str]) -> tuple[str, str]:
            body = urllib.parse.urlencode(data).encode()
            with opener.open(root + path, data=body) as response:
                return urllib.parse.urlsplit(response.url).path, response.read().decode()

        def csrf(html: str) -> str:
            return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)

        def walk_to_anxiety_page(token: str) -> tuple[str, str]:
            _, html = get(f"/t/{token}/consent")
            path, html = post(f"/t/{token}/consent", {"csrf_token": csrf(html), "choice": "agree"})
            return post(path, {"csrf_token": csrf(html), "q_profession": "nursing",
                               "q_training_year": "2", "q_prior_contact": "none"})

        path, html = walk_to_anxiety_page(reader)
        page_url = root + path
        items = list(dict.fromkeys(re.findall(r'name="(q_[^"]+)"', html)))
        radios = html.count('type="radio"')
        # The writer submits that page and then sits on page 1 of 2 of the stigma scale, where
        # every POST of ?page=0 stores a page of answers (a real save, never the replay redirect).
        path, html = walk_to_anxiety_page(writer)
        path, html = post(path, {"csrf_token": csrf(html), **{name: "5" for name in items}})
        save_items = list(dict.fromkeys(re.findall(r'name="(q_[^"]+)"', html)))
        save_url = f"{root}{path}?page=0"
        token_field = urllib.parse.urlencode({"csrf_token": csrf(html)})
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        expect_status(page_url, cookie, 200)
        expect_status(save_url, cookie, 303, urllib.parse.urlencode(
            {"csrf_token": csrf(html), **{name: "3" for name in save_items}}).encode())
        get_script = workdir / "get.lua"
        get_script.write_text(f'wrk.headers["Cookie"] = "{cookie}"\n')
        # Every POST carries fresh random answers, so each one really writes its changes.
        post_script = workdir / "post.lua"
        names = ", ".join(f'"{name}"' for name in save_items)
        post_script.write_text(
            f'local names = {{{names}}}\n'
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
            f'wrk.headers["Cookie"] = "{cookie}"\n'
            'request = function()\n'
            f'  local parts = {{"{token_field}"}}\n'
            '  for _, name in ipairs(names) do\n'
            '    parts[#parts + 1] = name .. "=" .. math.random(1, 5)\n'
            '  end\n'
            '  return wrk.format(nil, nil, nil, table.concat(parts, "&"))\n'
            'end\n')

        health, page, store = [], [], []
        for _ in range(options.rounds):
            health.append(wrk(root + "/healthz", options.seconds, options.connections))
            page.append(wrk(page_url, options.seconds, options.connections, get_script))
            store.append(wrk(save_url, options.seconds, options.connections, post_script))
        h, g, p = (statistics.median(x) for x in (health, page, store))
        print(f"gunicorn x4, SQLite, wrk -c{options.connections}, {options.rounds} alternated "
              f"rounds of {options.seconds}s; median req/s, and the median of each round's ratio")
        print(f"/healthz                                      {h:8.1f} req/s")
        print(f"questionnaire page GET ({len(items)} items, {radios} radios)   {g:8.1f} req/s"
              f"   ratio {paired_ratio(page, health)}  (target >= 0.40)")
        print(f"answers stored, POST ({len(save_items)} items)             {p:8.1f} req/s"
              f"   ratio {paired_ratio(store, health)}  (target >= 0.30)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
