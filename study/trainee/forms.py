"""Forms of the trainee journey, including questionnaire forms built from instrument definitions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from instruments import Item
from instruments.kinds import AnswerField, kind_of
from study.forms import Form

FIELD_PREFIX = "q_"
# Instead of WTForms' "Not a valid choice.": what a trainee can act on.
CHOOSE_SHOWN = "Please choose one of the answers shown."


class ConsentForm(Form):
    choice = RadioField(
        "Do you agree to take part in this study?",
        choices=[SelectChoice("agree", "Yes, I agree to take part"),
                 SelectChoice("decline", "No, I do not want to take part")],
        validators=[InputRequired("Please choose whether you agree to take part.")],
        invalid_choice_message=CHOOSE_SHOWN,
    )


class WithdrawForm(Form):
    confirm = BooleanField(
        "Yes, I want to withdraw from the study",
        validators=[DataRequired("Tick the box to confirm that you want to withdraw.")],
    )
    reason = TextAreaField("If you like, tell us why (optional)",
                           validators=[Optional(), Length(max=500)])


class BookingForm(Form):
    session_id = RadioField("Choose a session", coerce=int,
                            validators=[InputRequired("Please choose a session.")],
                            invalid_choice_message="Please choose one of the sessions shown.")


def field_name(item: Item) -> str:
    """The form field of an item: its key behind ``q_``, apart from the form's own fields."""
    return FIELD_PREFIX + item.key


def _options_field(label: str, answer: AnswerField, presence: list[Any]) -> Field:
    return RadioField(label, choices=[SelectChoice(value, text) for value, text in answer.options],
                      validators=presence, invalid_choice_message=CHOOSE_SHOWN)


def _whole_number_field(label: str, answer: AnswerField, presence: list[Any]) -> Field:
    bounds_message = f"Please enter a whole number from {answer.min} to {answer.max}."
    return IntegerField(label, validators=[*presence,
                                           NumberRange(answer.min, answer.max, bounds_message)],
                        invalid_value_message=bounds_message,
                        render_kw={"inputmode": "numeric"})


def _line_field(label: str, answer: AnswerField, presence: list[Any]) -> Field:
    return StringField(label, validators=[*presence, Length(max=answer.max_length)])


def _lines_field(label: str, answer: AnswerField, presence: list[Any]) -> Field:
    return TextAreaField(label, validators=[*presence, Length(max=answer.max_length)])


# The WTForms field for each widget an item kind may ask for (instruments.kinds.AnswerField).
FIELD_BUILDERS: dict[str, Callable[[str, AnswerField, list[Any]], Field]] = {
    "options": _options_field,
    "whole_number": _whole_number_field,
    "line": _line_field,
    "lines": _lines_field,
}


def form_field(item: Item, answer: AnswerField) -> Field:
    """The form field of ``item``, built from what its kind says a trainee answers with."""
    presence = [InputRequired("Please answer this question.")] if item.required else [Optional()]
    return FIELD_BUILDERS[answer.widget](item.text or item.key, answer, presence)


def questionnaire_form(items: Sequence[Item], *, formdata: Any = None,
                       answers: Mapping[str, str] | None = None) -> Form:
    """A form for one page of an instrument, pre-filled with the answers already saved."""

    class QuestionnaireForm(Form):
        layouts: dict[str, str] = {}  # item key -> options in a row ("scale") or a "stack"

    data: dict[str, Any] = {}
    for item in items:
        answer = kind_of(item).answer_field(item)
        setattr(QuestionnaireForm, field_name(item), form_field(item, answer))
        QuestionnaireForm.layouts[item.key] = answer.layout
        if answers and item.key in answers:
            saved = answers[item.key]
            data[field_name(item)] = int(saved) if answer.widget == "whole_number" else saved
    return QuestionnaireForm(formdata=formdata, data=data)


def answers_from(form: Form, items: Sequence[Item]) -> dict[str, str]:
    """The answers given on the page, as stored strings; blank optional answers left out."""
    answers = {}
    for item in items:
        value = form[field_name(item)].data
        if value is None or value == "":
            continue
        answers[item.key] = str(value)
    return answers
