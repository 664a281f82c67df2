"""Wiring the web layer into the app: extensions, blueprints, commands, errors, headers."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from study import audit
from study.access_log import redact_tokens
from study.extensions import csrf, db, limiter, login_manager
from study.services import sap


def register_extensions(app: Flask) -> None:
    """Database, CSRF, rate limits, sign-in, template helpers and the instrument library."""
    from instruments import load_site_library
    from study.auth.access import has_role_anywhere
    from study.database import configure_engine
    from study.markup import render_markdown
    from study.models import Role
    from study.services.blinding import arm_label, display_arms
    from study.services.journey import StepName

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
        drop_async_session_teardown(app)
    if not event.contains(Session, "before_flush", audit.forbid_audit_changes):
        event.listen(Session, "before_flush", audit.forbid_audit_changes)
    if not event.contains(Session, "before_flush", sap.forbid_frozen_plan_changes):
        event.listen(Session, "before_flush", sap.forbid_frozen_plan_changes)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.globals["display_arms"] = display_arms
    app.jinja_env.globals["arm_label"] = arm_label
    app.jinja_env.globals["StepName"] = StepName
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["has_role_anywhere"] = has_role_anywhere
    app.extensions["allport.instruments"] = load_site_library(app.instance_path)


def drop_async_session_teardown(app: Flask) -> None:
    """Remove Flask-SQLAlchemy-Lite's teardown for async sessions: Allport has none.

    The extension registers it whether or not async engines are configured, and Flask runs an
    ``async`` teardown through asgiref, which starts a thread for it at the end of every
    request: about 1.8 ms of a 4 ms ``/healthz`` (issue 14). Without async engines there is
    never an async session to close (pallets-eco/flask-sqlalchemy-lite#11).
    Needs the app context (the extension's engines belong to the app).
    """
    if db.async_engines:
        return
    app.teardown_appcontext_funcs[:] = [
        func for func in app.teardown_appcontext_funcs
        if not inspect.iscoroutinefunction(func)
        or getattr(func, "__module__", "").partition(".")[0] != "flask_sqlalchemy_lite"]


def format_datetime(value: datetime | None) -> str:
    """A time as pages show it: ``Monday 3 March 2027, 14:00 UTC``."""
    if value is None:
        return ""
    value = value.astimezone(UTC)
    return f"{value:%A} {value.day} {value:%B %Y, %H:%M} UTC"


def register_middleware(app: Flask) -> None:
    """Trust ``TRUSTED_PROXIES`` proxies' X-Forwarded-For and -Proto, and no more (DESIGN §9).

    Behind a TLS proxy the client's address (for rate limits) and the scheme (for the links
    built with ``_external``) are in those headers; with no proxy configured they are the
    client's to forge, so they are ignored.
    """
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops)


class DatabaseIdConverter(IntegerConverter):
    """``<int:…>`` in URLs: ids beyond a 64-bit integer are 404, not an overflow in the driver."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    """Every blueprint; the API is exempt from CSRF (bearer tokens only)."""
    app.url_map.converters["int"] = DatabaseIdConverter
    from study.admin.views import bp as admin_bp
    from study.api.views import bp as api_bp
    from study.auth.views import bp as auth_bp
    from study.coordinator import bp as coordinator_bp
    from study.health import bp as health_bp
    from study.researcher.views import bp as researcher_bp
    from study.trainee.views import bp as trainee_bp

    for blueprint in (health_bp, auth_bp, trainee_bp, coordinator_bp, researcher_bp, admin_bp,
                      api_bp):
        app.register_blueprint(blueprint)
    # The API authenticates by bearer token only, never by the session cookie: there is no
    # ambient credential for a forged cross-site request to use.
    csrf.exempt(api_bp)


def register_commands(app: Flask) -> None:
    """The ``flask`` commands."""
    from study.cli import register

    register(app)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    """Error pages (JSON under ``/api``) that roll back first and never show a traceback."""
    from study import outage

    outage.register(app)  # database away: one safe retry, then 503 with Retry-After

    def rollback() -> None:
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the original error matters more
            app.logger.exception("rollback failed")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        rollback()
        code = error.code or 500
        if _wants_json():
            return jsonify(error=error.name.lower().replace(" ", "_"),
                           message=error.description), code
        return render_template("errors/error.html", error=error, code=code), code

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Any:
        rollback()
        if _wants_json():
            return jsonify(error="csrf", message=error.description), 400
        return render_template("errors/csrf.html", error=error), 400

    @app.errorhandler(Exception)
    def server_error(error: Exception) -> Any:
        rollback()
        app.logger.exception("unhandled error on %s %s", request.method,
                             redact_tokens(request.path))
        if _wants_json():
            return jsonify(error="server_error", message="Something went wrong on our side."), 500
        return render_template("errors/500.html"), 500


def register_request_hooks(app: Flask) -> None:
    """Read-only transactions for GET pages, and the security headers of every response."""
    from study.database import begin_for_writing, begin_read_only

    @app.before_request
    def read_only_requests() -> None:
        # Pages fetched with GET never write (the views are built that way and SQLite's
        # query_only enforces it), so on SQLite they need not queue for the write lock. API
        # GETs do write: they note token use and audit every export.
        if request.method in ("GET", "HEAD", "OPTIONS") and not request.path.startswith("/api/"):
            begin_read_only()
        else:
            begin_for_writing()

    @app.teardown_request
    def back_to_writing(_error: BaseException | None) -> None:
        begin_for_writing()  # the thread may run a CLI command or a test next

    @app.after_request
    def security_headers(response: Any) -> Any:
        headers = response.headers
        # Not no-referrer: Flask-WTF's same-origin check on HTTPS needs the Referer (DESIGN §9).
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        if app.config["SERVED_OVER_HTTPS"]:
            headers.setdefault("Strict-Transport-Security",
                               f"max-age={app.config['HSTS_MAX_AGE']}")
        if request.endpoint != "static":
            # Staff pages show invitation links, trainee pages answers, the API exports: no
            # page but the static files may be kept by a browser or a shared cache.
            headers.setdefault("Cache-Control", "no-store")
        return response
