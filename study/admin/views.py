"""The administrator's pages: staff accounts and study roles, and the end of a trial."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from instruments.csvfiles import table_text
from study import audit
from study.admin.forms import AddRoleForm, PasswordForm, RemoveRoleForm, UnblindForm
from study.audit_page import filter_for_export, render_audit_page
from study.auth.access import admin_required
from study.extensions import db
from study.forms import ActionForm
from study.models import Membership, Study, User
from study.services import audit_log, staff, trial
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


def _actor() -> str:
    return audit.actor_for(user=current_user)


def _study_page(study: Study, unblind_form: UnblindForm | None = None, status: int = 200
                ) -> Any:
    return render_template(
        "admin/study.html", study=study, plan=trial.frozen_plan(db.session, study),
        unblinding_problems=trial.unblinding_problems(db.session, study),
        close_form=ActionForm(prefix="close"), lock_form=ActionForm(prefix="lock"),
        unblind_form=unblind_form or UnblindForm(prefix="unblind")), status


@bp.get("/audit")
@admin_required
def audit_trail() -> Any:
    return render_audit_page(study=None, nav=None, conceal=False, studies=_studies())


@bp.post("/audit.csv")
@admin_required
def audit_export() -> Any:
    """The filtered events as CSV; the download itself is recorded in the trail."""
    require_button()
    studies = _studies()
    wanted = filter_for_export(studies=studies)
    if wanted is None:
        return render_audit_page(study=None, nav=None, conceal=False, studies=studies)
    events = audit_log.read(db.session, wanted, per_page=audit_log.EXPORT_LIMIT)
    body = table_text(audit_log.CSV_COLUMNS, audit_log.rows_for_csv(events))
    audit.record(db.session, "audit_exported", actor=_actor(), events=len(events.events),
                 filters={key: value for key, value in request.args.items() if value})
    db.session.commit()
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="audit-trail.csv"',
        "Cache-Control": "no-store",
    })


def _studies() -> list[Study]:
    return list(db.session.scalars(select(Study).order_by(Study.title)))


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
        trial.close_recruitment(db.session, study, actor=_actor())
        attempt.done("Recruitment is closed: no new trainees are consented or allocated.")
    return redirect(url_for("admin.study", slug=slug), code=303)


@bp.post("/studies/<slug>/lock-data")
@admin_required
def lock_data(slug: str) -> Any:
    study = _study(slug)
    require_button("lock")
    with write_or_explain() as attempt:
        trial.lock_data(db.session, study, actor=_actor())
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
                      actor=_actor())
        attempt.done("The study is unblinded: every page, export and analysis now shows the "
                     "real arms.")
    if attempt.refused:
        return _study_page(study, form, 422)
    return redirect(url_for("admin.study", slug=slug), code=303)


# --- staff accounts (DESIGN §7: the life cycle of an account) ---------------------------------


def _account(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _study_slugs() -> list[str]:
    return list(db.session.scalars(select(Study.slug).order_by(Study.created_at)))


def _account_page(user: User, *, password_form: PasswordForm | None = None,
                  role_form: AddRoleForm | None = None, status: int = 200) -> Any:
    memberships = sorted(user.memberships, key=lambda m: (m.study.slug, m.role.value))
    return render_template(
        "admin/account.html", user=user, memberships=memberships,
        is_self=user.id == current_user.id,
        status_form=ActionForm(prefix="status"),
        password_form=password_form or PasswordForm(prefix="password"),
        role_form=role_form or AddRoleForm(_study_slugs(), prefix="role")), status


def _back_to(user: User) -> Any:
    return redirect(url_for("admin.account", user_id=user.id), code=303)


@bp.get("/users/<int:user_id>")
@admin_required
def account(user_id: int) -> Any:
    return _account_page(_account(user_id))


@bp.post("/users/<int:user_id>/deactivate")
@admin_required
def deactivate(user_id: int) -> Any:
    user = _account(user_id)
    require_button("status")
    with write_or_explain() as attempt:
        revoked = staff.deactivate_account(db.session, user, actor=_actor())
        attempt.done(f"{user.email} is deactivated: its sessions are ended and {revoked} API "
                     f"token{'' if revoked == 1 else 's'} revoked. Reactivate it to undo.")
    return _back_to(user)


@bp.post("/users/<int:user_id>/reactivate")
@admin_required
def reactivate(user_id: int) -> Any:
    user = _account(user_id)
    require_button("status")
    with write_or_explain() as attempt:
        staff.reactivate_account(db.session, user, actor=_actor())
        attempt.done(f"{user.email} can sign in again with its password; API tokens revoked "
                     "at deactivation stay revoked.")
    return _back_to(user)


@bp.post("/users/<int:user_id>/password")
@admin_required
def set_password(user_id: int) -> Any:
    user = _account(user_id)
    form = PasswordForm(prefix="password")
    if not form.validate_on_submit():
        return _account_page(user, password_form=form, status=422)
    with write_or_explain(beside=form.password) as attempt:
        revoked = staff.set_password(db.session, user, form.password.data or "", actor=_actor())
        attempt.done(f"{user.email} has a new password: its sessions are ended and {revoked} "
                     f"API token{'' if revoked == 1 else 's'} revoked.")
    if attempt.refused:
        return _account_page(user, password_form=form, status=422)
    return _back_to(user)


@bp.post("/users/<int:user_id>/roles")
@admin_required
def add_role(user_id: int) -> Any:
    user = _account(user_id)
    form = AddRoleForm(_study_slugs(), prefix="role")
    if not form.validate_on_submit():
        return _account_page(user, role_form=form, status=422)
    role = form.role.data or ""
    study = _study(form.study.data) if role != staff.ADMIN else None
    with write_or_explain(beside=form.role) as attempt:
        if staff.grant_role(db.session, user, role, study, actor=_actor()):
            where = f" in study {study.slug}" if study is not None else ""
            attempt.done(f"{user.email} is now {role}{where}.")
        else:
            attempt.done(f"{user.email} held that role already; nothing changed.", "info")
    if attempt.refused:
        return _account_page(user, role_form=form, status=422)
    return _back_to(user)


@bp.post("/users/<int:user_id>/roles/remove")
@admin_required
def remove_role(user_id: int) -> Any:
    user = _account(user_id)
    form = RemoveRoleForm(prefix="remove")
    if not form.validate_on_submit() or form.role.data not in staff.ROLE_NAMES:
        abort(400, description="The form expired; please reload the page and try again.")
    role = form.role.data
    study = _study(form.study.data or "") if role != staff.ADMIN else None
    with write_or_explain() as attempt:
        staff.remove_role(db.session, user, role, study, actor=_actor())
        where = f" in study {study.slug}" if study is not None else ""
        attempt.done(f"{user.email} is no longer {role}{where}; its sessions are ended.")
    return _back_to(user)
