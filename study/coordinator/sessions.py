"""Contact sessions: schedule, change or cancel with notice to the booked trainees, attendance.

Moved here from ``views.py``; the facilitator registry is in ``facilitators.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from study import audit, mail
from study.auth.access import study_role_required
from study.coordinator.blueprint import bp
from study.coordinator.forms import AttendanceForm, ScheduleSessionForm
from study.coordinator.session_forms import EditSessionForm
from study.errors import DomainError, NotAllowed
from study.extensions import db
from study.forms import ActionForm
from study.models import (
    Booking,
    Cohort,
    ContactSession,
    Facilitator,
    MessageKind,
    Participant,
    Role,
    Study,
)
from study.services import contact, facilitators, session_notices
from study.services.session_notices import NoticeReport
from study.views import require_button, write_or_explain


def _sessions_page(study: Study, form: ScheduleSessionForm, status: int = 200) -> Any:
    rows = db.session.execute(
        select(ContactSession, func.count(Booking.id))
        .join(Booking, Booking.session_id == ContactSession.id, isouter=True)
        .where(ContactSession.study_id == study.id)
        .group_by(ContactSession.id)
        .order_by(ContactSession.starts_at)
    ).all()
    return render_template("coordinator/sessions.html", study=study, rows=rows, form=form,
                           cancel_form=ActionForm(prefix="cancel"),
                           lapsing=_lapsing(study)), status


def _lapsing(study: Study) -> list[tuple[Facilitator, facilitators.Standing]]:
    """Active facilitators whose certification has lapsed or lapses within the warning days."""
    rows: list[tuple[Facilitator, facilitators.Standing]] = []
    for facilitator in db.session.scalars(
            select(Facilitator).where(Facilitator.study_id == study.id, Facilitator.active)
            .order_by(Facilitator.certified_until)):
        standing = facilitators.standing(facilitator)
        if standing in (facilitators.Standing.LAPSING, facilitators.Standing.LAPSED):
            rows.append((facilitator, standing))
    return rows


def _facilitator_choices(study: Study, current: Facilitator | None = None) -> list[SelectChoice]:
    query = select(Facilitator).where(Facilitator.study_id == study.id)
    choices = []
    for f in db.session.scalars(query.order_by(Facilitator.display_name)):
        if not f.active and f is not current:
            continue
        note = "deactivated" if not f.active else f"certified until {f.certified_until:%d %b %Y}"
        choices.append(SelectChoice(f.id, f"{f.display_name} ({note})"))
    return choices


def _schedule_form(study: Study) -> ScheduleSessionForm:
    form = ScheduleSessionForm()
    form.cohort_id.choices = [SelectChoice(c.id, c.name) for c in study.cohorts]
    form.facilitator_id.choices = _facilitator_choices(study)
    return form


def _facilitator_of(study: Study, facilitator_id: int | None) -> Facilitator:
    facilitator = db.session.get(Facilitator, facilitator_id)
    if facilitator is None or facilitator.study_id != study.id:
        abort(404)
    return facilitator


def _session_of(study: Study, session_id: int) -> ContactSession:
    contact_session = db.session.get(ContactSession, session_id)
    if contact_session is None or contact_session.study_id != study.id:
        abort(404)
    return contact_session


@bp.route("/<slug>/sessions", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def sessions(study: Study) -> Any:
    """The study's sessions with their bookings and lapse warnings; the form to schedule one."""
    form = _schedule_form(study)
    if not form.validate_on_submit():
        return _sessions_page(study, form, 422 if request.method == "POST" else 200)
    cohort = db.session.get(Cohort, form.cohort_id.data)
    if cohort is None or cohort.study_id != study.id:
        abort(404)
    facilitator = _facilitator_of(study, form.facilitator_id.data)
    starts_at = datetime.combine(form.starts_on.data, form.starts_at.data, tzinfo=UTC)
    with write_or_explain(beside={contact.SessionInThePast: form.starts_on,
                                  DomainError: form.facilitator_id}) as attempt:
        contact.schedule_session(db.session, cohort=cohort, facilitator=facilitator,
                                 starts_at=starts_at, capacity=form.capacity.data or 0,
                                 location=form.location.data or "",
                                 duration_minutes=form.duration_minutes.data or 90,
                                 actor=audit.actor_for(user=current_user))
        attempt.done("The session is scheduled; trainees of the cohort can book it now.")
    if attempt.refused:
        return _sessions_page(study, form, 422)
    return redirect(url_for("coordinator.sessions", slug=study.slug), code=303)


def _notify(study: Study, contact_session: ContactSession, participants: list[Participant],
            kind: MessageKind, changes: list[str] | None = None) -> NoticeReport:
    """Email the trainees who were booked; a mail server out of reach leaves them listed."""
    actor = audit.actor_for(user=current_user)

    def link_for(token: str) -> str:
        return url_for("trainee.start", token=token, _external=True)

    def body(link: str | None) -> str:
        if kind is MessageKind.SESSION_CHANGED:
            return session_notices.changed_body(study, contact_session, changes or [], link)
        return session_notices.cancelled_body(study, contact_session, link)

    try:
        with mail.mailer() as mailer:
            return session_notices.send_notices(db.session, mailer, contact_session,
                                                participants, kind, body=body,
                                                link_for=link_for, actor=actor)
    except mail.MailError as error:
        return session_notices.send_notices(db.session, None, contact_session, participants,
                                            kind, body=body, link_for=link_for, actor=actor,
                                            mail_problem=str(error))


def _notify_and_log(study: Study, contact_session: ContactSession,
                    participants: list[Participant], kind: MessageKind,
                    changes: list[str] | None = None) -> NoticeReport:
    """:func:`_notify` after the change was committed; the sent messages are then committed."""
    report = NoticeReport()
    with write_or_explain():
        report = _notify(study, contact_session, participants, kind, changes)
    return report


@bp.route("/<slug>/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def edit_session(study: Study, session_id: int) -> Any:
    """Move or change a session that has not started; the booked trainees are told by email."""
    contact_session = _session_of(study, session_id)
    if request.method == "GET":
        form = EditSessionForm(
            data={"facilitator_id": contact_session.facilitator_id,
                  "starts_on": contact_session.starts_at.date(),
                  "starts_at": contact_session.starts_at.time(),
                  "duration_minutes": contact_session.duration_minutes,
                  "capacity": contact_session.capacity, "location": contact_session.location})
    else:
        form = EditSessionForm()
    form.facilitator_id.choices = _facilitator_choices(study, contact_session.facilitator)
    booked = contact.booked_participants(db.session, contact_session)
    status = 200
    if form.validate_on_submit():
        plan = contact.SessionPlan(
            starts_at=datetime.combine(form.starts_on.data, form.starts_at.data, tzinfo=UTC),
            duration_minutes=form.duration_minutes.data or 90,
            location=form.location.data or "", capacity=form.capacity.data or 0,
            facilitator=_facilitator_of(study, form.facilitator_id.data))
        with write_or_explain(beside={contact.SessionInThePast: form.starts_on,
                                      contact.CapacityBelowBookings: form.capacity,
                                      contact.FacilitatorNotCertified: form.facilitator_id}
                              ) as attempt:
            changes = contact.edit_session(db.session, contact_session, plan,
                                           actor=audit.actor_for(user=current_user))
        if not attempt.refused:
            # The change is committed before anyone is emailed: a trainee is never told of a
            # change that was then not saved.
            report = (_notify_and_log(study, contact_session, booked,
                                      MessageKind.SESSION_CHANGED, changes)
                      if changes and booked else NoticeReport())
            flash("The session is saved. " + report.summary() if changes
                  else "Nothing was changed.", "warning" if report.not_notified else "success")
        if not attempt.refused or not form.errors:
            return redirect(url_for("coordinator.sessions", slug=study.slug), code=303)
        status = 422
    elif request.method == "POST":
        status = 422
    return render_template("coordinator/session_edit.html", study=study, form=form,
                           session=contact_session, booked=booked), status


@bp.post("/<slug>/sessions/<int:session_id>/cancel")
@study_role_required(Role.COORDINATOR)
def cancel_session(study: Study, session_id: int) -> Any:
    """Cancel a session: its bookings are released and the booked trainees told by email."""
    contact_session = _session_of(study, session_id)
    require_button("cancel")
    booked = contact.booked_participants(db.session, contact_session)
    with write_or_explain() as attempt:
        released = contact.cancel_session(db.session, contact_session,
                                          actor=audit.actor_for(user=current_user))
    if not attempt.refused:
        report = (_notify_and_log(study, contact_session, booked,
                                  MessageKind.SESSION_CANCELLED)
                  if released else NoticeReport())
        flash(f"The session is cancelled; {released} booking(s) released, so those trainees "
              "can book another session. " + report.summary(),
              "warning" if report.not_notified else "success")
    return redirect(url_for("coordinator.sessions", slug=study.slug), code=303)


RECORDED = {True: "yes", False: "no", None: None}


@bp.route("/<slug>/sessions/<int:session_id>", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def attendance(study: Study, session_id: int) -> Any:
    """The roster, marked in one form: attended or not (no-show), and minutes, per trainee.

    Rows left blank are left as they are. Nothing is saved unless every marked row is valid;
    the errors are shown beside their rows with everything typed kept. A POST naming one
    ``booking_id`` saves that row only.
    """
    contact_session = _session_of(study, session_id)
    bookings = list(db.session.scalars(
        select(Booking).where(Booking.session_id == contact_session.id)
        .join(Participant).order_by(Participant.code)))
    forms = {b.id: AttendanceForm(prefix=f"b{b.id}", attended=RECORDED[b.attended],
                                  minutes_attended=b.minutes_attended,
                                  duration=contact_session.duration_minutes)
             for b in bookings}
    status = 200
    if request.method == "POST":
        if not ActionForm().validate_on_submit():
            abort(400, description="The form expired; please reload the page and try again.")
        marked = _marked_rows(bookings)
        if marked is None:
            abort(404)
        if _record(study, contact_session, [(b, forms[b.id]) for b in marked]):
            return redirect(url_for("coordinator.attendance", slug=study.slug,
                                    session_id=session_id), code=303)
        status = 422
    return render_template("coordinator/attendance.html", study=study, session=contact_session,
                           bookings=bookings, forms=forms,
                           held=contact_session.facilitator.certification_covers(
                               contact_session.starts_at.date())), status


def _marked_rows(bookings: list[Booking]) -> list[Booking] | None:
    """The bookings the POST says something about (None: it names a booking not on the roster)."""
    if "booking_id" in request.form:
        booking_id = request.form.get("booking_id", type=int)
        chosen = [b for b in bookings if b.id == booking_id]
        return chosen or None
    return [b for b in bookings
            if request.form.get(f"b{b.id}-attended") or request.form.get(
                f"b{b.id}-minutes_attended", "").strip()]


def _record(study: Study, contact_session: ContactSession,
            rows: list[tuple[Booking, AttendanceForm]]) -> bool:
    """Save every marked row or none; True when saved. Errors go beside their rows."""
    if not rows:
        flash("Nothing to save: mark attended or did not attend for at least one trainee.",
              "error")
        return False
    valid = [form.validate() for _, form in rows]
    if not all(valid):
        return False
    with write_or_explain() as attempt:
        refused = 0
        for booking, form in rows:
            try:
                with db.session.begin_nested():
                    contact.record_attendance(db.session, booking, form.attended.data == "yes",
                                              user=current_user,
                                              minutes=form.minutes_attended.data)
            except DomainError as error:
                field = (form.minutes_attended if isinstance(error, contact.MinutesOutOfRange)
                         else form.attended)
                field.errors = [str(error)]
                refused += 1
        if refused:
            raise NotAllowed(f"Nothing was saved: {refused} row(s) need attention (see "
                             "beside each trainee).")
        codes = ", ".join(booking.participant.code for booking, _ in rows)
        attempt.done(f"Attendance saved for {codes}.")
    return not attempt.refused
