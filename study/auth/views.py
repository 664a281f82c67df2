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
from sqlalchemy import func, select

from study import audit
from study.auth.forms import LoginForm
from study.extensions import db, limiter, login_manager
from study.models import User, utcnow

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The id carries the session version; a cookie from before logout matches nothing."""
    uid, _, version = user_id.partition(":")
    if not uid.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(uid))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no ``//`` or ``/\\`` tricks."""
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
        email = (form.email.data or "").strip().lower()
        user = db.session.scalars(select(User).where(func.lower(User.email) == email)).first()
        if user is not None and user.active and user.check_password(form.password.data or ""):
            session.clear()
            login_user(user)
            now = datetime.now(UTC).timestamp()
            session["login_at"] = now
            session["seen_at"] = now
            session.permanent = True
            user.last_login_at = utcnow()
            audit.record(db.session, "login", actor=audit.actor_for(user=user))
            db.session.commit()
            return redirect(safe_next(form.next.data) or url_for("auth.home"), code=303)
        form.password.errors = ["That email and password do not match an active account."]
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout() -> Any:
    from study.forms import ActionForm

    if ActionForm().validate_on_submit() and current_user.is_authenticated:
        user = db.session.get(User, current_user.id)
        if user is not None:
            # Ends this and every other session of the user (DESIGN §9).
            user.session_version += 1
            audit.record(db.session, "logout", actor=audit.actor_for(user=user))
            db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"), code=303)
