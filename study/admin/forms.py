"""Forms of the administrator's pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length


class UnblindForm(FlaskForm):
    """Unblinding a study: why, and the study's slug typed again to confirm."""

    reason = TextAreaField("Why is the study unblinded now?", validators=[
        InputRequired("Give the reason for unblinding; it is kept in the audit trail."),
        Length(max=1000)])
    confirm = StringField("Type the study's slug again to confirm", validators=[
        InputRequired("Type the study's slug to confirm.")])
