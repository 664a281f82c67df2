"""The study's outputs cached as files under ``<instance>/cache/`` (issue 10 item 4; issue 14).

Two outputs are cached: the rendered PDF report, ``cache/reports/<slug>/<paper>-<key>.pdf``,
and each population's whole analysis (every outcome) with its interaction plots,
``cache/analysis/<slug>/<population>-<key>.json``, which the researcher's analysis page and
``GET /api/v1/studies/SLUG/analysis`` both serve (their outcome choice filters the cached
result). Nothing here writes to the database: a GET that finds no file builds one and keeps it.

The key
-------
A SHA-256 of three parts, so that a cached file is served only while nothing it prints could
have changed:

1. **The data** (:func:`data_digest`): the rows of every table that holds the study's data (the
   study, its arms, time points, plans, participants, allocations, consents, bookings, module
   progress, submitted responses and their answers...), found by following foreign keys down
   from ``studies``, read in primary-key order and hashed as the database driver returns them,
   in chunks (no ORM objects, no per-row dicts: ``repr`` of a chunk of driver tuples is one C
   call). No table has an ``updated_at``, so counts or maximum ids would miss an edited row (a
   withdrawal, a corrected answer, unblinding); hashing the rows themselves cannot. A table added
   later is hashed whole until someone decides otherwise, so the key errs on the side of
   changing. Left out, because nothing the report or the analysis prints reads them and they
   change while trainees merely use the site (each would otherwise throw the cache away on every
   trainee's page view): staff accounts, API tokens and the audit log (a download would
   invalidate its own cache); trainees' email addresses; questionnaires not yet submitted and
   their answers (only submitted ones are analysed or counted: submitting a draft adds its rows,
   which changes the key); and the columns ``invitations.last_used_at``,
   ``module_progress.furthest_page``, ``responses.current_page`` and ``answers.answered_at``.
   The left-out tables and columns are :data:`~study.models.data_version.UNREPORTED` and
   ``UNREPORTED_COLUMNS``. Hashing costs 1.5-1.9 s on SQLite at 10,000 simulated trainees
   (about 540,000 answers; fetching the tuples and their ``repr`` are most of it) and about
   5.5 s at 20,000, so the digest is **remembered** (``cache/digests/<slug>.json``, with the
   data version it was computed at and a fingerprint of the code that defines it) and hashed
   again only when the database's data version has changed (``study.models.data_version``,
   migration 0015: triggers on every reported table and column change it on each write the
   digest would see, and not on drafts, page turns or audit events). Reading the version takes
   milliseconds; ``bench/report.py`` prints the key's cost.
2. **The code** (:func:`code_fingerprint`): a SHA-256 of every file of the packages that compute
   or print the outputs (``analysis``, ``instruments`` with its definitions, ``study``), of the
   report templates and of the site's supplied wording, read once per process; with the
   versions of Python and of the packages the outputs use. A change of code therefore never
   serves a file made by the old code, without anyone remembering to bump a number.
3. **What was asked**: the output (report or analysis), the paper size or the population, and
   for the report the number of allocations still inside their intervention period: CONSORT's
   "still within the intervention period" depends on the clock as well as on the data.

The key and the build read one snapshot of the database
(:func:`study.database.read_snapshot`: on SQLite a deferred read transaction, on PostgreSQL
``REPEATABLE READ, READ ONLY``), so what is stored under a key is always made of the data that
key was computed from, whatever trainees commit meanwhile, and the key is computed once per
request. The clock is read once too: the key's "still in the intervention period" and the
report's CONSORT counts use the same instant. The snapshot takes no write lock: trainees keep
answering while a report is built, on SQLite as on PostgreSQL.

Files, locks and pruning
------------------------
Each study has a folder per output (its slug, percent-encoded). One ``fcntl.flock`` per study,
output and variant (``a4.lock``, ``itt.lock``: a bounded set, never deleted, so no process can
lock a file another has just removed) makes one process build while the others wait and then
read what it wrote. Files are written under a temporary name and moved into place with
``os.replace``, so a reader sees the whole old file or the whole new one. After each write the
variant's files beyond the newest :data:`KEEP` are removed. Removing is safe while another
process reads: on Linux ``unlink`` removes the name, and a process that has the file open keeps
reading it until it closes it; a process that finds the name gone before opening it treats that
as a miss and builds.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy
from sqlalchemy import Select, Table, func, select, text
from sqlalchemy.orm import Session

from instruments import Library
from study.database import read_snapshot
from study.models import (
    UNREPORTED,
    UNREPORTED_COLUMNS,
    Allocation,
    ResponseStatus,
    Study,
    read_version,
    utcnow,
)
from study.models.base import Base

if TYPE_CHECKING:
    from study.services.analysis_service import Outcome

# Rows fetched from the driver per chunk while hashing.
CHUNK = 5000
# Files kept per study, output and variant (the newest by modification time).
KEEP = 2
# What the fingerprint reads: the packages' own files, not their bytecode.
FINGERPRINT_SKIP = ("__pycache__",)


def _scoped_queries(study_id: int) -> list[tuple[str, Select]]:  # type: ignore[type-arg]
    """A query per table for the study's rows, following foreign keys down from ``studies``."""
    scoped: dict[str, Select] = {}  # type: ignore[type-arg]
    tables: list[Table] = list(Base.metadata.sorted_tables)
    for table in tables:
        if table.name in UNREPORTED:
            continue
        skipped = UNREPORTED_COLUMNS.get(table.name, frozenset())
        columns = [column for column in table.c if column.name not in skipped]
        order = list(table.primary_key.columns)
        query = select(*columns).order_by(*order)
        if table.name == "studies":
            scoped[table.name] = query.where(table.c.id == study_id)
            continue
        if table.name == "responses":  # submitted questionnaires only (the module docstring)
            query = query.where(table.c.status == ResponseStatus.SUBMITTED)
        if "study_id" in table.c:
            scoped[table.name] = query.where(table.c.study_id == study_id)
            continue
        for key in table.foreign_keys:
            parent = key.column.table.name
            if parent in scoped:
                ids = scoped[parent].with_only_columns(key.column).order_by(None)
                scoped[table.name] = query.where(key.parent.in_(ids))
                break
        else:
            # Not tied to one study (instrument catalogue and the like): all of it, to stay correct.
            scoped[table.name] = query
    return list(scoped.items())


def data_version(session: Session) -> str | None:
    """The data version the session's transaction sees (``study.models.data_version``).

    None where the database has none (not yet migrated to revision 0015).
    """
    return read_version(session.connection())


def data_digest(session: Session, study: Study, *,
                instance_path: str | Path | None = None) -> str:
    """SHA-256 of the rows of ``study`` that any cached output can print (module docstring).

    With ``instance_path``, the digest is remembered in ``cache/digests/<slug>.json`` with the
    data version it was computed at, and given again without hashing while the version and
    the code that defines the digest are unchanged. The version and the rows are read in the
    session's transaction, so they describe one state of the data where that transaction sees
    one snapshot (``read_snapshot``); where it may not (PostgreSQL's READ COMMITTED), a digest
    is reused but never remembered.
    """
    version = data_version(session)
    if instance_path is None or version is None:
        return _hash_rows(session, study)
    path = cache_dir(instance_path, "digests") / f"{_folder_name(study.slug)}.json"
    known = {"study": study.id, "version": version, "code": _digest_fingerprint(session)}
    remembered = _read_json(path)
    if remembered is not None and all(remembered.get(k) == v for k, v in known.items()):
        return str(remembered["digest"])
    digest = _hash_rows(session, study)
    if _reads_one_snapshot(session):
        write_atomically(path, json.dumps({**known, "digest": digest}).encode())
    return digest


def _hash_rows(session: Session, study: Study) -> str:
    digest = hashlib.sha256()
    for name, query in _scoped_queries(study.id):
        digest.update(f"\x1e{name}\n".encode())
        for rows in driver_chunks(session, query):
            digest.update(repr(rows).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _digest_fingerprint(session: Session) -> str:
    """What defines the digest: the ``study`` package (models, scoping) and the driver's repr."""
    import study

    dialect = session.get_bind().dialect
    driver = getattr(dialect.dbapi, "__version__", "")
    return combine(_fingerprint((Path(study.__file__ or "").parent.resolve(),)),
                   platform.python_version(), sqlalchemy.__version__, dialect.driver, driver)


def _reads_one_snapshot(session: Session) -> bool:
    """Whether every statement of the transaction sees the state its first one saw.

    Always on SQLite; on PostgreSQL only above READ COMMITTED (``read_snapshot`` asks for
    REPEATABLE READ), where a digest hashed over several statements could mix states and must
    not be remembered under the version read by the first.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return True
    level = connection.execute(text("SHOW transaction_isolation")).scalar()
    return level in ("repeatable read", "serializable")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def write_atomically(path: Path, body: bytes) -> None:
    """Write ``body`` to ``path`` under a temporary name, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def driver_chunks(session: Session, query: Select,  # type: ignore[type-arg]
                  size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """The rows of ``query`` as the database driver returns them (tuples), ``size`` at a time.

    The driver's own cursor, not SQLAlchemy's result: no Row objects and no type conversion
    (stored values: the key hashes those; a few columns of ids and texts need none), and on
    PostgreSQL a server-side cursor, so that the rows are never all in memory at once. The
    query's parameters must be plain values that SQLAlchemy can render into the SQL (ids,
    constants): they are, as ``literal_binds``.
    """
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver = connection.connection.dbapi_connection
    assert driver is not None
    cursor = (driver.cursor(name="allport_cache_key") if connection.dialect.name == "postgresql"
              else driver.cursor())
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(size):
            yield rows
    finally:
        cursor.close()


def _fingerprinted_files(roots: Iterable[Path]) -> list[Path]:
    files = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files += [path for path in root.rglob("*") if path.is_file()
                      and not any(part in FINGERPRINT_SKIP for part in path.parts)]
    return sorted(files)


@functools.cache
def _fingerprint(roots: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for path in _fingerprinted_files(roots):
        digest.update(f"\x1e{path}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_fingerprint(templates: str | Path, wording: str | Path | None = None) -> str:
    """SHA-256 of the code and definitions that make the outputs, computed once per process.

    Every file of the ``analysis``, ``instruments`` and ``study`` packages (their Python,
    instrument definitions and the bundle's R script), the report templates in ``templates``
    (``templates/reports``) and the site's supplied wording in ``wording``.
    """
    import analysis
    import instruments
    import study

    packages = (Path(module.__file__ or "").parent for module in (analysis, instruments, study))
    roots = (*packages, Path(templates))
    if wording is not None:
        roots = (*roots, Path(wording))
    return _fingerprint(tuple(root.resolve() for root in roots))


def app_code_fingerprint() -> str:
    """:func:`code_fingerprint` of the running app (its templates and its site's wording)."""
    from flask import current_app

    from instruments.library import site_wording_dir

    templates = Path(current_app.root_path, current_app.template_folder or "templates",
                     "reports")
    return code_fingerprint(templates, site_wording_dir(current_app.instance_path))


def in_progress_allocations(session: Session, study: Study,
                            now: datetime | None = None) -> int:
    """Allocations still inside the study's intervention period at ``now`` (CONSORT's clock)."""
    since = (now or utcnow()) - timedelta(days=study.intervention_period_days or 0)
    return session.scalar(select(func.count()).select_from(Allocation).where(
        Allocation.study_id == study.id, Allocation.allocated_at > since)) or 0


def combine(*parts: Any) -> str:
    """A key from several parts (strings, numbers, mappings), in order."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def cache_key(session: Session, study: Study, *, paper: str, versions: dict[str, str],
              now: datetime | None = None, instance_path: str | Path | None = None) -> str:
    """The SHA-256 naming ``study``'s cached report on ``paper`` at ``now`` (module docstring).

    ``instance_path``: where the data digest is remembered (:func:`data_digest`).
    """
    digest = data_digest(session, study, instance_path=instance_path)
    return combine("report", paper, digest, app_code_fingerprint(),
                   versions, in_progress_allocations(session, study, now))


def analysis_key(session: Session, study: Study, *, population: str,
                 versions: dict[str, str], instance_path: str | Path | None = None) -> str:
    """The SHA-256 naming ``study``'s cached analysis of ``population`` (as :func:`cache_key`)."""
    digest = data_digest(session, study, instance_path=instance_path)
    return combine("analysis", population, digest, app_code_fingerprint(), versions)


def cache_dir(instance_path: str | Path, output: str = "reports") -> Path:
    """Where cached outputs of one kind live: ``<instance>/cache/<output>``."""
    return Path(instance_path) / "cache" / output


def _folder_name(slug: str) -> str:
    name = quote(slug, safe="")
    return "%2E" + name[1:] if name.startswith(".") else name


@dataclass(frozen=True)
class Entry:
    """One cached file: ``<directory>/<study slug>/<variant>-<key><suffix>``."""

    directory: Path
    slug: str
    variant: str
    key: str
    suffix: str

    @property
    def folder(self) -> Path:
        return self.directory / _folder_name(self.slug)

    @property
    def path(self) -> Path:
        return self.folder / f"{self.variant}-{self.key}{self.suffix}"

    def read(self) -> bytes | None:
        """The cached bytes, or None when there are none (never written, or pruned)."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def store(self, body: bytes) -> None:
        """Write ``body`` atomically (a temporary file, then ``os.replace``), then prune."""
        write_atomically(self.path, body)
        self.prune()

    def prune(self) -> None:
        """Remove this variant's files beyond the newest :data:`KEEP` (safe for readers)."""
        pattern = f"{self.variant}-" + "[0-9a-f]" * 64 + self.suffix
        found = []
        for path in self.folder.glob(pattern):
            try:
                found.append((path.stat().st_mtime_ns, path.name != self.path.name, path))
            except FileNotFoundError:  # pruned by another process meanwhile
                continue
        found.sort(key=lambda entry: (-entry[0], entry[1]))
        for _, _, path in found[KEEP:]:
            if path != self.path:
                path.unlink(missing_ok=True)

    def fetch(self, build: Callable[[], bytes]) -> bytes:
        """The cached bytes, built once by ``build`` if missing.

        Callers that find the lock held wait for it, then read what the holder wrote.
        ``build`` must make what the key names: read the snapshot the key was computed from.
        """
        cached = self.read()
        if cached is not None:
            return cached
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{self.variant}.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                cached = self.read()  # built while this caller waited
                if cached is not None:
                    return cached
                body = build()
                self.store(body)
                return body
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def report_pdf(session: Session, study: Study, library: Library, *, paper: str,
               instance_path: str | Path, refresh: bool = False) -> bytes:
    """``study``'s report as PDF, from the cache while its data are unchanged since the last build.

    ``refresh`` rebuilds the report and replaces the cached copy (the CLI does, so that it always
    prints the data of now and leaves the web a fresh copy).
    """
    from study.services import report

    if paper not in report.PAPERS:
        raise report.ReportUnavailable(
            f"paper must be one of {', '.join(report.PAPERS)}, not {paper!r}.")
    versions = report.software_versions()
    now = utcnow()
    with read_snapshot(session):  # the key and the build read the same data (module docstring)
        entry = Entry(cache_dir(instance_path), study.slug, paper,
                      cache_key(session, study, paper=paper, versions=versions, now=now,
                                instance_path=instance_path), ".pdf")

        def build() -> bytes:
            return report.build_report(session, study, library, paper=paper, now=now)

        if refresh:
            pdf = build()
            entry.store(pdf)
            return pdf
        return entry.fetch(build)


@dataclass(frozen=True)
class CachedAnalysis:
    """One population's analysis as the analysis page and the API show it.

    ``result`` and ``outcomes`` hold the outcomes asked for (all by default); ``plots`` the
    interaction plot of each of them as SVG, ``None`` where drawing it failed, absent where the
    outcome could not be analysed.
    """

    result: dict[str, Any]
    outcomes: list[Outcome]
    labels: dict[str, str]
    reference_arm: str
    plots: dict[str, str | None]


def _analysis_file(session: Session, study: Study, library: Library, population: str) -> bytes:
    """The whole analysis of ``population`` with its plots, as the cached file's JSON."""
    from flask import current_app

    from study.services.analysis_service import NothingToAnalyse, analyse_population

    try:
        done = analyse_population(session, study, library, population)
    except NothingToAnalyse as error:
        return json.dumps({"problem": str(error)}).encode()
    plots: dict[str, str | None] = {}
    for outcome in done.outcomes:
        if "error" in done.result["outcomes"][outcome.name]:
            continue
        try:
            plots[outcome.name] = done.plot_svg(outcome.name)
        except Exception as error:  # noqa: BLE001 - a plot that fails leaves the numbers standing
            current_app.logger.warning("interaction plot of %s failed: %s", outcome.name, error)
            plots[outcome.name] = None
    return json.dumps({"result": done.result, "labels": done.labels,
                       "reference_arm": done.reference_arm, "plots": plots}).encode()


def cached_analysis(session: Session, study: Study, library: Library, *,
                    population: str | None, outcomes: Sequence[str] | None,
                    instance_path: str | Path) -> CachedAnalysis:
    """The analysis page's and the API's analysis, from the cache while the data are unchanged.

    Computes :func:`~study.services.analysis_service.run_analysis`'s figures for every outcome
    of the population (the plan's primary one by default) and keeps them with their plots; the
    outcomes asked for are then chosen from the whole result, as ``run_analysis`` chooses them.

    Raises
    ------
    AnalysisRequestError
        An unknown population or outcome.
    NothingToAnalyse
        Nothing to analyse in this population (this answer is cached too).
    """
    from study.services import report
    from study.services.analysis_service import (
        NothingToAnalyse,
        check_request,
        select_outcomes,
        study_outcomes,
    )

    chosen = check_request(session, study, library, population=population, outcomes=outcomes)
    versions = report.software_versions()
    with read_snapshot(session):  # the key and the analysis read the same data
        entry = Entry(cache_dir(instance_path, "analysis"), study.slug, chosen.key,
                      analysis_key(session, study, population=chosen.key, versions=versions,
                                   instance_path=instance_path),
                      ".json")
        stored = json.loads(entry.fetch(
            lambda: _analysis_file(session, study, library, chosen.key)))
    if "problem" in stored:
        raise NothingToAnalyse(stored["problem"])
    result = select_outcomes(stored["result"], outcomes)
    selected = [o for o in study_outcomes(study, library) if o.name in result["outcomes"]]
    return CachedAnalysis(result=result, outcomes=selected, labels=stored["labels"],
                          reference_arm=stored["reference_arm"],
                          plots={o.name: stored["plots"][o.name] for o in selected
                                 if o.name in stored["plots"]})
