"""Copying a study as a draft for its next run (``studies.copy_study``): a small form page."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from study import audit
from study.auth.access import has_role, study_role_required
from study.coordinator.blueprint import bp
from study.errors import DomainError
from study.extensions import db
from study.extensions import instrument_library as library
from study.forms import Form
from study.models import Role, Study
from study.services import staff
from study.services.studies import SLUG_RE, SLUG_RULE, copy_study
from study.views import write_or_explain


def _stripped(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class CopyStudyForm(Form):
    """The new study's slug and title, and whether its cohorts come along."""

    slug = StringField("Short name of the new study (its slug, part of every address)",
                       filters=[_stripped],
                       validators=[DataRequired("Enter the new study's slug."),
                                   Regexp(SLUG_RE.pattern + "$", message=f"Use {SLUG_RULE}.")])
    title = StringField("Title of the new study", filters=[_stripped], validators=[
        DataRequired("Enter the new study's title."), Length(max=200)])
    cohorts = BooleanField("Also copy the cohorts' names and sites (not their dates)")


@bp.route("/<slug>/copy", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def copy(study: Study) -> Any:
    """Ask for the new slug and title; POST makes the copy and opens its overview."""
    form = CopyStudyForm()
    if request.method == "GET":
        form.title.data = f"{study.title} (copy)"
    elif form.validate_on_submit():
        actor = audit.actor_for(user=current_user)
        with write_or_explain(beside={DomainError: form.slug}) as attempt:
            new = copy_study(db.session, study, form.slug.data or "", form.title.data or "",
                             library=library(), actor=actor, cohorts=bool(form.cohorts.data))
            if not has_role(current_user, new, Role.COORDINATOR):
                staff.grant_role(db.session, current_user, Role.COORDINATOR.value, new,
                                 actor=actor)
            attempt.done(f"Copied as the draft study {new.title!r}: no trainees, allocations "
                         "or audit trail came along. Set it up before opening recruitment.")
        if not attempt.refused:
            return redirect(url_for("coordinator.overview", slug=new.slug), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("coordinator/copy.html", study=study, form=form), status
