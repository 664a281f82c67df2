"""The administrator's pages: staff accounts and study roles, and the end of a trial."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from study import audit
from study.admin.forms import UnblindForm
from study.auth.access import admin_required
from study.extensions import db
from study.forms import ActionForm
from study.models import Membership, Study, User
from study.services import trial
from study.views import require_button, write_or_explain

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@admin_required
def index() -> Any:
    users = list(db.session.scalars(
        select(User).options(selectinload(User.memberships).selectinload(Membership.study))
        .order_by(User.email)))
    studies = list(db.session.scalars(select(Study).order_by(Study.created_at)))
    return render_template("admin/index.html", users=users, studies=studies)


def _study(slug: str) -> Study:
    study = db.session.scalars(select(Study).where(Study.slug == slug)).first()
    if study is None:
        abort(404)
    return study


def _study_page(study: Study, unblind_form: UnblindForm | None = None, status: int = 200
                ) -> Any:
    return render_template(
        "admin/study.html", study=study, plan=trial.frozen_plan(db.session, study),
        unblinding_problems=trial.unblinding_problems(db.session, study),
        close_form=ActionForm(prefix="close"), lock_form=ActionForm(prefix="lock"),
        unblind_form=unblind_form or UnblindForm(prefix="unblind")), status


@bp.get("/studies/<slug>")
@admin_required
def study(slug: str) -> Any:
    return _study_page(_study(slug))


@bp.post("/studies/<slug>/close-recruitment")
@admin_required
def close_recruitment(slug: str) -> Any:
    study = _study(slug)
    require_button("close")
    with write_or_explain() as attempt:
        trial.close_recruitment(db.session, study, actor=audit.actor_for(user=current_user))
        attempt.done("Recruitment is closed: no new trainees are consented or allocated.")
    return redirect(url_for("admin.study", slug=slug), code=303)


@bp.post("/studies/<slug>/lock-data")
@admin_required
def lock_data(slug: str) -> Any:
    study = _study(slug)
    require_button("lock")
    with write_or_explain() as attempt:
        trial.lock_data(db.session, study, actor=audit.actor_for(user=current_user))
        attempt.done("The data are locked: the post and follow-up questionnaires are closed.")
    return redirect(url_for("admin.study", slug=slug), code=303)


@bp.post("/studies/<slug>/unblind")
@admin_required
def unblind(slug: str) -> Any:
    study = _study(slug)
    form = UnblindForm(prefix="unblind")
    if not form.validate_on_submit():
        return _study_page(study, form, 422)
    if form.confirm.data != study.slug:
        form.confirm.errors = [f"This is not {study.slug}: type the study's slug exactly."]
        return _study_page(study, form, 422)
    with write_or_explain(beside=form.reason) as attempt:
        trial.unblind(db.session, study, reason=form.reason.data or "",
                      actor=audit.actor_for(user=current_user))
        attempt.done("The study is unblinded: every page, export and analysis now shows the "
                     "real arms.")
    if attempt.refused:
        return _study_page(study, form, 422)
    return redirect(url_for("admin.study", slug=slug), code=303)
