"""Forms of the trainee journey, including questionnaire forms built from instrument definitions."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from wtforms import (
    BooleanField,
    Field,
    IntegerField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from instruments import Item
from instruments.kinds import DECIMAL_TEXT, AnswerField, decimal_places, is_iso_date, kind_of
from instruments.labels import plain_label
from study.forms import Form, WholeNumberRange

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


def _presence(required: bool, message: str = "Please answer this question.") -> list[Any]:
    return [InputRequired(message)] if required else [Optional()]


def _options_field(label: str, answer: AnswerField, required: bool) -> Field:
    return RadioField(label, choices=[SelectChoice(value, text) for value, text in answer.options],
                      validators=_presence(required), invalid_choice_message=CHOOSE_SHOWN)


class CheckboxesField(SelectMultipleField):
    """Several of the options may be ticked (a REDCap checkbox field), each a checkbox."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _several_field(label: str, answer: AnswerField, required: bool) -> Field:
    return CheckboxesField(
        label, choices=[SelectChoice(value, text) for value, text in answer.options],
        validators=_presence(required, "Please tick at least one answer."),
        invalid_choice_message=CHOOSE_SHOWN)


# An open bound still stops where a whole number no longer survives a double exactly (SPSS,
# Stata and the analysis hold answers as doubles): 400 typed digits would become infinity.
LARGEST_WHOLE = 2 ** 53


def _whole_number_field(label: str, answer: AnswerField, required: bool) -> Field:
    low, high = answer.min, answer.max
    if low is not None and high is not None:
        message = f"Please enter a whole number from {low} to {high}."
    elif low is not None:
        message = f"Please enter a whole number of at least {low}."
    elif high is not None:
        message = f"Please enter a whole number of at most {high}."
    else:
        message = "Please enter a whole number, such as 3."
    within = WholeNumberRange(-LARGEST_WHOLE if low is None else low,
                              LARGEST_WHOLE if high is None else high, message)
    return IntegerField(label, validators=[*_presence(required), within],
                        invalid_value_message=message, render_kw={"inputmode": "numeric"})


def _slider_field(label: str, answer: AnswerField, required: bool) -> Field:
    low = 0 if answer.min is None else answer.min
    high = 100 if answer.max is None else answer.max
    message = f"Please enter a whole number from {low} to {high}."
    return IntegerField(label, validators=[*_presence(required),
                                           WholeNumberRange(low, high, message)],
                        invalid_value_message=message,
                        render_kw={"inputmode": "numeric", "min": low, "max": high,
                                   "data-slider": True})


def _number_text(value: float) -> str:
    return f"{value:g}"


class DecimalText:
    """A number written with digits and an optional decimal point, within the item's bounds.

    With ``decimals``, exactly that many decimal places (REDCap's ``number_2dp``: 37.50).
    """

    def __init__(self, low: float | None, high: float | None,
                 decimals: int | None = None) -> None:
        self.low, self.high, self.decimals = low, high, decimals
        if low is not None and high is not None:
            self.message = (f"Please enter a number from {_number_text(low)} "
                            f"to {_number_text(high)}.")
        elif low is not None:
            self.message = f"Please enter a number of at least {_number_text(low)}."
        elif high is not None:
            self.message = f"Please enter a number of at most {_number_text(high)}."
        else:
            self.message = "Please enter a number, such as 12 or 2.5."
        if decimals is not None:
            example = f"{low if low is not None and low > 0 else 12:.{decimals}f}"
            self.places = (f"Please enter the number with {decimals} decimal "
                           f"place{'s' if decimals > 1 else ''}, such as {example}.")

    def __call__(self, form: Form, field: Field) -> None:
        text = (field.data or "").strip()
        if not text:
            return
        if not DECIMAL_TEXT.fullmatch(text):
            raise ValidationError(self.message)
        value = float(text)
        if not math.isfinite(value) or (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            raise ValidationError(self.message)
        if self.decimals is not None and decimal_places(text) != self.decimals:
            raise ValidationError(self.places)


def _decimal_field(label: str, answer: AnswerField, required: bool) -> Field:
    return StringField(label, validators=[*_presence(required),
                                          DecimalText(answer.min, answer.max, answer.decimals)],
                       filters=[_strip], render_kw={"inputmode": "decimal"})


class IsoDate:
    """A date of the calendar posted as ``YYYY-MM-DD``, within the item's bounds (either open)."""

    def __init__(self, earliest: str | None, latest: str | None) -> None:
        self.earliest, self.latest = earliest, latest
        if earliest and latest:
            self.outside = (f"Please enter a date from {_date_text(earliest)} "
                            f"to {_date_text(latest)}.")
        elif earliest:
            self.outside = f"Please enter a date on or after {_date_text(earliest)}."
        elif latest:
            self.outside = f"Please enter a date on or before {_date_text(latest)}."

    def __call__(self, form: Form, field: Field) -> None:
        text = field.data or ""
        if not text:
            return
        if not is_iso_date(text):
            raise ValidationError("Please enter a date as year-month-day, for example "
                                  "2026-03-31.")
        # ISO dates compare as text in calendar order.
        if (self.earliest and text < self.earliest) or (self.latest and text > self.latest):
            raise ValidationError(self.outside)


def _date_text(iso: str) -> str:
    """An ISO date as a trainee reads it: 31 March 2026."""
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def _date_field(label: str, answer: AnswerField, required: bool) -> Field:
    # The browser's date picker offers only the days within the bounds.
    bounds = {name: bound for name, bound in (("min", answer.earliest), ("max", answer.latest))
              if bound}
    return StringField(label, validators=[*_presence(required),
                                          IsoDate(answer.earliest, answer.latest)],
                       filters=[_strip], render_kw={"type": "date", **bounds})


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _line_field(label: str, answer: AnswerField, required: bool) -> Field:
    return StringField(label, validators=[*_presence(required), Length(max=answer.max_length)])


def _lines_field(label: str, answer: AnswerField, required: bool) -> Field:
    return TextAreaField(label, validators=[*_presence(required), Length(max=answer.max_length)])


# The WTForms field for each widget an item kind may ask for (instruments.kinds.AnswerField).
# ``none`` (text shown on its own, a descriptive item) has no field.
FIELD_BUILDERS: dict[str, Callable[[str, AnswerField, bool], Field]] = {
    "options": _options_field,
    "several": _several_field,
    "whole_number": _whole_number_field,
    "decimal": _decimal_field,
    "date": _date_field,
    "slider": _slider_field,
    "line": _line_field,
    "lines": _lines_field,
}
NO_FIELD = "none"


def form_field(item: Item, answer: AnswerField) -> Field:
    """The form field of ``item``, built from what its kind says a trainee answers with.

    Its label is plain text (the error summary quotes it); a label written in HTML is shown
    as markup beside the field by the template.
    """
    label = item.text or item.key
    if item.html:
        label = plain_label(label)
    return FIELD_BUILDERS[answer.widget](label, answer, item.required)


class QuestionnaireForm(Form):
    """One page of an instrument; ``skip`` names fields whose items are not asked."""

    answer_fields: dict[str, AnswerField]
    skip: frozenset[str] = frozenset()

    @property
    def layouts(self) -> dict[str, str]:
        """Item key -> options in a row (``scale``) or one under another (``stack``)."""
        return {key: answer.layout for key, answer in self.answer_fields.items()}

    def validate(self, extra_validators: Any = None) -> bool:
        """Validate the fields of the items asked; the others are neither required nor checked.

        The posted value of an item not asked is discarded.
        """
        super().validate(extra_validators)
        for name in self.skip:
            self[name].errors = []
            self[name].data = None
            self[name].raw_data = []
        self._errors = None
        return not self.errors


@functools.lru_cache(maxsize=512)
def page_form_class(items: tuple[Item, ...]) -> type[QuestionnaireForm]:
    """The form class of one page of items, built once per process.

    Items are frozen values, so the page's items are the key: a form class holds only what the
    definition says (fields, validators, options); each request binds a new form from it.
    """

    class PageForm(QuestionnaireForm):
        answer_fields = {}  # item key -> how it is answered (widget, options, bounds, layout)

    for item in items:
        answer = kind_of(item).answer_field(item)
        PageForm.answer_fields[item.key] = answer
        if answer.widget != NO_FIELD:
            setattr(PageForm, field_name(item), form_field(item, answer))
    return PageForm


def questionnaire_form(items: Sequence[Item], *, formdata: Any = None,
                       answers: Mapping[str, str] | None = None) -> QuestionnaireForm:
    """A form for one page of an instrument, pre-filled with the answers already saved."""
    form_class = page_form_class(tuple(items))
    data: dict[str, Any] = {}
    for key, answer in form_class.answer_fields.items():
        if answers and key in answers and answer.widget != NO_FIELD:
            data[FIELD_PREFIX + key] = _prefill(answer, answers[key])
    return form_class(formdata=formdata, data=data)


def _prefill(answer: AnswerField, saved: str) -> Any:
    if answer.widget in ("whole_number", "slider"):
        return int(saved)
    if answer.widget == "several":
        return [code for code in saved.split(",") if code]
    return saved


def answer_text(form: Form, item: Item) -> str | None:
    """The answer given on the page for ``item`` as stored text; ``None`` when blank.

    Ticked checkboxes are their codes in the order of the options, joined by ``,``.
    """
    name = field_name(item)
    if name not in form:
        return None
    value = form[name].data
    if isinstance(value, list):
        options = form.answer_fields[item.key].options  # type: ignore[attr-defined]
        value = ",".join(code for code, _ in options if code in value)
    if value is None or value == "":
        return None
    return str(value)


def answers_from(form: Form, items: Sequence[Item]) -> dict[str, str]:
    """The answers given on the page, as stored strings; blank optional answers left out."""
    answers = {}
    for item in items:
        text = answer_text(form, item)
        if text is not None:
            answers[item.key] = text
    return answers
