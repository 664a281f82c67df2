"""The end-of-trial commands (DESIGN §7): ``close-recruitment``, ``lock-data``, ``unblind``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from study.cli import commit_or_explain, database_command, fail
from study.extensions import db
from study.services import trial
from study.services.studies import get_study


@click.command("close-recruitment")
@with_appcontext
@database_command
@click.argument("study_slug")
def close_recruitment_command(study_slug: str) -> None:
    """End recruitment of STUDY: no new trainees are consented or allocated."""
    with commit_or_explain():
        trial.close_recruitment(db.session, get_study(db.session, study_slug), actor="cli")
    click.echo(f"Recruitment of study {study_slug!r} is closed.")


@click.command("lock-data")
@with_appcontext
@database_command
@click.argument("study_slug")
def lock_data_command(study_slug: str) -> None:
    """Close STUDY's post and follow-up windows and lock its data (needed before unblinding)."""
    with commit_or_explain():
        trial.lock_data(db.session, get_study(db.session, study_slug), actor="cli")
    click.echo(f"The data of study {study_slug!r} are locked: no more answers are stored.")


@click.command("unblind")
@with_appcontext
@database_command
@click.argument("study_slug")
@click.option("--reason", required=True, help="Why the study is unblinded (audited).")
@click.option("--confirm", "confirm", required=True, metavar="STUDY",
              help="The study's slug typed again, to confirm.")
def unblind_command(study_slug: str, reason: str, confirm: str) -> None:
    """Unblind STUDY: real arm names everywhere from now on. Needs a frozen plan, locked data."""
    if confirm != study_slug:
        fail(f"--confirm {confirm!r} does not match the study {study_slug!r}; nothing changed.")
    with commit_or_explain():
        trial.unblind(db.session, get_study(db.session, study_slug), reason=reason, actor="cli")
    click.echo(f"Study {study_slug!r} is unblinded; the audit trail records the reason.")
