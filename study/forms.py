"""Forms shared by every blueprint."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms.csrf.core import CSRFTokenField
from wtforms.validators import ValidationError


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


class WholeNumberRange:
    """A whole number from ``low`` to ``high`` (either open), however many digits were typed.

    WTForms' ``NumberRange`` converts the number to a float to test it for NaN, which a number
    of some 310 digits overflows: an error page instead of the message. Use this with every
    ``IntegerField``; ``NumberRange`` stays right for a ``FloatField`` (its data is a float).
    """

    def __init__(self, low: int | float | None, high: int | float | None, message: str) -> None:
        self.low, self.high, self.message = low, high, message

    def __call__(self, form: Any, field: Any) -> None:
        data = field.data
        if data is None or (self.low is not None and data < self.low) or (
                self.high is not None and data > self.high):
            raise ValidationError(self.message)


class _TokenWhenDrawn(CSRFTokenField):
    """The CSRF token field: its signed token is made when the form is drawn, not when bound.

    WTForms makes it on binding, which a valid post that redirects never uses; signing it was
    a fortieth of every answer post. Flask-WTF keeps one token per request either way.
    """

    def process(self, *args: Any, **kwargs: Any) -> None:
        super(CSRFTokenField, self).process(*args, **kwargs)

    def _value(self) -> str:
        return str(self.csrf_impl.generate_csrf_token(self))


class _CSRF(FlaskForm.Meta.csrf_class):  # type: ignore[name-defined,misc]
    field_class = _TokenWhenDrawn


class Form(FlaskForm):
    """The base of every form: NUL characters are dropped from what was typed.

    PostgreSQL refuses NUL in text (``DataError``), SQLite keeps it; no person types one, so it
    is removed from every field's data rather than answered with a 500 on one database only.
    """

    class Meta:
        csrf_class = _CSRF

        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            # The unbound field belongs to the form class and is bound again for every form:
            # its own filters are left as they are (adding to them grew the list by one per
            # request, for as long as the process lived).
            filters = (_without_nul, *unbound_field.kwargs.get("filters", ()))
            return unbound_field.bind(form=form, filters=filters, **options)


class ActionForm(Form):
    """A POST-only button: no fields, but it carries the CSRF token."""
