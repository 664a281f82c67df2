"""Command-line interface (DESIGN §7). Each command commits once, at its end."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from study.errors import DomainError
from study.extensions import db
from study.extensions import instrument_library as library

if TYPE_CHECKING:
    from study.models import Cohort, Study


def fail(message: str) -> NoReturn:
    """One readable line and a non-zero exit, never a traceback."""
    raise click.ClickException(message)


@contextmanager
def explained(*also: type[Exception]) -> Iterator[None]:
    """End the command with the message of a DomainError (or of ``also``) raised in the block."""
    caught: tuple[type[Exception], ...] = (DomainError, *also)
    try:
        yield
    except caught as error:
        fail(str(error))


@contextmanager
def commit_or_explain() -> Iterator[None]:
    """The command's one commit, when the block succeeds; a DomainError commits nothing.

    Print what the command did after the block, so nothing is reported that was not stored.
    """
    with explained():
        yield
    db.session.commit()


def require_schema() -> None:
    """Stop with one line when the database cannot be reached or has no tables yet."""
    url = db.engine.url.render_as_string(hide_password=True)
    try:
        with db.engine.connect() as connection:
            ready = inspect(connection).has_table("studies")
    except OperationalError as error:
        fail(f"Cannot reach the database {url}: {str(error.orig).strip().splitlines()[0]}")
    if not ready:
        fail(f"The database {url} has no Allport tables yet: run flask --app app init-db first.")


def database_command(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command that needs the schema: checked first, so misuse never ends in a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        require_schema()
        return command(*args, **kwargs)

    return wrapper


def base_url(option: str | None) -> str:
    """The public address trainee links start with: ``--base-url``, else ``BASE_URL``."""
    url = option or current_app.config.get("BASE_URL") or "http://127.0.0.1:5000"
    return url.rstrip("/")


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or migrate the schema of the configured database (idempotent)."""
    from study.migrate import upgrade

    try:
        upgrade(current_app)
    except OperationalError as error:
        url = db.engine.url.render_as_string(hide_password=True)
        fail(f"Cannot reach the database {url}: {str(error.orig).strip().splitlines()[0]}")
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("demo")
@with_appcontext
@database_command
@click.option("--trainees", default=40, show_default=True, type=click.IntRange(0, 100_000),
              help="How many trainees --simulate walks through the study.")
@click.option("--simulate", is_flag=True, help="Also fill complete journeys with realistic data.")
@click.option("--credentials-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the demo staff logins (default: instance/demo-logins.txt).")
def demo_command(trainees: int, simulate: bool, credentials_file: Path | None) -> None:
    """Seed the demo study, open for recruitment; print the staff logins."""
    from study.services import demo

    credentials_file = credentials_file or Path(current_app.instance_path) / "demo-logins.txt"
    if demo.demo_exists(db.session):
        click.echo("Study 'demo' exists already.")
    else:
        accounts = demo.seed_demo(db.session, library())
        db.session.commit()
        lines = [f"{role:<12} {email}  password: {password}" for role, (email, password) in (
            ("admin", accounts.admin), ("coordinator", accounts.coordinator),
            ("researcher", accounts.researcher))]
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        click.echo("Created study 'demo', open for recruitment. Staff logins "
                   f"(also in {credentials_file}):")
        click.echo("\n".join("  " + line for line in lines))
    if simulate and trainees:
        completed = demo.simulate_journeys(db.session, library(), trainees)
        db.session.commit()
        click.echo(f"Simulated {trainees} trainees ({completed} reached the post questionnaire).")


@click.command("invite")
@with_appcontext
@database_command
@click.argument("study_slug")
@click.option("--cohort", "cohort_name",
              help="Cohort name (default: the study's only cohort; with --emails, the cohort "
                   "of rows that name none).")
@click.option("--count", type=int, help="How many invitations to create (links printed).")
@click.option("--emails", "emails_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A CSV file with the header email (optional external_id, cohort): one "
                   "invitation per row, each emailed.")
@click.option("--base-url", "base_url_option",
              help="Public address of this server (default: ALLPORT_BASE_URL).")
def invite_command(study_slug: str, cohort_name: str | None, count: int | None,
                   emails_file: Path | None, base_url_option: str | None) -> None:
    """Create COUNT invitations and print their links, or email one to each row of --emails."""
    from study.services import invitations
    from study.services.studies import get_study

    if (count is None) == (emails_file is None):
        fail("Give exactly one of --count N and --emails FILE.csv.")
    if count is not None and count < 1:
        fail("--count must be at least 1.")
    with explained():
        study = get_study(db.session, study_slug)
    cohort: Cohort | None = None
    if cohort_name is not None:
        cohort = next((c for c in study.cohorts if c.name == cohort_name), None)
        if cohort is None:
            fail(f"Study {study_slug!r} has no cohort named {cohort_name!r}.")
    elif len(study.cohorts) == 1:
        cohort = study.cohorts[0]
    elif count is not None and not study.cohorts:
        fail(f"Study {study_slug!r} has no cohort yet; add one on the coordinator's Cohorts page.")
    elif count is not None:
        names = ", ".join(c.name for c in study.cohorts)
        fail(f"Study {study_slug!r} has several cohorts; choose one with --cohort ({names}).")
    root = base_url(base_url_option)
    if emails_file is not None:
        _invite_by_email(study, emails_file, cohort, root)
        return
    assert cohort is not None and count is not None
    with commit_or_explain():
        issued = invitations.invite(db.session, study, cohort, count, actor="cli")
    for invitation in issued:
        click.echo(f"{root}/t/{invitation.token}")


def _invite_by_email(study: Study, path: Path, cohort: Cohort | None, root: str) -> None:
    """The spreadsheet's invitations, created and committed, then emailed; a summary printed."""
    from study.services import invitations

    try:
        data = path.read_bytes()
    except OSError as error:
        fail(f"Cannot read {path}: {error.strerror}.")
    try:
        text = invitations.decode_spreadsheet(data)
        invitees = invitations.read_invitees(db.session, study, text, default_cohort=cohort)
    except invitations.InvitationFileRefused as refusal:
        for problem in refusal.problems:
            click.echo(f"{path}: {problem}", err=True)
        fail(str(refusal))
    with commit_or_explain():
        invited = invitations.invite_invitees(db.session, study, invitees, actor="cli")
    outcome = invitations.email_invitations(db.session, study, invited, base_url=root,
                                            actor="cli")
    db.session.commit()
    click.echo(f"Invited {len(invited)} trainee(s) to study {study.slug}.")
    if outcome.sent:
        where = "written to the outbox " + str(current_app.instance_path) + "/outbox" \
            if outcome.via == "outbox" else "sent to the mail server"
        click.echo(f"{len(outcome.sent)} invitation email(s) {where}.")
    if outcome.not_sent:
        for trainee, reason in outcome.not_sent:
            click.echo(f"Not emailed: {trainee.participant.code} {trainee.email}: {reason}",
                       err=True)
        fail(f"{len(outcome.not_sent)} invitation email(s) were not sent; the invitations "
             "exist: resend them from each trainee's page in the coordinator's console.")


@click.command("export")
@with_appcontext
@database_command
@click.argument("study_slug")
@click.option("--table", required=True,
              type=click.Choice(["allocations", "scores", "responses", "participants"]))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export_command(study_slug: str, table: str, out: Path) -> None:
    """Write a de-identified CSV table of a study."""
    from study.services import exports
    from study.services.studies import get_study

    with commit_or_explain():
        study = get_study(db.session, study_slug)
        body = exports.export_csv(db.session, study, table, library(), actor="cli")
        try:
            out.write_text(body, encoding="utf-8")
        except OSError as error:
            fail(f"Cannot write {out}: {error.strerror}.")
    click.echo(f"Wrote {body.count(chr(10)) - 1} rows to {out}.")


def register(app: Flask) -> None:
    """Add every Allport command to ``flask``."""
    # The other command modules use this one's helpers, so they are imported only here.
    from study.cli_analyze import analyze_command
    from study.cli_instruments import instruments_cli
    from study.cli_reminders import send_reminders_command
    from study.cli_report import report_command
    from study.cli_sap import sap_cli
    from study.cli_sequence import verify_sequence_command
    from study.cli_staff import staff_commands
    from study.cli_study import study_cli
    from study.cli_trial import close_recruitment_command, lock_data_command, unblind_command

    for command in (init_db_command, demo_command, invite_command, export_command,
                    analyze_command, *staff_commands, sap_cli, verify_sequence_command,
                    close_recruitment_command, lock_data_command, unblind_command,
                    instruments_cli, report_command, study_cli, send_reminders_command):
        app.cli.add_command(command)
