"""The administrator's overview of staff accounts and their study roles."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from study.auth.access import admin_required
from study.extensions import db
from study.models import Membership, Study, User

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@admin_required
def index() -> Any:
    users = list(db.session.scalars(
        select(User).options(selectinload(User.memberships).selectinload(Membership.study))
        .order_by(User.email)))
    studies = list(db.session.scalars(select(Study).order_by(Study.created_at)))
    return render_template("admin/index.html", users=users, studies=studies)
