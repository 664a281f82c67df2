"""Forms shared by every blueprint."""

from __future__ import annotations

from flask_wtf import FlaskForm


class ActionForm(FlaskForm):
    """A POST-only button: no fields, but it carries the CSRF token."""
