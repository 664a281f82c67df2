"""The coordinator's fidelity pages (DESIGN §13).

A study's session fidelity and supervision, a session's fidelity checklist, a facilitator's
supervision records.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from study.auth.access import study_role_required
from study.coordinator.blueprint import bp
from study.coordinator.fidelity_forms import SupervisionForm
from study.extensions import db
from study.extensions import instrument_library as library
from study.models import (
    ContactSession,
    Facilitator,
    Role,
    Study,
    SupervisionRecord,
    SupervisorKind,
    User,
)
from study.services import fidelity
from study.services.sap import current_plan
from study.trainee.forms import answers_from, field_name, questionnaire_form
from study.views import write_or_explain


def _threshold(study: Study) -> float | None:
    """The per-protocol rule's fidelity threshold in the study's current plan, if it sets one."""
    plan = current_plan(db.session, study)
    if plan is None:
        return None
    rule = plan.plan.get("populations", {}).get("per_protocol")
    return fidelity.plan_threshold(rule if isinstance(rule, dict) else None)


@bp.get("/<slug>/fidelity")
@study_role_required(Role.COORDINATOR)
def fidelity_overview(study: Study) -> Any:
    """Every session with its fidelity, every facilitator with certification and supervision."""
    planned = _threshold(study)
    return render_template("coordinator/fidelity.html", study=study,
                           data=fidelity.study_fidelity(db.session, study, planned),
                           planned=planned, labels=fidelity.MEASURE_LABELS)


def _contact_session(study: Study, session_id: int) -> ContactSession:
    contact_session = db.session.get(ContactSession, session_id)
    if contact_session is None or contact_session.study_id != study.id:
        abort(404)
    return contact_session


@bp.route("/<slug>/sessions/<int:session_id>/fidelity", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def session_fidelity(study: Study, session_id: int) -> Any:
    """The session's checklist (pre-filled with its current rating) and its earlier ratings."""
    contact_session = _contact_session(study, session_id)
    checklist = fidelity.instrument(library())
    history = fidelity.rating_history(db.session, contact_session)
    current = next((r for r in history if r.superseded_at is None), None)
    held = fidelity.is_held(contact_session)
    form = questionnaire_form(checklist.items, formdata=request.form or None,
                              answers=current.answers if current else None)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            with write_or_explain() as attempt:
                fidelity.rate_session(db.session, contact_session,
                                      answers_from(form, checklist.items), rater=current_user,
                                      library=library())
                attempt.done("The fidelity rating is saved." if current is None else
                             "The new fidelity rating is saved; the earlier one is kept as "
                             "superseded.")
            if not attempt.refused:
                return redirect(url_for("coordinator.session_fidelity", slug=study.slug,
                                        session_id=session_id), code=303)
        status = 422
    raters = {u.id: u.email for u in db.session.scalars(
        select(User).where(User.id.in_({r.rater_id for r in history})))}
    return render_template(
        "coordinator/session_fidelity.html", study=study, session=contact_session,
        checklist=checklist, form=form, field_name=field_name, history=history, current=current,
        held=held, raters=raters, threshold=_threshold(study) or fidelity.DEFAULT_THRESHOLD,
    ), status


@bp.route("/<slug>/facilitators/<int:facilitator_id>/supervision", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def supervision(study: Study, facilitator_id: int) -> Any:
    """A facilitator's supervision records and the form to add one."""
    facilitator = db.session.get(Facilitator, facilitator_id)
    if facilitator is None or facilitator.study_id != study.id:
        abort(404)
    form = SupervisionForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            kind = SupervisorKind(form.supervisor_kind.data)
            registered = (facilitator.clinical_supervisor if kind is SupervisorKind.CLINICAL
                          else facilitator.peer_supervisor)
            name = (form.supervisor.data or "").strip() or registered
            if not name:
                form.supervisor.errors = [f"This facilitator has no {kind.value} supervisor "
                                          "registered: enter the supervisor's name."]
            else:
                assert form.held_on.data is not None  # InputRequired
                with write_or_explain(beside={fidelity.SupervisionInFuture: form.held_on,
                                              fidelity.InvalidSupervision: form.role_fidelity}
                                      ) as attempt:
                    fidelity.record_supervision(
                        db.session, facilitator, held_on=form.held_on.data, kind=kind,
                        supervisor=name, role_fidelity=form.role_fidelity.data,
                        risk_oversight=form.risk_oversight.data,
                        reflective_practice=form.reflective_practice.data,
                        notes=form.notes.data or "", user=current_user)
                    attempt.done("The supervision record is saved.")
                if not attempt.refused:
                    return redirect(url_for("coordinator.supervision", slug=study.slug,
                                            facilitator_id=facilitator_id), code=303)
        status = 422
    records = list(db.session.scalars(
        select(SupervisionRecord).where(SupervisionRecord.facilitator_id == facilitator.id)
        .order_by(SupervisionRecord.held_on.desc(), SupervisionRecord.id.desc())))
    return render_template("coordinator/supervision.html", study=study, facilitator=facilitator,
                           form=form, records=records, thresholds=fidelity.SUPERVISION_THRESHOLDS,
                           labels=fidelity.MEASURE_LABELS), status
