"""Per-study authorization for staff routes (DESIGN §1, §8)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g
from flask_login import current_user, login_required
from sqlalchemy import select

from study.extensions import db
from study.models import Membership, Role, Study, User


def studies_for(user: User, role: Role) -> list[Study]:
    """The studies in which ``user`` holds ``role`` (every study for an admin), oldest first."""
    if user.is_admin:
        return list(db.session.scalars(select(Study).order_by(Study.created_at)))
    return list(db.session.scalars(
        select(Study).join(Membership)
        .where(Membership.user_id == user.id, Membership.role == role)
        .order_by(Study.created_at)
    ))


def has_role(user: User, study: Study, role: Role) -> bool:
    """Whether ``user`` may act as ``role`` in ``study`` (admins may act as any)."""
    return user.is_admin or role in user.roles_in(study)


def has_role_anywhere(user: User, role: Role) -> bool:
    """Whether ``user`` may open ``role``'s pages of some study (the navigation links to them)."""
    return user.is_admin or any(m.role is role for m in user.memberships)


def visible_study(user: User, slug: str) -> Study | None:
    """The study ``slug`` if ``user`` holds some role in it (admins: any study), else None.

    A study the user has no part in is answered exactly as one that does not exist, so that
    slugs cannot be probed for which studies there are.
    """
    study = db.session.scalars(select(Study).where(Study.slug == slug)).first()
    if study is None or not (user.is_admin or user.roles_in(study)):
        return None
    return study


def study_role_required(role: Role) -> Callable[[Any], Any]:
    """Resolve ``slug`` to a study the signed-in user holds ``role`` in.

    404 when the study does not exist or the user has no role in it (the same answer), 403
    when the user holds another role in it (a coordinator on a researcher page).
    """

    def decorator(view: Any) -> Any:
        @wraps(view)
        @login_required
        def wrapper(slug: str, **kwargs: Any) -> Any:
            study = visible_study(current_user, slug)
            if study is None:
                abort(404)
            if not has_role(current_user, study, role):
                abort(403, description="You have no role in this study that allows this page.")
            g.study = study
            return view(study, **kwargs)

        return wrapper

    return decorator


def admin_required(view: Any) -> Any:
    """Let only administrators through (403 for other staff, sign-in for anonymous)."""
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403, description="Only administrators can open this page.")
        return view(*args, **kwargs)

    return wrapper
