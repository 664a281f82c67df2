"""Forms of the trainee journey, including questionnaire forms built from instrument definitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_wtf import FlaskForm
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

FIELD_PREFIX = "q_"
# Instead of WTForms' "Not a valid choice.": what a trainee can act on.
CHOOSE_SHOWN = "Please choose one of the answers shown."


class ConsentForm(FlaskForm):
    choice = RadioField(
        "Do you agree to take part in this study?",
        choices=[SelectChoice("agree", "Yes, I agree to take part"),
                 SelectChoice("decline", "No, I do not want to take part")],
        validators=[InputRequired("Please choose whether you agree to take part.")],
        invalid_choice_message=CHOOSE_SHOWN,
    )


class WithdrawForm(FlaskForm):
    confirm = BooleanField(
        "Yes, I want to withdraw from the study",
        validators=[DataRequired("Tick the box to confirm that you want to withdraw.")],
    )
    reason = TextAreaField("If you like, tell us why (optional)",
                           validators=[Optional(), Length(max=500)])


class BookingForm(FlaskForm):
    session_id = RadioField("Choose a session", coerce=int,
                            validators=[InputRequired("Please choose a session.")],
                            invalid_choice_message="Please choose one of the sessions shown.")


def field_name(item: Item) -> str:
    return FIELD_PREFIX + item.key


def _field_for(item: Item) -> Field:
    label = item.text or item.key
    required_message = "Please answer this question."
    presence = [InputRequired(required_message)] if item.required else [Optional()]
    if item.kind in ("scale", "choice"):
        choices = [SelectChoice(str(c.value), _option_label(item, c.value, c.label))
                   for c in item.choices]
        return RadioField(label, choices=choices, validators=presence,
                          invalid_choice_message=CHOOSE_SHOWN)
    if item.kind == "integer":
        bounds_message = f"Please enter a whole number from {item.min} to {item.max}."
        return IntegerField(label, validators=[*presence,
                                               NumberRange(item.min, item.max, bounds_message)],
                            invalid_value_message=bounds_message,
                            render_kw={"inputmode": "numeric"})
    if item.multiline:
        return TextAreaField(label, validators=[*presence, Length(max=2000)])
    return StringField(label, validators=[*presence, Length(max=500)])


def _option_label(item: Item, value: object, label: str) -> str:
    """On a numbered scale with labelled ends, the ends read "1 – Not at all", not "Not at all".

    A numbered scale is one whose middle options are labelled by their numbers; agreement
    scales, whose every option is a phrase, keep their labels as they are.
    """
    numbered = item.kind == "scale" and any(c.label == str(c.value) for c in item.choices)
    if numbered and label != str(value):
        return f"{value} – {label}"
    return label


def questionnaire_form(items: Sequence[Item], *, formdata: Any = None,
                       answers: Mapping[str, str] | None = None) -> FlaskForm:
    """A form for one page of an instrument, pre-filled with the answers already saved."""

    class QuestionnaireForm(FlaskForm):
        pass

    for item in items:
        setattr(QuestionnaireForm, field_name(item), _field_for(item))
    data: dict[str, Any] = {}
    for item in items:
        if answers and item.key in answers:
            value: Any = answers[item.key]
            if item.kind == "integer":
                value = int(value)
            data[field_name(item)] = value
    return QuestionnaireForm(formdata=formdata, data=data)


def answers_from(form: FlaskForm, items: Sequence[Item]) -> dict[str, str]:
    """The answers given on the page, as stored strings; blank optional answers left out."""
    answers = {}
    for item in items:
        value = form[field_name(item)].data
        if value is None or value == "":
            continue
        answers[item.key] = str(value)
    return answers
