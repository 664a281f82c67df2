"""``/api/v1``: studies, the analysis of DESIGN §6 and the exports, for researchers' scripts.

Every request carries ``Authorization: Bearer <token>`` (``flask --app app create-token``); the
session cookie is never looked at, so cross-site request forgery has nothing to ride on and the
blueprint is exempt from CSRF. Errors are JSON ``{"error": ..., "message": ...}``: 401 without a
valid token (unknown, revoked or expired), 404 for what does not exist, for a study the caller
has no role in and, for a token limited to one study, for every other study; 403 for a study in
which the caller holds another role than researcher, 422 for a bad parameter or data that cannot
be analysed, 429 past the per-token rate limit.
"""

from __future__ import annotations

import hashlib
from typing import Any, NoReturn

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from study import audit
from study.auth.access import has_role, studies_for, visible_study
from study.extensions import db, limiter
from study.extensions import instrument_library as _library
from study.models import Role, Study, User
from study.services import api_tokens, consort, progress, statistical_exports
from study.services.analysis_service import (
    POPULATIONS,
    AnalysisRequestError,
    NothingToAnalyse,
    primary_outcome,
    study_outcomes,
)
from study.services.blinding import arm_code, arm_labels
from study.services.report_cache import cached_analysis

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ANALYSIS_PARAMETERS = {"population", "outcome"}


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.extra = status, error, message, extra


def fail(status: int, error: str, message: str, **extra: Any) -> NoReturn:
    raise ApiError(status, error, message, **extra)


@bp.errorhandler(ApiError)
def api_error(error: ApiError) -> Any:
    db.session.rollback()
    response = jsonify(error=error.error, message=error.message, **error.extra)
    response.status_code = error.status
    if error.status == 401:
        challenge = 'Bearer realm="allport"'
        if error.error == "invalid_token":
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
    return response


def _rate_limit_key() -> str:
    """Requests are counted per API token (by its hash), not per address (DESIGN §9)."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        return "api-token:" + api_tokens.token_hash(raw.strip())
    return "api-address:" + (request.remote_addr or "")


# One count per token for the whole API, whichever endpoints it calls.
limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api",
                     key_func=_rate_limit_key)(bp)


@bp.errorhandler(429)
def too_many_requests(error: Any) -> Any:
    response = jsonify(error="rate_limited",
                       message=f"Too many requests with this token (at most {error.description}); "
                               "wait a little and try again.")
    response.status_code = 429
    return response


@bp.before_request
def authenticate() -> None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        fail(401, "unauthorized",
             "Send a personal API token in the header 'Authorization: Bearer <token>'.")
    try:
        token = api_tokens.authenticate(db.session, raw.strip())
    except api_tokens.TokenRefused as refusal:
        fail(401, "invalid_token", str(refusal))
    g.api_user = token.user
    g.api_study_id = token.study_id


def _user() -> User:
    user: User = g.api_user
    return user


def _study(slug: str) -> Study:
    study = visible_study(_user(), slug)
    # A study the caller has no part in gives the same answer as a missing one (DESIGN §8), and a
    # token limited to one study learns nothing of the others, not even that they exist.
    if study is None or g.api_study_id not in (None, study.id):
        fail(404, "not_found", f"There is no study {slug!r}.")
    if not has_role(_user(), study, Role.RESEARCHER):
        fail(403, "forbidden", f"Your account has no researcher role in study {slug!r}.")
    return study


def _json(body: dict[str, Any]) -> Any:
    """A JSON answer; the request's one commit (the token's last use) happens here."""
    db.session.commit()
    return jsonify(body)


def _summary(study: Study) -> dict[str, Any]:
    return {"slug": study.slug, "title": study.title, "status": study.status.value,
            "blinded": study.blinded, "url": url_for("api.study", slug=study.slug)}


@bp.get("/studies")
def studies() -> Any:
    return _json({"studies": [_summary(s) for s in studies_for(_user(), Role.RESEARCHER)
                              if g.api_study_id in (None, s.id)]})


@bp.get("/studies/<slug>")
def study(slug: str) -> Any:
    study = _study(slug)
    counts = progress.study_progress(db.session, study)
    outcomes = study_outcomes(study, _library())
    return _json({
        **_summary(study),
        "arms": [{"code": code, "label": label} for code, label in arm_labels(study).items()],
        "counts": {
            "participants": counts.total,
            "by_status": {status.value: n for status, n in counts.by_status.items()},
            "allocated_by_arm": {arm_code(study, key): n for key, n in sorted(
                counts.by_arm.items(), key=lambda item: arm_code(study, item[0]))},
        },
        "outcomes": [o.name for o in outcomes],
        "primary_outcome": primary_outcome(db.session, study, outcomes),
        "populations": {p.key: p.definition for p in POPULATIONS.values()},
        "links": {
            "analysis": url_for("api.analysis", slug=study.slug, population="itt"),
            "exports": url_for("api.export_list", slug=study.slug),
            "consort": url_for("api.consort_counts", slug=study.slug),
            "report": url_for("api.report", slug=study.slug),
            "bundle": url_for("api.bundle", slug=study.slug),
        },
    })


@bp.get("/studies/<slug>/analysis")
def analysis(slug: str) -> Any:
    study = _study(slug)
    unknown = sorted(set(request.args) - ANALYSIS_PARAMETERS)
    if unknown:
        fail(422, "invalid_parameter", f"Unknown parameter {unknown[0]!r}; this endpoint takes "
             "population and outcome.", parameter=unknown[0])
    try:
        study_analysis = cached_analysis(db.session, study, _library(),
                                         population=request.args.get("population"),
                                         outcomes=request.args.getlist("outcome") or None,
                                         instance_path=current_app.instance_path)
    except AnalysisRequestError as error:
        fail(422, "invalid_parameter", str(error), parameter=error.parameter)
    except NothingToAnalyse as error:
        fail(422, "not_analysable", str(error))
    return _json(study_analysis.result)


@bp.get("/studies/<slug>/consort")
def consort_counts(slug: str) -> Any:
    """The CONSORT counts of DESIGN §6, split by arm code (Arm A/B while blinded)."""
    return _json(consort.consort_counts(db.session, _study(slug)))


@bp.get("/studies/<slug>/report.pdf")
def report(slug: str) -> Any:
    """The study report of DESIGN §12 as PDF; ``paper`` is ``a4`` (default) or ``letter``."""
    from study.services.report import PAPERS
    from study.services.report_cache import report_pdf

    study = _study(slug)
    unknown = sorted(set(request.args) - {"paper"})
    if unknown:
        fail(422, "invalid_parameter", f"Unknown parameter {unknown[0]!r}; this endpoint takes "
             "paper.", parameter=unknown[0])
    paper = request.args.get("paper", "a4")
    if paper not in PAPERS:
        fail(422, "invalid_parameter", f"paper must be one of {', '.join(PAPERS)}, not "
             f"{paper!r}.", parameter="paper")
    pdf = report_pdf(db.session, study, _library(), paper=paper,
                     instance_path=current_app.instance_path)
    audit.record(db.session, "export", actor=f"user:{_user().id}", study=study, table="report",
                 format="pdf", paper=paper, sha256=hashlib.sha256(pdf).hexdigest())
    db.session.commit()  # the download in the audit trail and the token's last use
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{study.slug}-report.pdf"',
    })


@bp.get("/studies/<slug>/bundle.zip")
def bundle(slug: str) -> Any:
    """The reproducibility bundle of DESIGN §12: data, analysis JSON, plan and R script."""
    from study.services.bundle import build_bundle

    study = _study(slug)
    try:
        zipped = build_bundle(db.session, study, _library(), actor=f"user:{_user().id}")
    except NothingToAnalyse as error:
        fail(422, "not_analysable", str(error))
    db.session.commit()  # the downloads in the audit trail and the token's last use
    return Response(zipped, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{study.slug}-bundle.zip"',
    })


@bp.get("/studies/<slug>/exports")
def export_list(slug: str) -> Any:
    study = _study(slug)
    return _json({"exports": [
        {"name": name, "description": statistical_exports.DESCRIPTIONS[name],
         "url": url_for("api.export", slug=study.slug, table=name)}
        for name in statistical_exports.EXPORTS
    ]})


@bp.get("/studies/<slug>/exports/<table>")
def export(slug: str, table: str) -> Any:
    study = _study(slug)
    try:
        exported = statistical_exports.export_file(db.session, study, _library(), table,
                                                   actor=f"user:{_user().id}")
    except statistical_exports.UnknownExport as error:
        fail(404, "not_found", str(error))
    db.session.commit()
    return Response(exported.body, mimetype=exported.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{exported.filename}"',
    })
