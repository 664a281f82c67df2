"""Configuration: defaults, then the environment, then (in tests) a dict."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask

from study.database import default_sqlite_url, engine_options, normalise_database_url


class ConfigurationError(SystemExit):
    """The app cannot start with this configuration; the message says what to set.

    A ``SystemExit`` (status 1) that prints its one line to stderr: the flask CLI and gunicorn
    then stop with that line instead of a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(1)
        self.message = message
        print(f"Error: {message}", file=sys.stderr)

    def __str__(self) -> str:
        return self.message


DEFAULTS: dict[str, Any] = {
    # ALLPORT_ENV: "production" (Secure cookies) or "development" (plain http on localhost).
    "ENV": "production",
    # ALLPORT_BASE_URL: the public address used in invitation links printed by the CLI.
    "BASE_URL": None,
    # Trainees keep a questionnaire open for hours: tie CSRF tokens to the session, not the clock.
    "WTF_CSRF_TIME_LIMIT": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": True,
    "REMEMBER_COOKIE_SECURE": True,
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
    "STAFF_IDLE_TIMEOUT": timedelta(minutes=60),
    "STAFF_ABSOLUTE_TIMEOUT": timedelta(hours=12),
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    "LOGIN_RATE_LIMIT": "10 per minute;50 per hour",
    # Per API token, and per researcher on the analysis page: each call may run the analysis.
    "API_RATE_LIMIT": "60 per minute;1000 per hour",
    "ANALYSIS_RATE_LIMIT": "20 per minute;200 per hour",
    # ALLPORT_TRUSTED_PROXIES: how many proxies in front of the app set X-Forwarded-For and
    # X-Forwarded-Proto (0: none, the headers are ignored). See web.register_middleware.
    "TRUSTED_PROXIES": 0,
    # Strict-Transport-Security in production (served over https): a year.
    "HSTS_MAX_AGE": 365 * 24 * 3600,
    # Email (study.mail): without ALLPORT_MAIL_SERVER, messages go to <instance>/outbox/.
    "MAIL_SERVER": None,
    "MAIL_PORT": 587,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_USE_TLS": True,
    "MAIL_USE_SSL": False,
    "MAIL_FROM": "Allport <allport@localhost>",
}


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Defaults, then ``ALLPORT_*`` and plain variables from the environment, then the test dict."""
    app.config.from_mapping(DEFAULTS)
    # ALLPORT_<KEY> sets <KEY>, e.g. ALLPORT_ENV=development, ALLPORT_BASE_URL=https://…
    app.config.from_prefixed_env("ALLPORT", loads=_loads_or_str)
    env = os.environ
    if env.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = env["SECRET_KEY"]
    app.config["RATELIMIT_STORAGE_URI"] = rate_limit_storage(env)
    database_url = env.get("DATABASE_URL") or default_sqlite_url(app.instance_path)
    app.config["DATABASE_URL"] = database_url
    if test_config:
        app.config.update(test_config)

    # Production is served over https (a TLS proxy in front); development and tests over http.
    app.config["SERVED_OVER_HTTPS"] = app.config["ENV"] != "development" and not app.testing
    if not app.config["SERVED_OVER_HTTPS"]:
        # Plain http on localhost: a Secure cookie would never come back.
        app.config["SESSION_COOKIE_SECURE"] = False
        app.config["REMEMBER_COOKIE_SECURE"] = False
    elif app.config["SESSION_COOKIE_NAME"] == "session" and not app.config.get(
            "SESSION_COOKIE_DOMAIN"):
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure, for this
        # host only (no Domain) and for every path: no subdomain or http page can plant one.
        app.config["SESSION_COOKIE_NAME"] = "__Host-session"
        app.config["SESSION_COOKIE_PATH"] = "/"
    app.config["TRUSTED_PROXIES"] = _trusted_proxies(app.config["TRUSTED_PROXIES"])

    if not app.config.get("SECRET_KEY"):
        # A `flask` command other than a server (init-db, analyze, export, …) signs nothing
        # that outlives it; Flask sets FLASK_RUN_FROM_CLI for every command it runs.
        if app.debug or app.testing or _running_a_cli_command():
            app.config["SECRET_KEY"] = os.urandom(32).hex()
        else:
            raise ConfigurationError(
                "SECRET_KEY is not set: export SECRET_KEY to a long random value "
                "(python -c 'import secrets; print(secrets.token_hex(32))')."
            )

    url = normalise_database_url(app.config["DATABASE_URL"])
    app.config["DATABASE_URL"] = url
    app.config["SQLALCHEMY_ENGINES"] = {"default": engine_options(url)}


def rate_limit_storage(environ: Mapping[str, str]) -> str:
    """Where rate limits are counted, from the environment alone (gunicorn's master asks too)."""
    return (environ.get("REDIS_URL") or environ.get("ALLPORT_RATELIMIT_STORAGE_URI")
            or str(DEFAULTS["RATELIMIT_STORAGE_URI"]))


def per_process_rate_limits_warning(workers: int, environ: Mapping[str, str]) -> str | None:
    """The warning to log when several workers each count rate limits in their own memory."""
    if workers <= 1 or not rate_limit_storage(environ).startswith("memory://"):
        return None
    return (f"{workers} workers count rate limits each in their own memory, so every limit "
            f"(sign-in attempts, the API) is in effect {workers} times the configured one: "
            "set REDIS_URL to a Redis all workers and servers share.")


def _trusted_proxies(value: Any) -> int:
    try:
        hops = int(value)
    except (TypeError, ValueError):
        hops = -1
    if hops < 0 or str(value).strip() != str(hops):
        raise ConfigurationError(
            f"ALLPORT_TRUSTED_PROXIES must be the number of proxies in front of Allport "
            f"(0 or more), not {value!r}.")
    return hops


def _running_a_cli_command() -> bool:
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true" and "run" not in sys.argv[1:]


def _loads_or_str(value: str) -> Any:
    import json

    try:
        return json.loads(value)
    except ValueError:
        return value
