"""Forms of the study set-up pages (``study/coordinator/setup.py``).

Each form checks what it can with the rules the services apply (the services check again: they
are the last line, the forms put the message beside the field).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    RadioField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from instruments import Instrument, Library
from study.extensions import db
from study.forms import Form, WholeNumberRange
from study.models import Study
from study.models.study import is_web_link
from study.services import study_setup
from study.services.study_setup import MAX_DAYS, MAX_RATIO, TIMEPOINTS


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class DetailsForm(Form):
    """What the study is called and which protocol and approval it runs under."""

    title = StringField("Title", filters=[_stripped], validators=[
        InputRequired("Enter the study's title."), Length(max=200)])
    description = TextAreaField("Description (optional)", filters=[_stripped],
                                validators=[Length(max=5000)], render_kw={"rows": 4})
    protocol_number = StringField("Protocol number (optional)", filters=[_stripped],
                                  validators=[Length(max=100)])
    ethics_approval_number = StringField("Ethics approval number (optional)",
                                         filters=[_stripped], validators=[Length(max=100)])


class NewStudyForm(DetailsForm):
    slug = StringField("Short name for addresses", filters=[_stripped], validators=[
        InputRequired("Enter a short name, e.g. stigma-2027."), Length(max=64)])

    def validate_slug(self, field: StringField) -> None:
        problem = study_setup.slug_problem(field.data or "")
        if problem:
            raise ValidationError(problem)
        if db.session.scalars(select(Study.id).where(Study.slug == field.data)).first():
            raise ValidationError(f"A study called {field.data} exists already; choose "
                                  "another short name.")


def _required_number(message: str) -> Any:
    """Like InputRequired, but reads ``data``, not what was sent.

    A frozen field is shown disabled, so it is not sent back and keeps the study's value (the
    service refuses any change to it).
    """

    def check(form: Form, field: Field) -> None:
        if field.data is None and not field.process_errors:
            raise ValidationError(message)

    return check


class ArmsForm(Form):
    """The two arms and the randomization design; checked against ``study`` and ``library``."""

    education_name = StringField("Name of the education arm", filters=[_stripped],
                                 validators=[InputRequired("Name the education arm."),
                                             Length(max=100)])
    education_description = TextAreaField(
        "What a trainee of the education arm reads on learning their arm (Markdown)",
        filters=[_stripped], validators=[Length(max=5000)], render_kw={"rows": 5})
    contact_name = StringField("Name of the contact arm", filters=[_stripped],
                               validators=[InputRequired("Name the contact arm."),
                                           Length(max=100)])
    contact_description = TextAreaField(
        "What a trainee of the contact arm reads on learning their arm (Markdown)",
        filters=[_stripped], validators=[Length(max=5000)], render_kw={"rows": 5})
    education_ratio = IntegerField("Education arm's share", default=1, validators=[
        _required_number("Enter the education arm's share, e.g. 1."),
        WholeNumberRange(1, MAX_RATIO, f"Enter a whole number from 1 to {MAX_RATIO}.")])
    contact_ratio = IntegerField("Contact arm's share", default=1, validators=[
        _required_number("Enter the contact arm's share, e.g. 1."),
        WholeNumberRange(1, MAX_RATIO, f"Enter a whole number from 1 to {MAX_RATIO}.")])
    block_sizes = StringField("Block sizes", filters=[_stripped], default="2,4,6", validators=[
        InputRequired("Enter the block sizes, e.g. 2,4,6."), Length(max=64)])
    strata_factors = StringField("Strata factors beside the cohort (optional)",
                                 filters=[_stripped], validators=[Length(max=200)])
    planned_sample_size = IntegerField("Planned number of trainees (optional)", validators=[
        Optional(), WholeNumberRange(1, 1_000_000, "Enter a whole number from 1.")])

    def __init__(self, *args: Any, study: Study, library: Library, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.study, self.library = study, library

    def validate_block_sizes(self, field: StringField) -> None:
        ratios = {"education": self.education_ratio.data, "contact": self.contact_ratio.data}
        if None in ratios.values():
            return  # the ratio's own error says what to fix first
        problem = study_setup.block_sizes_problem(
            {k: v for k, v in ratios.items() if v is not None}, field.data or "")
        if problem:
            raise ValidationError(problem)

    def validate_strata_factors(self, field: StringField) -> None:
        problems = study_setup.strata_problems(self.study, self.library, field.data or "")
        if problems:
            raise ValidationError(" ".join(problems))


class ModulePageForm(Form):
    title = StringField("Page title", filters=[_stripped], validators=[
        InputRequired("Give the page a title."), Length(max=200)])
    body = TextAreaField("Text of the page (Markdown)", filters=[_stripped], validators=[
        InputRequired("Write the text of the page."), Length(max=50_000)],
        render_kw={"rows": 12})
    video_url = URLField("Video link (optional)", filters=[_stripped], validators=[
        Optional(), Length(max=500)])

    def validate_video_url(self, field: URLField) -> None:
        if field.data and not is_web_link(field.data):
            raise ValidationError("Enter a web address starting with http:// or https://, "
                                  "e.g. https://video.example.org/recovery.")


class MoveForm(Form):
    """Move a module page one place up or down (a button: carries CSRF)."""

    direction = RadioField("Direction", choices=[SelectChoice("up", "Up"),
                                                 SelectChoice("down", "Down")],
                           validators=[InputRequired("Choose up or down.")])


class ConsentForm(Form):
    text = TextAreaField("Information for participants (Markdown)", filters=[_stripped],
                         validators=[InputRequired("Write the information trainees read "
                                                   "before they consent."),
                                     Length(max=50_000)], render_kw={"rows": 14})
    data_kept = RadioField(
        "When a trainee withdraws, what happens to the data already collected?",
        choices=[SelectChoice("yes", "Kept for the analysis (the consent text must say so)"),
                 SelectChoice("no", "Deleted; only the minimal trial record stays")],
        validators=[InputRequired("Choose what happens to a withdrawing trainee's data.")])


class ScheduleForm(Form):
    intervention_period_days = IntegerField(
        "Intervention period in days", validators=[
            _required_number("Enter the intervention period in days."),
            WholeNumberRange(1, MAX_DAYS, f"Enter a whole number of days from 1 to {MAX_DAYS}.")])
    post_window_days = IntegerField(
        "Days the post questionnaire stays open (optional)", validators=[
            Optional(), WholeNumberRange(1, MAX_DAYS, f"Enter a whole number of days from 1 to "
                                                 f"{MAX_DAYS}.")])
    followup_offset_days = IntegerField(
        "Days from the post questionnaire opening to the follow-up opening", validators=[
            _required_number("Enter the days to the follow-up."),
            WholeNumberRange(1, MAX_DAYS, f"Enter a whole number of days from 1 to {MAX_DAYS}.")])
    followup_window_days = IntegerField(
        "Days the follow-up questionnaire stays open (optional)", validators=[
            Optional(), WholeNumberRange(1, MAX_DAYS, f"Enter a whole number of days from 1 to "
                                                 f"{MAX_DAYS}.")])
    reminder_interval_days = IntegerField(
        "Days between reminders to a trainee", validators=[
            _required_number("Enter the days between reminders."),
            WholeNumberRange(1, 60, "Enter a whole number of days from 1 to 60.")])


class CloseForm(Form):
    confirm = StringField("Type the study's short name to confirm", filters=[_stripped],
                          validators=[InputRequired("Type the study's short name to confirm.")])

    def __init__(self, *args: Any, slug: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slug = slug

    def validate_confirm(self, field: StringField) -> None:
        if field.data != self.slug:
            raise ValidationError(f"Type {self.slug} exactly to close recruitment.")


def questionnaire_form(instruments: list[Instrument], chosen: dict[str, list[str]]) -> Form:
    """A form with a check box and an order number per time point and instrument.

    Field names are ``<timepoint>-<n>`` and ``<timepoint>-<n>-order`` (``n`` the instrument's
    place in ``instruments``); the page reads them back with :func:`chosen_questionnaires`.
    """

    class QuestionnaireForm(Form):
        pass

    for timepoint in TIMEPOINTS:
        for number, instrument in enumerate(instruments):
            order = chosen.get(timepoint, [])
            ticked = instrument.id in order
            setattr(QuestionnaireForm, f"{timepoint}_{number}",
                    BooleanField(instrument.title, default=ticked))
            setattr(QuestionnaireForm, f"{timepoint}_{number}_order", IntegerField(
                f"Order of {instrument.title}",
                default=order.index(instrument.id) + 1 if ticked else None,
                validators=[Optional(), WholeNumberRange(1, 99, "Enter a number from 1 to 99.")]))
    return QuestionnaireForm()


def chosen_questionnaires(form: Form, instruments: list[Instrument]) -> dict[str, list[str]]:
    """Time point -> the ticked instruments' ids, by their order numbers (then as listed)."""
    chosen: dict[str, list[str]] = {}
    for timepoint in TIMEPOINTS:
        ticked = []
        for number, instrument in enumerate(instruments):
            if form[f"{timepoint}_{number}"].data:
                order = form[f"{timepoint}_{number}_order"].data
                ticked.append((order if order is not None else 100, number, instrument.id))
        chosen[timepoint] = [instrument_id for _, _, instrument_id in sorted(ticked)]
    return chosen
