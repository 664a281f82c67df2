"""``flask --app app send-reminders`` (DESIGN §7): the reminders, for cron."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import with_appcontext

from study.cli import base_url, database_command, explained, fail
from study.extensions import db
from study.models import Study, utcnow
from study.services import reminders
from study.services.studies import get_study


def parse_moment(value: str) -> datetime:
    """An ISO 8601 date or date and time; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--as-of {value!r} is not an ISO 8601 date and time "
             "(for example 2027-03-01T09:00 or 2027-03-01T09:00+01:00).")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.command("send-reminders")
@with_appcontext
@database_command
@click.option("--study", "study_slug", help="Only this study (default: every recruiting study "
              "and every closed one whose data are not locked).")
@click.option("--dry-run", is_flag=True, help="Say who would be reminded; send and store nothing.")
@click.option("--as-of", "as_of", metavar="DATETIME",
              help="Evaluate the windows and the interval at this moment (ISO 8601; UTC without "
                   "an offset) instead of now; a run that sends records this moment.")
def send_reminders_command(study_slug: str | None, dry_run: bool, as_of: str | None) -> None:
    """Email every stalled trainee whose window is open and whose reminder is due."""
    now = parse_moment(as_of) if as_of is not None else utcnow()
    studies: list[Study]
    with explained():
        studies = ([get_study(db.session, study_slug)] if study_slug is not None
                   else reminders.reminding_studies(db.session))
    slugs = [study.slug for study in studies]
    root = base_url(None)
    failures = []
    for slug in slugs:
        study = get_study(db.session, slug)  # afresh: the previous study's run committed
        run = reminders.send_reminders(db.session, study, now=now, dry_run=dry_run,
                                       link_for=lambda token: f"{root}/t/{token}", actor="cli")
        db.session.rollback()  # a dry run read only; a real run has committed what it sent
        verb = "would be sent" if dry_run else "sent"
        for code, step in run.sent:
            click.echo(f"{slug}: {code} {reminders.STEP_LABELS[step].lower()} ({verb})")
        for code, step in run.refused:
            click.echo(f"{slug}: {code} {reminders.STEP_LABELS[step].lower()} (address refused)")
        where = " to the outbox (no mail server is configured)" \
            if run.via == "outbox" and run.sent and not dry_run else ""
        click.echo(f"{slug}: {len(run.sent)} reminder(s) {verb}{where}; {run.stalled} trainee(s) "
                   f"stalled, {run.not_due} not due yet, {run.no_email} without an email "
                   f"address" + (f", {len(run.refused)} address(es) refused" if run.refused
                                 else "") + ".")
        if run.error:
            failures.append(f"{slug}: {run.error} {run.unsent} reminder(s) not sent.")
    if not slugs:
        click.echo("No study is recruiting or running: nobody to remind.")
    if failures:
        fail(" ".join(failures))
