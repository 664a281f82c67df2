from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange


class InviteForm(FlaskForm):
    cohort_id = SelectField("Cohort", coerce=int, validators=[InputRequired("Choose a cohort.")])
    count = IntegerField("Number of invitations", default=10, validators=[
        InputRequired("Enter how many invitations to create."),
        NumberRange(1, 500, "Enter a number from 1 to 500."),
    ])


class AttendanceForm(FlaskForm):
    attended = RadioField("Attendance", choices=[SelectChoice("yes", "Attended"),
                                   SelectChoice("no", "Did not attend")],
                          validators=[InputRequired("Choose attended or did not attend.")])


class StaffWithdrawForm(FlaskForm):
    """A coordinator records a withdrawal the trainee asked for in person or by email."""

    reason = TextAreaField("How did the trainee ask to withdraw, and why (if they said)?",
                           validators=[InputRequired("Say how the trainee asked to withdraw."),
                                       Length(max=500)])
