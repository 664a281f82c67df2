"""Configuration: defaults, then the environment, then (in tests) a dict."""

from __future__ import annotations

import os
import sys
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
}


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Defaults, then ``ALLPORT_*`` and plain variables from the environment, then the test dict."""
    app.config.from_mapping(DEFAULTS)
    # ALLPORT_<KEY> sets <KEY>, e.g. ALLPORT_ENV=development, ALLPORT_BASE_URL=https://…
    app.config.from_prefixed_env("ALLPORT", loads=_loads_or_str)
    env = os.environ
    if env.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = env["SECRET_KEY"]
    if env.get("REDIS_URL"):
        app.config["RATELIMIT_STORAGE_URI"] = env["REDIS_URL"]
    database_url = env.get("DATABASE_URL") or default_sqlite_url(app.instance_path)
    app.config["DATABASE_URL"] = database_url
    if test_config:
        app.config.update(test_config)

    if app.config["ENV"] == "development" or app.testing:
        # Plain http on localhost: a Secure cookie would never come back.
        app.config["SESSION_COOKIE_SECURE"] = False
        app.config["REMEMBER_COOKIE_SECURE"] = False

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


def _running_a_cli_command() -> bool:
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true" and "run" not in sys.argv[1:]


def _loads_or_str(value: str) -> Any:
    import json

    try:
        return json.loads(value)
    except ValueError:
        return value
