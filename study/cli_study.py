"""``flask --app app study create|export|copy``: studies from and to study files (DESIGN §7).

``create`` makes a draft study from a study file (``docs/study-file.example.yaml``); a file with
problems prints one line per problem (``FILE: path: message``), exits 1 and creates nothing.
``export`` writes a study's file; ``copy`` makes a draft copy of a study's design.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from study import audit
from study.cli import commit_or_explain, database_command, explained, fail
from study.extensions import db
from study.extensions import instrument_library as library
from study.models import Study, User
from study.services import staff, study_file
from study.services.studies import copy_study, get_study

study_cli = AppGroup("study", help="Create a study from a study file, export one, copy one.")

AS_HELP = "A staff account (email) who becomes a coordinator of the new study."


def _account(email: str | None) -> User | None:
    if email is None:
        return None
    with explained():
        return staff.get_account(db.session, email)


def _make_coordinator(user: User | None, study: Study) -> None:
    if user is not None:
        staff.grant_role(db.session, user, "coordinator", study, actor="cli")


def _actor(user: User | None) -> str:
    return audit.actor_for(user=user) if user is not None else "cli"


@study_cli.command("create")
@database_command
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "as_email", metavar="EMAIL", help=AS_HELP)
def create_command(file: Path, as_email: str | None) -> None:
    """Create a draft study from a study file (YAML)."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        fail(f"Cannot read {file}: {error.strerror}.")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text.")
    user = _account(as_email)
    try:
        study = study_file.create(db.session, text, library(), actor=_actor(user))
    except study_file.StudyFileError as error:
        db.session.rollback()
        for problem in error.problems:
            click.echo(f"{file}: {problem}", err=True)
        raise SystemExit(1) from None
    with commit_or_explain():
        _make_coordinator(user, study)
    who = f"; {user.email} is its coordinator" if user is not None else ""
    click.echo(f"Created the draft study {study.slug!r} ({study.title}){who}.")


@study_cli.command("export")
@database_command
@click.argument("study_slug")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the file (default: print it).")
def export_command(study_slug: str, out: Path | None) -> None:
    """Write STUDY's design as a study file (YAML)."""
    with explained():
        study = get_study(db.session, study_slug)
    text = study_file.dump(study)
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        fail(f"Cannot write {out}: {error.strerror}.")
    click.echo(f"Wrote the study file of {study.slug!r} to {out}.")


@study_cli.command("copy")
@database_command
@click.argument("study_slug")
@click.argument("new_slug")
@click.option("--title", help="The new study's title (default: the study's, with '(copy)').")
@click.option("--cohorts", is_flag=True, help="Also copy the cohorts' names and sites.")
@click.option("--as", "as_email", metavar="EMAIL", help=AS_HELP)
def copy_command(study_slug: str, new_slug: str, title: str | None, cohorts: bool,
                 as_email: str | None) -> None:
    """Copy STUDY's design as the draft NEW_SLUG: no trainees, allocations, seed or audit."""
    user = _account(as_email)
    with commit_or_explain():
        study = get_study(db.session, study_slug)
        copy = copy_study(db.session, study, new_slug, title or f"{study.title} (copy)",
                          library=library(), actor=_actor(user), cohorts=cohorts)
        _make_coordinator(user, copy)
    click.echo(f"Copied {study.slug!r} as the draft study {copy.slug!r} ({copy.title}).")
