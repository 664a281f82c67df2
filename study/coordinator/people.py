"""The coordinator's cohorts, invitations by email, and each trainee's links.

Invitations from a spreadsheet are created and committed first, then emailed: a mail server
that fails midway leaves working invitations, and the page names the emails that were not sent
so that they can be resent from the trainee's page.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from wtforms.fields.choices import SelectChoice

from study import audit, mail
from study.auth.access import study_role_required
from study.coordinator.blueprint import bp
from study.coordinator.people_forms import CohortForm, InviteByEmailForm
from study.coordinator.views import _participant, _participant_page
from study.errors import DomainError
from study.extensions import db
from study.forms import ActionForm
from study.models import Cohort, Participant, ParticipantContact, Role, Study
from study.services import cohorts, invitations
from study.services.allocation import lock_participant
from study.views import require_button, write_or_explain

PER_PAGE = 50
OUTBOX_SHOWN = 20


def _actor() -> str:
    return audit.actor_for(user=current_user)


def _base_url() -> str:
    """Where trainee links point: ``BASE_URL`` when set, else the address this page was asked at."""
    return str(current_app.config.get("BASE_URL") or request.host_url).rstrip("/")


# --- cohorts ---------------------------------------------------------------------------------


def _cohort(study: Study, cohort_id: int) -> Cohort:
    cohort = db.session.get(Cohort, cohort_id)
    if cohort is None or cohort.study_id != study.id:
        abort(404)
    return cohort


def _cohorts_page(study: Study, form: CohortForm, status: int = 200) -> Any:
    return render_template("coordinator/cohorts.html", study=study, form=form,
                           cohorts=sorted(study.cohorts, key=lambda c: c.created_at),
                           counts=cohorts.cohort_counts(db.session, study),
                           button=ActionForm()), status


def _cohort_fields(form: CohortForm) -> dict[str, Any]:
    return {"name": form.name.data or "", "site": form.site.data or "",
            "starts_on": form.starts_on.data, "ends_on": form.ends_on.data}


def _beside(form: CohortForm) -> dict[type[DomainError], Any]:
    return {cohorts.CohortDatesOutOfOrder: form.ends_on, DomainError: form.name}


@bp.route("/<slug>/cohorts", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def cohort_list(study: Study) -> Any:
    """The study's cohorts with their counts, pooled over the arms; a form for a new one."""
    form = CohortForm()
    if not form.validate_on_submit():
        return _cohorts_page(study, form, 422 if request.method == "POST" else 200)
    with write_or_explain(beside=_beside(form)) as attempt:
        cohort = cohorts.create_cohort(db.session, study, **_cohort_fields(form), actor=_actor())
        attempt.done(f"Cohort {cohort.name} is open for invitations.")
    if attempt.refused:
        return _cohorts_page(study, form, 422)
    return redirect(url_for("coordinator.cohort_list", slug=study.slug), code=303)


@bp.route("/<slug>/cohorts/<int:cohort_id>", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def cohort_edit(study: Study, cohort_id: int) -> Any:
    """Rename a cohort or change its site and dates."""
    cohort = _cohort(study, cohort_id)
    form = CohortForm(obj=cohort)
    if form.validate_on_submit():
        with write_or_explain(beside=_beside(form)) as attempt:
            cohorts.update_cohort(db.session, cohort, **_cohort_fields(form), actor=_actor())
            attempt.done(f"Cohort {form.name.data} is saved.")
        if not attempt.refused:
            return redirect(url_for("coordinator.cohort_list", slug=study.slug), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("coordinator/cohort.html", study=study, cohort=cohort,
                           form=form), status


@bp.post("/<slug>/cohorts/<int:cohort_id>/close")
@study_role_required(Role.COORDINATOR)
def cohort_close(study: Study, cohort_id: int) -> Any:
    """Stop new invitations to a cohort; its trainees carry on."""
    cohort = _cohort(study, cohort_id)
    require_button()
    with write_or_explain() as attempt:
        cohorts.close_cohort(db.session, cohort, actor=_actor())
        attempt.done(f"Cohort {cohort.name} is closed: it takes no new invitations; its "
                     "trainees carry on. Reopen it if this was a mistake.")
    return redirect(url_for("coordinator.cohort_list", slug=study.slug), code=303)


@bp.post("/<slug>/cohorts/<int:cohort_id>/reopen")
@study_role_required(Role.COORDINATOR)
def cohort_reopen(study: Study, cohort_id: int) -> Any:
    """Undo a closing: the cohort takes invitations again."""
    cohort = _cohort(study, cohort_id)
    require_button()
    with write_or_explain() as attempt:
        cohorts.reopen_cohort(db.session, cohort, actor=_actor())
        attempt.done(f"Cohort {cohort.name} takes invitations again.")
    return redirect(url_for("coordinator.cohort_list", slug=study.slug), code=303)


# --- invitations by email --------------------------------------------------------------------


def _invite_form(study: Study) -> InviteByEmailForm:
    form = InviteByEmailForm()
    open_cohorts = [c for c in study.cohorts if c.closed_at is None]
    form.cohort_id.choices = [SelectChoice("", "None: every row names its cohort"),
                              *(SelectChoice(str(c.id), c.name) for c in open_cohorts)]
    if request.method == "GET" and len(open_cohorts) == 1:
        form.cohort_id.data = str(open_cohorts[0].id)
    return form


def _outbox(study: Study) -> list[mail.OutboxMessage] | None:
    """The newest outbox messages to this study's trainees; None when a mail server is set.

    The outbox is the instance's, shared by every study: only messages to addresses of this
    study's trainees are shown, so a coordinator never reads another study's invitations.
    """
    if mail.configured(current_app.config):
        return None
    addresses = set(db.session.scalars(
        select(func.lower(ParticipantContact.email))
        .join(Participant, Participant.id == ParticipantContact.participant_id)
        .where(Participant.study_id == study.id)))
    return [message for message in mail.outbox(current_app.instance_path, limit=500)
            if message.to.lower() in addresses][:OUTBOX_SHOWN]


def _invite_page(study: Study, form: InviteByEmailForm, status: int = 200, *,
                 problems: list[invitations.RowProblem] | None = None,
                 outcome: invitations.EmailOutcome | None = None) -> Any:
    return render_template("coordinator/invite_emails.html", study=study, form=form,
                           problems=problems or [], outcome=outcome, outbox=_outbox(study),
                           mail_server=current_app.config.get("MAIL_SERVER")), status


def _spreadsheet(form: InviteByEmailForm) -> str | None:
    """The pasted or uploaded text; None (with the error beside the field) when there is none."""
    upload = form.upload.data
    pasted = (form.emails.data or "").strip()
    if isinstance(upload, FileStorage) and upload.filename:
        if pasted:
            form.emails.errors = ["Paste the spreadsheet or choose a file, not both."]
            return None
        return invitations.decode_spreadsheet(upload.read(invitations.MAX_FILE_BYTES + 1))
    if not pasted:
        form.emails.errors = ["Paste the spreadsheet, or choose a CSV file below."]
        return None
    return form.emails.data or ""


@bp.route("/<slug>/invitations/emails", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def invite_emails(study: Study) -> Any:
    """Invite trainees from a spreadsheet and email each their link; the outbox, if no server."""
    form = _invite_form(study)
    if not form.validate_on_submit():
        return _invite_page(study, form, 422 if request.method == "POST" else 200)
    default = _cohort(study, int(form.cohort_id.data)) if form.cohort_id.data else None
    try:
        text = _spreadsheet(form)
        if text is None:
            return _invite_page(study, form, 422)
        invitees = invitations.read_invitees(db.session, study, text, default_cohort=default)
    except invitations.InvitationFileRefused as refusal:
        form.emails.errors = [str(refusal)]
        return _invite_page(study, form, 422, problems=refusal.problems)
    with write_or_explain(beside=form.emails) as attempt:
        invited = invitations.invite_invitees(db.session, study, invitees, actor=_actor())
    if attempt.refused:
        return _invite_page(study, form, 422)
    outcome = invitations.email_invitations(db.session, study, invited, base_url=_base_url(),
                                            actor=_actor())
    db.session.commit()
    return _invite_page(study, _invite_form(study), outcome=outcome)


@bp.get("/<slug>/invited")
@study_role_required(Role.COORDINATOR)
def invited(study: Study) -> Any:
    """Every trainee of the study, newest first: cohort, email, status, last email sent."""
    total = db.session.scalar(
        select(func.count(Participant.id)).where(Participant.study_id == study.id)) or 0
    last_page = max(1, -(-total // PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int), 1), last_page)
    participants = list(db.session.scalars(
        select(Participant).where(Participant.study_id == study.id)
        .order_by(Participant.id.desc()).offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
    return render_template("coordinator/invited.html", study=study, participants=participants,
                           contacts=invitations.contact_summaries(db.session, participants),
                           page=page, last_page=last_page, total=total)


# --- one trainee's links ---------------------------------------------------------------------


def _back(study: Study, code: str) -> Any:
    return redirect(url_for("coordinator.participant", slug=study.slug, code=code), code=303)


@bp.post("/<slug>/participants/<code>/resend")
@study_role_required(Role.COORDINATOR)
def resend_invitation(study: Study, code: str) -> Any:
    """Email the invitation again with a new link; the links already sent keep working."""
    require_button()  # before the row lock: a forged or replayed form takes no lock
    participant = lock_participant(db.session, _participant(study, code).id)
    with write_or_explain() as attempt:
        address = invitations.resend(db.session, participant, base_url=_base_url(),
                                     actor=_actor())
        attempt.done(f"The invitation is sent again to {address}, with a new link.")
    return _back(study, code)


@bp.post("/<slug>/participants/<code>/revoke")
@study_role_required(Role.COORDINATOR)
def revoke_links(study: Study, code: str) -> Any:
    """Make every link of the trainee stop working (they can be given a new one)."""
    require_button()  # before the row lock: a forged or replayed form takes no lock
    participant = lock_participant(db.session, _participant(study, code).id)
    with write_or_explain() as attempt:
        invitations.revoke(db.session, participant, actor=_actor())
        attempt.done(f"Every link of {code} has stopped working. Resend the invitation or copy "
                     "a link to let them in again.")
    return _back(study, code)


@bp.post("/<slug>/participants/<code>/copy-link")
@study_role_required(Role.COORDINATOR)
def copy_link(study: Study, code: str) -> Any:
    """One more live link, shown once, for the coordinator to pass on themselves."""
    require_button()  # before the row lock: a forged or replayed form takes no lock
    participant = lock_participant(db.session, _participant(study, code).id)
    with write_or_explain() as attempt:
        token = invitations.copy_link(db.session, participant, actor=_actor())
    if attempt.refused:
        return _back(study, code)
    return _participant_page(study, participant,
                             copied_link=invitations.trainee_link(_base_url(), token))
