"""The rendered study report cached as files under ``<instance>/cache/reports/`` (issue 10).

The key is a SHA-256 of everything the PDF depends on, computed without running the analysis:
every row of every table that holds the study's data (the study itself, its arms, time points,
plans, participants, allocations, responses, answers, bookings, progress...), read in primary-key
order, plus the paper size and the versions of Python and of the packages that build the report.
No table has an ``updated_at``, so counts and maximum ids would miss an edited row (a withdrawal,
a corrected answer, unblinding); reading the rows costs a few SQL scans instead, still far below the
analysis and WeasyPrint, and any change of data, plan or blinding changes the key. The price: a
change to a row the report does not print (a booking's note) also rebuilds it. Staff, API tokens
and the audit log are left out, so a download never invalidates its own cache.

A cached PDF keeps the snapshot date of the build that wrote it: it is the report of data that
have not changed since. Concurrency: one ``fcntl.flock`` per key, so one host builds each report
once however many requests ask; the others wait on the lock and read the file. Files are written
to a temporary name and moved into place with ``os.replace``. Nothing here writes to the database.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Select, Table, select
from sqlalchemy.orm import Session

from instruments import Library
from study.models import Study
from study.models.base import Base

# Tables outside the report: staff accounts, their tokens (touched by every API call) and the log.
UNREPORTED = frozenset({"users", "memberships", "api_tokens", "audit_events"})
# Bumped whenever the cached file's meaning changes without a package version changing.
CACHE_FORMAT = "1"


def _scoped_queries(study_id: int) -> list[tuple[str, Select]]:  # type: ignore[type-arg]
    """A query per table for the study's rows, following foreign keys down from ``studies``."""
    scoped: dict[str, Select] = {}  # type: ignore[type-arg]
    tables: list[Table] = list(Base.metadata.sorted_tables)
    for table in tables:
        if table.name in UNREPORTED:
            continue
        order = list(table.primary_key.columns)
        if table.name == "studies":
            scoped[table.name] = select(table).where(table.c.id == study_id).order_by(*order)
            continue
        if "study_id" in table.c:
            scoped[table.name] = select(table).where(
                table.c.study_id == study_id).order_by(*order)
            continue
        for key in table.foreign_keys:
            parent = key.column.table.name
            if parent in scoped:
                ids = scoped[parent].with_only_columns(key.column).order_by(None)
                scoped[table.name] = select(table).where(key.parent.in_(ids)).order_by(*order)
                break
        else:
            # Not tied to one study (instrument catalogue and the like): all of it, to stay correct.
            scoped[table.name] = select(table).order_by(*order)
    return list(scoped.items())


def cache_key(session: Session, study: Study, *, paper: str, versions: dict[str, str]) -> str:
    """The SHA-256 naming ``study``'s cached report: its data, ``paper`` and ``versions``."""
    digest = hashlib.sha256()
    digest.update(f"format={CACHE_FORMAT}\npaper={paper}\n".encode())
    for name, version in sorted(versions.items()):
        digest.update(f"{name}={version}\n".encode())
    for name, query in _scoped_queries(study.id):
        digest.update(f"\x1e{name}\n".encode())
        for row in session.execute(query):
            digest.update(repr(tuple(row)).encode("utf-8"))
            digest.update(b"\n")
    return digest.hexdigest()


def cache_dir(instance_path: str | Path) -> Path:
    """Where cached reports live: ``<instance>/cache/reports``."""
    return Path(instance_path) / "cache" / "reports"


def cached_pdf(directory: Path, key: str, build: Callable[[], bytes]) -> bytes:
    """The PDF stored under ``key`` in ``directory``, built once by ``build`` if missing.

    Callers that find the lock held wait for it, then read what the holder wrote.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{key}.pdf"
    if target.exists():
        return target.read_bytes()
    with open(directory / f"{key}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if target.exists():  # built while this caller waited
                return target.read_bytes()
            pdf = build()
            store(directory, key, pdf)
            return pdf
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def store(directory: Path, key: str, pdf: bytes) -> None:
    """Write ``pdf`` under ``key`` atomically: a temporary file, then ``os.replace``."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pdf)
        os.replace(temporary, directory / f"{key}.pdf")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
    key = cache_key(session, study, paper=paper, versions=report.software_versions())
    directory = cache_dir(instance_path)
    if refresh:
        pdf = report.build_report(session, study, library, paper=paper)
        store(directory, key, pdf)
        return pdf
    return cached_pdf(directory, key,
                      lambda: report.build_report(session, study, library, paper=paper))
