"""Staff sign-in and sign-out, with revocable, time-limited sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from study.auth.forms import LoginForm
from study.extensions import db, limiter, login_manager
from study.models import User
from study.services import staff

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    return staff.user_for_session(db.session, session_id)


def safe_next(target: str | None) -> str | None:
    r"""Only a path on this site: no scheme, no host, no ``//`` or ``/\`` tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.before_app_request
def enforce_staff_timeouts() -> Any:
    if not current_user.is_authenticated:
        return None
    now = datetime.now(UTC).timestamp()
    idle = current_app.config["STAFF_IDLE_TIMEOUT"].total_seconds()
    absolute = current_app.config["STAFF_ABSOLUTE_TIMEOUT"].total_seconds()
    seen = session.get("seen_at", 0)
    started = session.get("login_at", 0)
    if now - seen > idle or now - started > absolute:
        logout_user()
        session.clear()
        flash("You were signed out after a period without activity. Please sign in again.",
              "info")
        return redirect(url_for("auth.login", next=request.full_path
                                if request.method == "GET" else None))
    session["seen_at"] = now
    return None


@bp.get("/")
def home() -> Any:
    if current_user.is_authenticated:
        if current_user.is_admin:
            return redirect(url_for("admin.index"))
        roles = {m.role.value for m in current_user.memberships}
        if "coordinator" in roles:
            return redirect(url_for("coordinator.index"))
        return redirect(url_for("researcher.index"))
    return render_template("auth/home.html")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            user = staff.authenticate(db.session, form.email.data or "", form.password.data or "")
        except staff.LoginFailed as error:
            form.password.errors = [str(error)]
        else:
            db.session.commit()
            _start_session(user)
            return redirect(safe_next(form.next.data) or url_for("auth.home"), code=303)
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


def _start_session(user: User) -> None:
    """A fresh cookie (nothing carried over from before sign-in) with the timeout clocks set."""
    session.clear()
    login_user(user)
    now = datetime.now(UTC).timestamp()
    session["login_at"] = now
    session["seen_at"] = now
    session.permanent = True


@bp.post("/logout")
def logout() -> Any:
    from study.forms import ActionForm

    if ActionForm().validate_on_submit() and current_user.is_authenticated:
        staff.sign_out(db.session, current_user.id)
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), code=303)
