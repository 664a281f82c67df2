"""The researcher's pages: blinded progress by arm and de-identified exports."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template
from flask_login import current_user, login_required

from study import audit
from study.auth.access import studies_for, study_role_required
from study.extensions import db
from study.models import Role, Study
from study.services import exports, progress
from study.trainee.forms import ActionForm

bp = Blueprint("researcher", __name__, url_prefix="/researcher")


@bp.get("/")
@login_required
def index() -> Any:
    studies = studies_for(current_user, Role.RESEARCHER)
    overview = [(s, progress.study_progress(db.session, s)) for s in studies]
    return render_template("researcher/index.html", overview=overview,
                           arm_label=progress.arm_label)


@bp.get("/<slug>/")
@study_role_required(Role.RESEARCHER)
def study(study: Study) -> Any:
    counts = progress.study_progress(db.session, study)
    return render_template("researcher/study.html", study=study, counts=counts,
                           arm_label=progress.arm_label, tables=exports.TABLES,
                           form=ActionForm(), journey_rows=progress.journey_rows(counts),
                           exit_rows=progress.exit_rows(counts))


@bp.post("/<slug>/export/<table>.csv")
@study_role_required(Role.RESEARCHER)
def export(study: Study, table: str) -> Any:
    if table not in exports.TABLES:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400, description="The download form expired; please reload the page.")
    body = exports.export_csv(db.session, study, table,
                              current_app.extensions["allport.instruments"],
                              actor=audit.actor_for(user=current_user))
    db.session.commit()
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{study.slug}-{table}.csv"',
        "Cache-Control": "no-store",
    })
