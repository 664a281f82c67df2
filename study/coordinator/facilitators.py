"""The facilitator registry: certified peer support specialists, their supervisors, and lapses."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from study import audit
from study.auth.access import study_role_required
from study.coordinator.blueprint import bp
from study.coordinator.session_forms import FacilitatorForm
from study.extensions import db
from study.forms import ActionForm
from study.models import Facilitator, Role, Study
from study.services import facilitators
from study.views import require_button, write_or_explain


def _details(form: FacilitatorForm) -> facilitators.FacilitatorDetails:
    assert form.certified_from.data is not None and form.certified_until.data is not None
    return facilitators.FacilitatorDetails(
        display_name=form.display_name.data or "", contact=form.contact.data or "",
        certification_body=form.certification_body.data or "",
        certification_number=form.certification_number.data or "",
        certified_from=form.certified_from.data, certified_until=form.certified_until.data,
        clinical_supervisor=form.clinical_supervisor.data or "",
        peer_supervisor=form.peer_supervisor.data or "", bio=form.bio.data or "")


def _registry_page(study: Study, form: FacilitatorForm, status: int = 200) -> Any:
    rows = [(f, facilitators.standing(f)) for f in db.session.scalars(
        select(Facilitator).where(Facilitator.study_id == study.id)
        .order_by(Facilitator.active.desc(), Facilitator.display_name))]
    return render_template("coordinator/facilitators.html", study=study, rows=rows, form=form,
                           Standing=facilitators.Standing,
                           warning_days=facilitators.LAPSE_WARNING_DAYS,
                           toggle_form=ActionForm(prefix="active")), status


def _facilitator(study: Study, facilitator_id: int) -> Facilitator:
    facilitator = db.session.get(Facilitator, facilitator_id)
    if facilitator is None or facilitator.study_id != study.id:
        abort(404)
    return facilitator


@bp.route("/<slug>/facilitators", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def facilitator_registry(study: Study) -> Any:
    """The list of the study's facilitators, and the form to add one."""
    form = FacilitatorForm()
    if not form.validate_on_submit():
        return _registry_page(study, form, 422 if form.is_submitted() else 200)
    with write_or_explain(beside={facilitators.CertificationDates: form.certified_until}
                          ) as attempt:
        added = facilitators.add_facilitator(db.session, study, _details(form),
                                             actor=audit.actor_for(user=current_user))
        attempt.done(f"{added.display_name} is added to the registry.")
    if attempt.refused:
        return _registry_page(study, form, 422)
    return redirect(url_for("coordinator.facilitator_registry", slug=study.slug), code=303)


@bp.route("/<slug>/facilitators/<int:facilitator_id>", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def edit_facilitator(study: Study, facilitator_id: int) -> Any:
    """Correct or renew a facilitator's details (a renewed certification: a new until date)."""
    facilitator = _facilitator(study, facilitator_id)
    form = FacilitatorForm(obj=facilitator)
    status = 200
    if form.validate_on_submit():
        with write_or_explain(beside={facilitators.CertificationDates: form.certified_until}
                              ) as attempt:
            changed = facilitators.update_facilitator(db.session, facilitator, _details(form),
                                                      actor=audit.actor_for(user=current_user))
            attempt.done(f"{facilitator.display_name}'s details are saved." if changed
                         else "Nothing was changed.")
        if not attempt.refused:
            return redirect(url_for("coordinator.facilitator_registry", slug=study.slug),
                            code=303)
        status = 422
    elif form.is_submitted():
        status = 422
    return render_template("coordinator/facilitator_edit.html", study=study, form=form,
                           facilitator=facilitator, standing=facilitators.standing(facilitator),
                           Standing=facilitators.Standing,
                           upcoming=facilitators.upcoming_sessions(db.session, facilitator)
                           ), status


@bp.post("/<slug>/facilitators/<int:facilitator_id>/active")
@study_role_required(Role.COORDINATOR)
def facilitator_active(study: Study, facilitator_id: int) -> Any:
    """Deactivate a facilitator (they can no longer be chosen), or reactivate them."""
    facilitator = _facilitator(study, facilitator_id)
    require_button("active")
    activate = not facilitator.active
    with write_or_explain() as attempt:
        upcoming = facilitators.set_active(db.session, facilitator, activate,
                                           actor=audit.actor_for(user=current_user))
        if activate:
            attempt.done(f"{facilitator.display_name} is active again.")
        elif upcoming:
            attempt.done(f"{facilitator.display_name} is deactivated. They lead {upcoming} "
                         "upcoming session(s), which trainees can no longer book: move each to "
                         "another facilitator or cancel it.", "warning")
        else:
            attempt.done(f"{facilitator.display_name} is deactivated.")
    return redirect(url_for("coordinator.facilitator_registry", slug=study.slug), code=303)
