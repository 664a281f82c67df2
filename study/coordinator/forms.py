"""Forms of the coordinator's console."""

from __future__ import annotations

from typing import Any

from wtforms import (
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from study.forms import Form, WholeNumberRange


class InviteForm(Form):
    cohort_id = SelectField("Cohort", coerce=int, validators=[InputRequired("Choose a cohort.")])
    count = IntegerField("Number of invitations", default=10, validators=[
        InputRequired("Enter how many invitations to create."),
        WholeNumberRange(1, 500, "Enter a number from 1 to 500."),
    ])


class AttendanceForm(Form):
    """Attendance at one booking, with the minutes attended if the coordinator knows them.

    ``duration`` is the session's length in minutes: the most a trainee can have attended.
    """

    attended = RadioField("Attendance", choices=[SelectChoice("yes", "Attended"),
                                   SelectChoice("no", "Did not attend (no-show)")],
                          validators=[InputRequired("Choose attended or did not attend.")])
    minutes_attended = IntegerField(
        "Minutes attended (optional)",
        validators=[Optional()],
        render_kw={"inputmode": "numeric"},
    )

    def __init__(self, *args: Any, duration: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.duration = duration

    def validate_minutes_attended(self, field: IntegerField) -> None:
        if field.data is None:
            return
        if not 0 <= field.data <= self.duration:
            raise ValidationError(f"Enter minutes from 0 to {self.duration} "
                                  "(the session's length).")
        if self.attended.data == "no" and field.data != 0:
            raise ValidationError("A trainee who did not attend has no minutes attended; "
                                  "leave the minutes empty.")


class StaffWithdrawForm(Form):
    """A coordinator records a withdrawal the trainee asked for in person or by email."""

    reason = TextAreaField("How did the trainee ask to withdraw, and why (if they said)?",
                           validators=[InputRequired("Say how the trainee asked to withdraw."),
                                       Length(max=500)])


class ScheduleSessionForm(Form):
    """A new contact session; times are UTC, as the pages show them."""

    cohort_id = SelectField("Cohort", coerce=int, validators=[InputRequired("Choose a cohort.")])
    facilitator_id = SelectField("Certified peer facilitator", coerce=int,
                                 validators=[InputRequired("Choose a facilitator.")])
    starts_on = DateField("Date", validators=[InputRequired("Enter the date.")])
    starts_at = TimeField("Start time (UTC)", validators=[InputRequired("Enter the start time.")])
    duration_minutes = IntegerField("Length in minutes", default=90, validators=[
        InputRequired("Enter the length in minutes."),
        WholeNumberRange(15, 480, "Enter a length from 15 to 480 minutes.")])
    capacity = IntegerField("Places", default=12, validators=[
        InputRequired("Enter the number of places."),
        WholeNumberRange(1, 200, "Enter a number of places from 1 to 200.")])
    location = StringField("Where", validators=[InputRequired("Say where the session is."),
                                                Length(max=300)])


class LostForm(Form):
    """Why an allocated trainee is lost to follow-up, as a CONSORT category."""

    category = SelectField("Why are they lost to follow-up?", choices=[
        SelectChoice("no_response", "Stopped responding to messages and reminders"),
        SelectChoice("unreachable", "Cannot be reached (contact details no longer work)"),
        SelectChoice("other", "Another reason"),
    ], validators=[InputRequired("Choose why the trainee is lost to follow-up.")])


class IneligibleForm(Form):
    """Excluding a consented trainee before allocation, as a CONSORT category."""

    category = SelectField("Why are they excluded?", choices=[
        SelectChoice("ineligible", "Does not meet the inclusion criteria"),
        SelectChoice("other", "Another reason"),
    ], validators=[InputRequired("Choose why the trainee is excluded.")])
