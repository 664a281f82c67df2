"""The supervision record's form (a fidelity rating's form is built from the checklist)."""

from __future__ import annotations

from typing import Any

from wtforms import DateField, FloatField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from study.forms import Form
from study.models import SupervisorKind

SHARE = "Enter a number from 0 to 1, such as 0.85, or leave it empty if it was not rated."


def _measure(label: str) -> FloatField:
    return FloatField(label, validators=[Optional(), NumberRange(0, 1, SHARE)],
                      invalid_value_message=SHARE, render_kw={"inputmode": "decimal"})


class SupervisionForm(Form):
    held_on = DateField("Date of the supervision meeting",
                        validators=[InputRequired("Enter the date of the meeting.")],
                        render_kw={"type": "date"})
    supervisor_kind = RadioField(
        "Supervisor", choices=[SelectChoice(SupervisorKind.CLINICAL.value, "Clinical supervisor"),
                               SelectChoice(SupervisorKind.PEER.value, "Peer supervisor")],
        validators=[InputRequired("Choose the clinical or the peer supervisor.")])
    supervisor = StringField("Supervisor's name", validators=[Optional(), Length(max=200)])
    role_fidelity = _measure("Role fidelity F (0–1)")
    risk_oversight = _measure("Clinical risk oversight R (0–1)")
    reflective_practice = _measure("Reflective practice P (0–1)")
    notes = TextAreaField("Notes (optional)", validators=[Optional(), Length(max=5000)])

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        measures = (self.role_fidelity, self.risk_oversight, self.reflective_practice)
        if all(m.data is None and not m.errors for m in measures):
            self.role_fidelity.errors = ["Rate at least one of F, R and P."]
            return False
        return valid
