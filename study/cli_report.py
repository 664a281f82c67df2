"""The ``report`` command (DESIGN §7, §12): a study's PDF report written to a file."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from study import audit
from study.cli import database_command, explained, fail
from study.extensions import db
from study.extensions import instrument_library as library


@click.command("report")
@with_appcontext
@database_command
@click.argument("study_slug")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PDF.")
@click.option("--paper", type=click.Choice(["a4", "letter"]), default="a4", show_default=True)
@click.option("--bundle", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the reproducibility bundle (data, analysis JSON, plan, R script).")
@click.option("--cached", is_flag=True,
              help="Reuse the cached report when the data have not changed since it was built.")
def report_command(study_slug: str, out: Path, paper: str, bundle: Path | None,
                   cached: bool) -> None:
    """Write STUDY's report (CONSORT diagram, baseline, analysis, delivery, methods) as PDF.

    By default the report is rebuilt and the cache the web pages serve is refreshed with it.
    """
    from study.services.bundle import build_bundle
    from study.services.report_cache import report_pdf
    from study.services.studies import get_study

    started = time.perf_counter()
    with explained():
        study = get_study(db.session, study_slug)
        pdf = report_pdf(db.session, study, library(), paper=paper,
                         instance_path=current_app.instance_path, refresh=not cached)
        # Who took which report away, as for the web and API downloads (DESIGN §8); kept only
        # once the files are written (the commit below).
        audit.record(db.session, "export", actor="cli", study=study, table="report",
                     format="pdf", paper=paper, sha256=hashlib.sha256(pdf).hexdigest())
        zipped = (build_bundle(db.session, study, library(), actor="cli")
                  if bundle is not None else None)
    written = [(out, pdf)] + ([(bundle, zipped)] if bundle is not None and zipped else [])
    for path, body in written:
        try:
            path.write_bytes(body)
        except OSError as error:
            fail(f"Cannot write {path}: {error.strerror}.")
    db.session.commit()  # the report's and the bundle's downloads in the audit trail
    for path, body in written:
        click.echo(f"Wrote {path} ({len(body) // 1024} KiB).")
    click.echo(f"Done in {time.perf_counter() - started:.1f} s.")
