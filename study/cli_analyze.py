"""``flask analyze``: the two-arm pre/post analysis of DESIGN §6, of a CSV or a study, as JSON.

This module imports nothing but click at its top, and the command builds the app only for
``--study``: a CSV is analysed by :mod:`analysis` alone, without the blueprints, the models, the
instrument library or the database engine (issue 14 item 6: the whole ``analyze`` process at
most 0.2 x R's time). ``pyproject.toml`` registers the command as a ``flask.commands`` plugin as
well, which the ``flask`` CLI finds before it loads the app, so ``flask --app app analyze CSV``
never calls ``create_app``; the app registers the same command (``study.cli.register``), so it
is there, only slower, in an environment installed before the plugin entry existed, and under
the app's test runner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click


@contextmanager
def _app_context() -> Iterator[None]:
    """The app's context, building the app as ``flask.cli.with_appcontext`` does when none is."""
    from flask import current_app
    from flask.cli import ScriptInfo

    if current_app:
        yield
        return
    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    with app.app_context():
        yield


def _study_analysis(study_slug: str, control: str | None,
                    population: str | None) -> dict[str, Any]:
    """``run_analysis`` of the study's live data, inside the app (which this builds if need be)."""
    with _app_context():
        from study.cli import explained, require_schema
        from study.extensions import db, instrument_library
        from study.services.analysis_service import run_analysis
        from study.services.studies import get_study

        with explained():
            require_schema()
            study = get_study(db.session, study_slug)
            return run_analysis(db.session, study, instrument_library(), population=population,
                                control_arm=control).result


@click.command("analyze")
@click.argument("csv_path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--study", "study_slug", help="Analyse a study's live data instead of a CSV.")
@click.option("--control", default=None,
              help="The control arm (default: education; a study's own control arm, or Arm A "
                   "while it is blinded).")
@click.option("--population", type=click.Choice(["itt", "per_protocol"]), default=None,
              help="With --study: the plan's primary population (default), or the other one "
                   "as a sensitivity analysis.")
@click.option("--covariate", "covariates", multiple=True, metavar="NAME",
              help="With a CSV: a baseline covariate column (constant within each participant) "
                   "that every ANCOVA adjusts for; repeat for several. A study's covariates come "
                   "from its analysis plan.")
@click.option("--json", "json_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Where to write the result.")
def analyze_command(csv_path: Path | None, study_slug: str | None, control: str | None,
                    population: str | None, covariates: tuple[str, ...], json_path: Path) -> None:
    """The two-arm pre/post analysis of DESIGN §6, as JSON."""
    import analysis

    if (csv_path is None) == (study_slug is None):
        raise click.ClickException("Give either a CSV file or --study SLUG (not both).")
    if csv_path is not None and population is not None:
        raise click.ClickException(
            "--population chooses participants of a study; a CSV is analysed as it is.")
    if study_slug is not None and covariates:
        raise click.ClickException(
            "--covariate names columns of a CSV; a study's covariates are its analysis plan's.")
    try:
        if csv_path is not None:
            frame = analysis.load_long_csv(csv_path)
            result = analysis.analyze(frame, control_arm=control or "education",
                                      covariates=list(covariates) or None)
            result["sap"] = None  # a CSV comes with no analysis plan (DESIGN §6)
        else:
            result = _study_analysis(study_slug or "", control, population)
    except analysis.AnalysisInputError as error:
        raise click.ClickException(str(error)) from None
    try:
        json_path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    except OSError as error:
        raise click.ClickException(f"Cannot write {json_path}: {error.strerror}.") from None
    problems = [name for name, entry in result.get("outcomes", {}).items() if "error" in entry]
    click.echo(f"Wrote {json_path} ({len(result.get('outcomes', {}))} outcomes"
               + (f"; not analysable: {', '.join(problems)}" if problems else "") + ").")
