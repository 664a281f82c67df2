"""``/healthz``: 200 when the app and its database answer."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from study.extensions import db
from study.outage import RETRY_AFTER_SECONDS

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """200 when the app and its database answer, 503 (with ``Retry-After``) when it does not.

    Never retried (``study.outage``): a load balancer asks to learn the truth, at once.
    """
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return (jsonify(status="unavailable", database="down"), 503,
                {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return jsonify(status="ok", database="ok")
