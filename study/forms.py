"""Forms shared by every blueprint."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms.csrf.core import CSRFTokenField


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


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
