"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

if TYPE_CHECKING:
    from instruments import Library

db = SQLAlchemy()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def instrument_library() -> Library:
    """The app's instruments: the bundled library with the wording this site has supplied."""
    return current_app.extensions["allport.instruments"]
