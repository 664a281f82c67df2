"""Forms of the facilitator registry and of changing a contact session."""

from __future__ import annotations

from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from study.coordinator.forms import ScheduleSessionForm
from study.forms import Form


class FacilitatorForm(Form):
    """A certified peer support specialist, as the certifying body issued the credential."""

    display_name = StringField("Name (as the trainees will see it)", validators=[
        DataRequired("Enter the facilitator's name."), Length(max=200)])
    contact = StringField("Contact (email or phone)", validators=[
        DataRequired("Enter how to reach the facilitator."), Length(max=320)])
    certification_body = StringField("Certifying body", validators=[
        DataRequired("Enter the body that certified them."), Length(max=200)])
    certification_number = StringField("Credential id", validators=[
        DataRequired("Enter the credential id."), Length(max=100)])
    certified_from = DateField("Certified from", validators=[
        InputRequired("Enter the date the certification started.")])
    certified_until = DateField("Certified until", validators=[
        InputRequired("Enter the date the certification lapses.")])
    clinical_supervisor = StringField("Clinical supervisor", validators=[
        DataRequired("Name the clinical supervisor (DESIGN §13: hybrid supervision)."),
        Length(max=200)])
    peer_supervisor = StringField("Peer supervisor", validators=[
        DataRequired("Name the peer supervisor."), Length(max=200)])
    bio = TextAreaField("Short introduction (optional)", validators=[Optional(),
                                                                    Length(max=2000)])

    def validate_certified_until(self, field: DateField) -> None:
        start = self.certified_from.data
        if field.data is not None and start is not None and field.data <= start:
            raise ValidationError("The certified-until date must be after the certified-from "
                                  "date.")


class EditSessionForm(ScheduleSessionForm):
    """A scheduled session's time, length, place, places and facilitator; the cohort stays."""

    cohort_id = None  # type: ignore[assignment]  # WTForms: a field set to None is removed
