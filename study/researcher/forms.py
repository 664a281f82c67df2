"""Forms of the researcher's pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from study.services.analysis_service import POPULATIONS


class AnalysisForm(FlaskForm):
    """The analysis page's choices, sent by GET: no CSRF token, nothing changes."""

    class Meta:
        csrf = False

    population = RadioField(
        "Population", default="itt",
        choices=[SelectChoice(p.key, p.label) for p in POPULATIONS.values()],
        validators=[InputRequired("Choose a population.")])
    outcome = SelectMultipleField(
        "Outcomes", widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        validators=[InputRequired("Choose at least one outcome.")])

    def __init__(self, *args: object, outcomes: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.outcome.choices = [SelectChoice(value, label) for value, label in outcomes]


class PrimaryOutcomeForm(FlaskForm):
    primary = SelectField("Primary outcome", validators=[InputRequired("Choose an outcome.")])

    def __init__(self, *args: object, outcomes: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.primary.choices = [SelectChoice(value, label) for value, label in outcomes]
