"""The coordinator's pages: studies with live counts, invitations, trainees.

Contact sessions and attendance are in ``sessions.py``, the facilitator registry in
``facilitators.py``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from study import audit
from study.auth.access import studies_for, study_role_required
from study.coordinator import dashboard
from study.coordinator.blueprint import bp
from study.coordinator.forms import (
    IneligibleForm,
    InviteForm,
    LostForm,
    StaffWithdrawForm,
)
from study.extensions import db
from study.forms import ActionForm
from study.models import (
    AuditEvent,
    Cohort,
    Participant,
    ParticipantStatus,
    Role,
    Study,
    WithdrawalReason,
)
from study.plan_page import render_plan_page
from study.services import contact, invitations, journey, progress
from study.services.allocation import existing_allocation, lock_participant
from study.views import require_button, write_or_explain


@bp.get("/")
@login_required
def index() -> Any:
    studies = studies_for(current_user, Role.COORDINATOR)
    overview = [(s, progress.coordinator_progress(db.session, s)) for s in studies]
    return render_template("coordinator/index.html", overview=overview,
                           journey_rows=progress.journey_rows, exit_rows=progress.exit_rows)


@bp.get("/<slug>/")
@study_role_required(Role.COORDINATOR)
def overview(study: Study) -> Any:
    cohort = _cohort_filter(study)
    counts = progress.coordinator_progress(db.session, study)
    per_page = 50
    in_scope = [Participant.study_id == study.id]
    if cohort is not None:
        in_scope.append(Participant.cohort_id == cohort.id)
    # Clamped to the pages there are: a huge ?page= would overflow the database's OFFSET.
    listed = db.session.scalar(select(func.count()).select_from(Participant).where(*in_scope))
    last_page = max(1, -(-(listed or 0) // per_page))
    page = min(max(request.args.get("page", 1, type=int), 1), last_page)
    participants = list(db.session.scalars(
        select(Participant).where(*in_scope)
        .order_by(Participant.status_changed_at.desc()).offset((page - 1) * per_page)
        .limit(per_page)))
    return render_template("coordinator/overview.html", study=study, counts=counts,
                           participants=participants, page=page, cohort=cohort,
                           dashboard=dashboard.dashboard(db.session, study, cohort),
                           has_more=page < last_page,
                           journey_rows=progress.journey_rows, exit_rows=progress.exit_rows)


def _cohort_filter(study: Study) -> Cohort | None:
    """The cohort ``?cohort=`` names, None for all; a cohort of another study is a 404."""
    if not request.args.get("cohort"):
        return None
    cohort_id = request.args.get("cohort", type=int)
    # Beyond a 64-bit integer the driver would overflow: no such cohort, as for URL ids.
    known = cohort_id is not None and 0 < cohort_id < 2**63
    cohort = db.session.get(Cohort, cohort_id) if known else None
    if cohort is None or cohort.study_id != study.id:
        abort(404)
    return cohort


@bp.get("/<slug>/plan")
@study_role_required(Role.COORDINATOR)
def plan(study: Study) -> Any:
    return render_plan_page(study, nav="coordinator/_study_nav.html")


@bp.route("/<slug>/invitations", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def invite(study: Study) -> Any:
    form = InviteForm()
    form.cohort_id.choices = [SelectChoice(c.id, c.name) for c in study.cohorts]
    links: list[tuple[str, str]] = []
    if form.validate_on_submit():
        cohort = db.session.get(Cohort, form.cohort_id.data)
        if cohort is None or cohort.study_id != study.id:
            abort(404)
        with write_or_explain(beside=form.count) as attempt:
            issued = invitations.invite(db.session, study, cohort, form.count.data or 0,
                                        actor=audit.actor_for(user=current_user))
        if not attempt.refused:
            links = [(i.participant.code, url_for("trainee.start", token=i.token, _external=True))
                     for i in issued]
    status = 422 if form.errors else 200
    return render_template("coordinator/invite.html", study=study, form=form,
                           links=links), status


def _participant(study: Study, code: str) -> Participant:
    participant = db.session.scalars(
        select(Participant).where(Participant.study_id == study.id, Participant.code == code)
    ).first()
    if participant is None:
        abort(404)
    return participant


# Who may be marked lost to follow-up: trainees allocated and not yet finished.
LOSABLE = {ParticipantStatus.ALLOCATED, ParticipantStatus.INTERVENTION_DONE,
           ParticipantStatus.POST_DONE}


def _participant_page(study: Study, participant: Participant, *, status: int = 200,
                      withdraw_form: StaffWithdrawForm | None = None, new_link: str | None = None,
                      lost_form: LostForm | None = None,
                      ineligible_form: IneligibleForm | None = None,
                      copied_link: str | None = None) -> Any:
    events = list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.participant_code == participant.code)
        .order_by(AuditEvent.at, AuditEvent.id)))
    allocation = existing_allocation(db.session, participant)
    return render_template(
        "coordinator/participant.html", study=study, participant=participant, events=events,
        allocation=allocation, booking=contact.booking_of(db.session, participant),
        withdrawal_reason=db.session.get(WithdrawalReason, participant.id),
        step=journey.next_step(db.session, participant),
        link_form=ActionForm(prefix="link"), lost_form=lost_form or LostForm(prefix="lost"),
        withdraw_form=withdraw_form or StaffWithdrawForm(prefix="withdraw"),
        ineligible_form=ineligible_form or IneligibleForm(prefix="ineligible"),
        can_be_lost=participant.status in LOSABLE,
        can_be_ineligible=participant.status is ParticipantStatus.CONSENTED, new_link=new_link,
        contact=invitations.contact_summaries(db.session, [participant])[participant.id],
        copied_link=copied_link,
    ), status


@bp.get("/<slug>/participants/<code>")
@study_role_required(Role.COORDINATOR)
def participant(study: Study, code: str) -> Any:
    return _participant_page(study, _participant(study, code))


@bp.post("/<slug>/participants/<code>/link")
@study_role_required(Role.COORDINATOR)
def new_link(study: Study, code: str) -> Any:
    """Give a trainee who lost their link a new one; the old one stops working."""
    participant = lock_participant(db.session, _participant(study, code).id)
    require_button("link")
    with write_or_explain() as attempt:
        token = invitations.reissue(db.session, participant,
                                    actor=audit.actor_for(user=current_user))
    if attempt.refused:
        return redirect(url_for("coordinator.participant", slug=study.slug, code=code), code=303)
    return _participant_page(study, participant,
                             new_link=url_for("trainee.start", token=token, _external=True))


@bp.post("/<slug>/participants/<code>/withdraw")
@study_role_required(Role.COORDINATOR)
def withdraw(study: Study, code: str) -> Any:
    participant = lock_participant(db.session, _participant(study, code).id)
    form = StaffWithdrawForm(prefix="withdraw")
    if not form.validate_on_submit():
        return _participant_page(study, participant, status=422, withdraw_form=form)
    with write_or_explain() as attempt:
        journey.withdraw(db.session, participant, actor=audit.actor_for(user=current_user),
                         reason=form.reason.data or "")
        attempt.done(f"{participant.code} is withdrawn; their data follow the consent they "
                     "gave.")
    return redirect(url_for("coordinator.participant", slug=study.slug, code=code), code=303)


@bp.post("/<slug>/participants/<code>/lost")
@study_role_required(Role.COORDINATOR)
def lost(study: Study, code: str) -> Any:
    participant = lock_participant(db.session, _participant(study, code).id)
    form = LostForm(prefix="lost")
    if not form.validate_on_submit():
        return _participant_page(study, participant, status=422, lost_form=form)
    with write_or_explain() as attempt:
        journey.mark_lost(db.session, participant, actor=audit.actor_for(user=current_user),
                          category=form.category.data or "")
        attempt.done(f"{participant.code} is recorded as lost to follow-up.")
    return redirect(url_for("coordinator.participant", slug=study.slug, code=code), code=303)


@bp.post("/<slug>/participants/<code>/ineligible")
@study_role_required(Role.COORDINATOR)
def ineligible(study: Study, code: str) -> Any:
    participant = lock_participant(db.session, _participant(study, code).id)
    form = IneligibleForm(prefix="ineligible")
    if not form.validate_on_submit():
        return _participant_page(study, participant, status=422, ineligible_form=form)
    with write_or_explain() as attempt:
        journey.mark_ineligible(db.session, participant,
                                actor=audit.actor_for(user=current_user),
                                category=form.category.data or "")
        attempt.done(f"{participant.code} is excluded before allocation.")
    return redirect(url_for("coordinator.participant", slug=study.slug, code=code), code=303)
