"""The audit trail page, for a study's coordinators and for admins (DESIGN §8).

Each blueprint has its own route (and so its own access check) and renders the same template
through :func:`render_audit_page`. The filters come in the query string; a value that is not a
trainee code, a known kind or a date re-renders the page with the message beside its field
(422), never a 500.
"""

from __future__ import annotations

import re
from typing import Any

from flask import render_template, request, url_for
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Optional, ValidationError

from study.extensions import db
from study.forms import Form
from study.models import Study
from study.services import audit_log

_CODE = re.compile(r"P[A-Z0-9]{8}")


class AuditFilterForm(Form):
    """The filters of the audit page (a GET form: nothing to forge, so no CSRF token)."""

    class Meta:
        csrf = False

    study = SelectField("Study", validators=[Optional()])
    code = StringField("Trainee code", validators=[Optional()],
                       filters=[lambda value: value.strip().upper() if value else value])
    action = SelectField("Kind of event", validators=[Optional()])
    since = DateField("From (date, UTC)", validators=[Optional()])
    until = DateField("To (date, UTC)", validators=[Optional()])

    def validate_code(self, field: StringField) -> None:
        if field.data and not _CODE.fullmatch(field.data):
            raise ValidationError("A trainee code is P and 8 letters or digits, e.g. PAB3CD4EF.")

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end date is before the start date.")


def render_audit_page(*, study: Study | None, nav: str | None, conceal: bool,
                      studies: list[Study] | None = None) -> Any:
    """The audit page: one study's events (``study``), or any of ``studies`` (an admin)."""
    form = AuditFilterForm(request.args, meta={"csrf": False})
    form.action.choices = [("", "Any kind")] + [
        (action, action.replace("_", " "))
        for action in audit_log.actions(db.session, study.id if study is not None else None)]
    if studies is None:
        del form.study
    else:
        form.study.choices = [("", "Every study")] + [(s.slug, s.title) for s in studies]
    status = 200
    if request.args and not form.validate():
        status = 422
        page = audit_log.AuditPage(events=[], page=1, last_page=1, total=0)
    else:
        page = audit_log.read(db.session, _wanted(form, study, studies),
                              page=request.args.get("page", 1, type=int), conceal=conceal)
    filters = {key: value for key, value in request.args.items() if key != "page" and value}

    def page_url(number: int) -> str:
        arguments: dict[str, Any] = {**(request.view_args or {}), **filters, "page": number}
        return url_for(request.endpoint or "", **arguments)

    return render_template("audit/events.html", study=study, nav=nav, form=form, result=page,
                           filters=filters, conceal=conceal, page_url=page_url), status


def _wanted(form: AuditFilterForm, study: Study | None, studies: list[Study] | None
            ) -> audit_log.AuditFilter:
    study_id = study.id if study is not None else None
    if studies is not None and form.study.data:
        study_id = next(s.id for s in studies if s.slug == form.study.data)
    return audit_log.AuditFilter(study_id=study_id, participant_code=form.code.data or None,
                                 action=form.action.data or None, since=form.since.data,
                                 until=form.until.data)


def filter_for_export(*, studies: list[Study]) -> audit_log.AuditFilter | None:
    """The filter of an admin's CSV download (the page's query string), None if invalid."""
    form = AuditFilterForm(request.args, meta={"csrf": False})
    form.action.choices = [("", "")] + [(a, a) for a in audit_log.actions(db.session)]
    form.study.choices = [("", "")] + [(s.slug, s.slug) for s in studies]
    if request.args and not form.validate():
        return None
    return _wanted(form, None, studies)
