"""The coordinator's reminders page: stalled trainees, and a button that reminds the due ones.

The list names each trainee's step, which for "booking a contact session" shows their arm, as
a trainee's own page does; it gives no count per step, which would tally the arms while
recruiting (DESIGN §4): only the totals are counted.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from study import audit, mail
from study.auth.access import study_role_required
from study.coordinator.blueprint import bp
from study.extensions import db
from study.forms import ActionForm
from study.models import Role, Study, utcnow
from study.services import reminders
from study.views import require_button

PER_PAGE = 100


@bp.get("/<slug>/reminders")
@study_role_required(Role.COORDINATOR)
def reminders_page(study: Study) -> Any:
    """The stalled trainees, due reminders first, a hundred to a page."""
    stalled = reminders.stalled_trainees(db.session, study, now=utcnow())
    last_page = max(1, -(-len(stalled) // PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int), 1), last_page)
    return render_template(
        "coordinator/reminders.html", study=study, rows=stalled[(page - 1) * PER_PAGE:
                                                              page * PER_PAGE],
        total=len(stalled), due=sum(1 for t in stalled if t.due), page=page,
        last_page=last_page, send_form=ActionForm(prefix="send"),
        mail_server=mail.configured(current_app.config))


@bp.post("/<slug>/reminders/send")
@study_role_required(Role.COORDINATOR)
def send_reminders(study: Study) -> Any:
    """Remind every trainee due now, as ``send-reminders`` would, and say how it went."""
    require_button("send")
    run = reminders.send_reminders(
        db.session, study, now=utcnow(), dry_run=False, actor=audit.actor_for(user=current_user),
        link_for=lambda token: url_for("trainee.start", token=token, _external=True))
    flash(*outcome(run))
    return redirect(url_for("coordinator.reminders_page", slug=study.slug), code=303)


def outcome(run: reminders.ReminderRun) -> tuple[str, str]:
    """What the coordinator is told after pressing the button, and the flash category."""
    sent = len(run.sent)
    if run.via == "outbox":
        done = (f"{sent} reminder(s) went to the outbox: no mail server is configured, so "
                "nothing was emailed (an administrator sets ALLPORT_MAIL_SERVER).")
    else:
        done = f"{sent} reminder(s) sent."
    if run.refused:
        done += (f" The mail server refused {len(run.refused)} address(es): "
                 f"{', '.join(code for code, _ in run.refused)}.")
    if run.error:
        return (f"{done} Then the mail server failed: {run.error} {run.unsent} reminder(s) "
                "were not sent; they stay due.", "error")
    if not sent and not run.refused:
        return "No reminder was due: nothing was sent.", "info"
    return done, "warning" if run.refused else "success"
