"""Forms of the researcher's pages."""

from __future__ import annotations

from wtforms import RadioField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from study.forms import Form
from study.services.analysis_service import POPULATIONS


class AnalysisForm(Form):
    """The analysis page's choices, sent by GET: no CSRF token, nothing changes.

    The plan's primary population comes first; the other is offered as a sensitivity analysis.
    """

    class Meta:
        csrf = False

    population = RadioField("Population", validators=[InputRequired("Choose a population.")])
    outcome = SelectMultipleField(
        "Outcomes", widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        validators=[InputRequired("Choose at least one outcome.")])

    def __init__(self, *args: object, outcomes: list[tuple[str, str]],
                 primary_population: str = "itt", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        ordered = sorted(POPULATIONS.values(), key=lambda p: p.key != primary_population)
        self.population.choices = [
            SelectChoice(p.key, f"{p.label} (" + (
                "primary analysis" if p.key == primary_population else "sensitivity analysis")
                + ")")
            for p in ordered]
        self.outcome.choices = [SelectChoice(value, label) for value, label in outcomes]
