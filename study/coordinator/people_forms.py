"""Forms of the coordinator's cohorts and email invitations (``study.coordinator.people``)."""

from __future__ import annotations

from flask_wtf.file import FileField
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from study.forms import Form
from study.services.cohorts import NAME_LENGTH, SITE_LENGTH
from study.services.invitations import MAX_FILE_BYTES


class CohortForm(Form):
    name = StringField("Name", validators=[InputRequired("Give the cohort a name."),
                                           Length(max=NAME_LENGTH, message="A cohort name has "
                                                  f"at most {NAME_LENGTH} characters.")])
    site = StringField("Site (optional)", validators=[
        Optional(), Length(max=SITE_LENGTH, message=f"Write the site in at most {SITE_LENGTH} "
                                                    "characters.")])
    starts_on = DateField("Starts on (optional)", validators=[Optional()])
    ends_on = DateField("Ends on (optional)", validators=[Optional()])

    def validate_ends_on(self, field: DateField) -> None:
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError("The cohort cannot end before it starts.")


class InviteByEmailForm(Form):
    """A spreadsheet of trainees, pasted or uploaded.

    ``cohort_id`` is the cohort of rows without a ``cohort`` cell ("" when every row names one).
    """

    cohort_id = SelectField("Cohort of rows that name none", coerce=str)
    emails = TextAreaField("Paste the spreadsheet as CSV", validators=[
        Optional(), Length(max=MAX_FILE_BYTES, message="Paste at most 1 MB; split the list.")])
    upload = FileField("Or choose a CSV file")
