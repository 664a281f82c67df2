"""The Allport application factory: ``flask --app app …`` and ``gunicorn 'app:create_app()'``."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, environment, test overrides, then extensions and routes."""
    from study import web
    from study.config import load_config

    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "ALLPORT_INSTANCE_PATH"
    )
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    os.makedirs(app.instance_path, exist_ok=True)
    load_config(app, test_config)
    web.register_extensions(app)
    # Before the blueprints: a GET's read-only transaction is chosen before any blueprint's
    # hook (the staff timeout loads the user) has begun one with the write lock.
    web.register_request_hooks(app)
    web.register_blueprints(app)
    web.register_commands(app)
    web.register_error_handlers(app)
    web.register_middleware(app)
    return app
