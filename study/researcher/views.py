"""The researcher's pages: blinded progress by arm, the analysis, de-identified exports."""

from __future__ import annotations

import hashlib
import math
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from study import audit
from study.auth.access import studies_for, study_role_required
from study.database import begin_for_writing
from study.errors import DomainError
from study.extensions import db, limiter
from study.extensions import instrument_library as _library
from study.models import Role, Study
from study.plan_edit import plan_edit_page
from study.plan_page import render_plan_page
from study.researcher.forms import AnalysisForm
from study.researcher.svg import inline_svg
from study.services import consort, progress, sap, statistical_exports
from study.services.analysis_service import (
    POPULATIONS,
    NothingToAnalyse,
    primary_outcome,
    study_outcomes,
)
from study.services.report_cache import cached_analysis
from study.views import require_button

bp = Blueprint("researcher", __name__, url_prefix="/researcher")


@bp.get("/")
@login_required
def index() -> Any:
    studies = studies_for(current_user, Role.RESEARCHER)
    overview = [(s, progress.study_progress(db.session, s)) for s in studies]
    return render_template("researcher/index.html", overview=overview)


@bp.get("/<slug>/")
@study_role_required(Role.RESEARCHER)
def overview(study: Study) -> Any:
    counts = progress.study_progress(db.session, study)
    return render_template("researcher/overview.html", study=study, counts=counts,
                           exports=statistical_exports.EXPORTS,
                           descriptions=statistical_exports.DESCRIPTIONS,
                           journey_rows=progress.journey_rows(counts),
                           exit_rows=progress.exit_rows(counts),
                           consort_table=consort.consort_table(
                               study, consort.consort_counts(db.session, study)))


@bp.post("/<slug>/export/<table>")
@study_role_required(Role.RESEARCHER)
def export(study: Study, table: str) -> Any:
    if table not in statistical_exports.EXPORTS:
        abort(404)
    require_button()
    exported = statistical_exports.export_file(db.session, study, _library(), table,
                                               actor=audit.actor_for(user=current_user))
    db.session.commit()
    return Response(exported.body, mimetype=exported.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{exported.filename}"',
        "Cache-Control": "no-store",
    })


@bp.get("/<slug>/report.pdf")
@study_role_required(Role.RESEARCHER)
def report(study: Study) -> Any:
    from study.services.report import PAPERS
    from study.services.report_cache import report_pdf

    paper = request.args.get("paper", "a4")
    if paper not in PAPERS:
        abort(404)
    pdf = report_pdf(db.session, study, _library(), paper=paper,
                     instance_path=current_app.instance_path)
    # Built or read without the write lock (a GET); the one write, the audit event, takes it now.
    begin_for_writing()
    # Who took which report away, as for the bundle and the exports (DESIGN §8).
    audit.record(db.session, "export", actor=audit.actor_for(user=current_user), study=study,
                 table="report", format="pdf", paper=paper,
                 sha256=hashlib.sha256(pdf).hexdigest())
    db.session.commit()
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{study.slug}-report.pdf"',
        "Cache-Control": "no-store",
    })


@bp.post("/<slug>/bundle.zip")
@study_role_required(Role.RESEARCHER)
def bundle(study: Study) -> Any:
    """The reproducibility bundle; a POST button (with CSRF) because it records downloads."""
    from study.services.bundle import build_bundle

    require_button()
    try:
        zipped = build_bundle(db.session, study, _library(),
                              actor=audit.actor_for(user=current_user))
    except NothingToAnalyse as error:
        flash(str(error), "error")
        return redirect(url_for("researcher.overview", slug=study.slug))
    db.session.commit()
    return Response(zipped, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{study.slug}-bundle.zip"',
        "Cache-Control": "no-store",
    })


@bp.get("/<slug>/plan")
@study_role_required(Role.RESEARCHER)
def plan(study: Study) -> Any:
    return render_plan_page(study, nav="researcher/_study_nav.html")


@bp.route("/<slug>/plan/edit", methods=["GET", "POST"])
@study_role_required(Role.RESEARCHER)
def plan_edit(study: Study) -> Any:
    return plan_edit_page(study, nav="researcher/_study_nav.html", plan_endpoint="researcher.plan")


def _per_user() -> str:
    return f"user:{current_user.id}"


@bp.get("/<slug>/analysis")
@study_role_required(Role.RESEARCHER)
@limiter.limit(lambda: current_app.config["ANALYSIS_RATE_LIMIT"], key_func=_per_user)
def analysis(study: Study) -> Any:
    outcomes = study_outcomes(study, _library())
    choices = [(o.name, f"{o.label} ({o.name})") for o in outcomes]
    plan_version = sap.current_plan(db.session, study)
    primary_population = (plan_version.plan["populations"]["primary"]
                          if plan_version is not None else "itt")
    submitted = "population" in request.args
    form = AnalysisForm(request.args if submitted else None, outcomes=choices,
                        primary_population=primary_population)
    if not submitted:
        form.outcome.data = [name for name, _ in choices]
        form.population.data = primary_population
    context: dict[str, Any] = {
        "study": study, "form": form, "plan": plan_version,
        "primary": primary_outcome(db.session, study, outcomes),
        "primary_population": primary_population,
        "outcomes": outcomes, "populations": POPULATIONS, "result": None, "problem": None,
        "plots": {},
    }
    if submitted and not form.validate():
        return render_template("researcher/analysis.html", **context), 422
    try:
        done = cached_analysis(db.session, study, _library(), population=form.population.data,
                               outcomes=form.outcome.data,
                               instance_path=current_app.instance_path)
    except NothingToAnalyse as error:
        context["problem"] = str(error)
        return render_template("researcher/analysis.html", **context)
    except DomainError as error:  # a parameter the form let through; say so beside the form
        context["problem"] = str(error)
        return render_template("researcher/analysis.html", **context), 422
    plots: dict[str, Any] = {}
    for number, outcome in enumerate(done.outcomes, start=1):
        if outcome.name in done.plots:  # absent: the outcome could not be analysed
            svg = done.plots[outcome.name]  # None: drawing it failed (the cache logged why)
            plots[outcome.name] = inline_svg(svg, f"plot-{number}") if svg is not None else None
    context.update(result=done.result, labels=done.labels, plots=plots,
                   reference=done.reference_arm)
    return render_template("researcher/analysis.html", **context)


@bp.app_template_filter("stat")
def format_statistic(value: Any, digits: int = 2) -> str:
    """A number for a results table: fixed decimals, a true minus sign, a dash when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value}".replace("-", "−")
    return f"{value:.{digits}f}".replace("-", "−")


@bp.app_template_filter("pvalue")
def format_p(value: Any) -> str:
    """A p value to three decimals, or "< 0.001" (APA style without the leading zero dropped)."""
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
