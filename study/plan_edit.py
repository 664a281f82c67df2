"""Editing a draft study's analysis plan in the browser (DESIGN §6).

Each blueprint has its own route (its own per-study role check) and calls
:func:`plan_edit_page`. The form has a field for every part of the plan that
:func:`~study.services.sap.plan_problems` checks; the document is built from the current draft
(or the default plan), so a key the form does not know is carried over unchanged, and validated
by the same ``plan_problems`` as the command line, each problem shown beside its field. Once
recruitment has opened the plan is frozen: the page only says so (a new version then needs
``flask --app app sap set … --reason``, as DESIGN §6 requires a deliberate, recorded change).
"""

from __future__ import annotations

import copy
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import (
    FloatField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from instruments import Library
from study import audit
from study.extensions import db
from study.extensions import instrument_library as library
from study.forms import Form, WholeNumberRange
from study.models import Study, StudyStatus
from study.services import adherence, sap
from study.services.analysis_service import POPULATIONS, study_outcomes
from study.views import write_or_explain

SENSITIVITY_LABELS = {"lmm": "Mixed model on all available data",
                      "multiple_imputation": "Multiple imputation of missing post scores"}
CRITERION_LABELS = {"module_completed": "Module completed",
                    "session_attended": "Session attended"}


class CheckboxesField(SelectMultipleField):
    """Several choices as a group of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PlanForm(Form):
    """Every field of an ``allport.sap/1`` plan, and the reason for the change."""

    primary_outcome = SelectField("Primary outcome",
                                  validators=[InputRequired("Choose the primary outcome.")])
    primary_time = RadioField("Primary time point", choices=[
        SelectChoice("post", "After the intervention (post)"),
        SelectChoice("followup", "Follow-up")],
        validators=[InputRequired("Choose the primary time point.")])
    primary_population = RadioField(
        "Primary population",
        choices=[SelectChoice(p.key, p.label) for p in POPULATIONS.values()],
        validators=[InputRequired("Choose the primary population.")])
    pp_education = SelectField("Per protocol, education arm: who counts",
                               choices=[SelectChoice(c, CRITERION_LABELS.get(c, c)) for c in
                                        sorted(adherence.CRITERIA["education"])])
    pp_contact = SelectField("Per protocol, contact arm: who counts",
                             choices=[SelectChoice(c, CRITERION_LABELS.get(c, c)) for c in
                                      sorted(adherence.CRITERIA["contact"])])
    min_minutes = IntegerField(
        "Per protocol, contact arm: at least this many minutes attended (optional)",
        validators=[Optional(), WholeNumberRange(0, 10_000, "Enter minutes from 0 to 10000.")],
        render_kw={"inputmode": "numeric"})
    min_fidelity = FloatField(
        "Per protocol, contact arm: the session's fidelity at least (optional)",
        validators=[Optional(), NumberRange(0, 1, "Enter a share from 0 to 1, e.g. 0.8.")],
        invalid_value_message="Enter a share from 0 to 1, e.g. 0.8.",
        render_kw={"inputmode": "decimal"})
    covariates = CheckboxesField("Covariates (baseline answers every ANCOVA adjusts for)")
    holm_family = CheckboxesField("Holm family: the secondary outcomes adjusted together")
    alpha = FloatField("α (significance level)",
                       validators=[InputRequired("Enter α, e.g. 0.05.")],
                       render_kw={"inputmode": "decimal"})
    sensitivity = CheckboxesField("Sensitivity analyses", choices=[
        SelectChoice(key, label) for key, label in SENSITIVITY_LABELS.items()])
    mi_m = IntegerField("Multiple imputation: number of imputed datasets (m)",
                        validators=[InputRequired("Enter m, e.g. 50.")],
                        render_kw={"inputmode": "numeric"})
    mi_seed = IntegerField("Multiple imputation: random seed",
                           validators=[InputRequired("Enter a seed (a whole number).")],
                           render_kw={"inputmode": "numeric"})
    reason = TextAreaField("Why does the plan change?", validators=[
        InputRequired("Say why the plan changes: the reason is kept with it."),
        Length(max=2000)])

    # plan_problems names the plan's keys at the start of each message: where each one goes.
    PROBLEM_FIELDS = (
        ("populations.per_protocol.min_minutes_attended", "min_minutes"),
        ("populations.per_protocol.min_session_fidelity", "min_fidelity"),
        ("populations.per_protocol.education", "pp_education"),
        ("populations.per_protocol.contact", "pp_contact"),
        ("populations.primary", "primary_population"),
        ("primary_outcome", "primary_outcome"), ("primary_time", "primary_time"),
        ("covariate", "covariates"), ("holm_family", "holm_family"), ("alpha", "alpha"),
        ("sensitivity", "sensitivity"), ("mi.m", "mi_m"), ("mi.seed", "mi_seed"),
    )

    def fill(self, plan: dict[str, Any]) -> None:
        """Show ``plan`` (on GET)."""
        rule = plan.get("populations", {}).get("per_protocol", {})
        self.primary_outcome.data = plan.get("primary_outcome")
        self.primary_time.data = plan.get("primary_time")
        self.primary_population.data = plan.get("populations", {}).get("primary")
        self.pp_education.data = rule.get("education")
        self.pp_contact.data = rule.get("contact")
        self.min_minutes.data = rule.get("min_minutes_attended")
        self.min_fidelity.data = rule.get("min_session_fidelity")
        self.covariates.data = list(plan.get("covariates", []))
        self.holm_family.data = list(plan.get("holm_family", []))
        self.alpha.data = plan.get("alpha")
        self.sensitivity.data = list(plan.get("sensitivity", []))
        self.mi_m.data = plan.get("mi", {}).get("m")
        self.mi_seed.data = plan.get("mi", {}).get("seed")

    def plan(self, base: dict[str, Any]) -> dict[str, Any]:
        """``base`` with what the form says; keys the form has no field for are kept."""
        plan = copy.deepcopy(base)
        plan["schema"] = sap.SCHEMA
        plan["primary_outcome"] = self.primary_outcome.data
        plan["primary_time"] = self.primary_time.data
        populations = plan.setdefault("populations", {})
        populations["primary"] = self.primary_population.data
        rule = populations.get("per_protocol")
        rule = dict(rule) if isinstance(rule, dict) else dict(adherence.DEFAULT_RULE)
        rule.update(education=self.pp_education.data, contact=self.pp_contact.data,
                    min_minutes_attended=self.min_minutes.data)
        # Absent means no threshold: a plan left without one keeps the form it was written in.
        if self.min_fidelity.data is None:
            rule.pop("min_session_fidelity", None)
        else:
            rule["min_session_fidelity"] = self.min_fidelity.data
        populations["per_protocol"] = rule
        plan["covariates"] = list(self.covariates.data or [])
        plan["holm_family"] = list(self.holm_family.data or [])
        plan["alpha"] = self.alpha.data
        plan["sensitivity"] = list(self.sensitivity.data or [])
        mi = plan.get("mi")
        plan["mi"] = {**(mi if isinstance(mi, dict) else {}),
                      "m": self.mi_m.data, "seed": self.mi_seed.data}
        return plan

    def place(self, problems: list[str]) -> list[str]:
        """Put each problem beside its field (the first of each); return those of no field."""
        elsewhere = []
        for problem in problems:
            name = next((field for prefix, field in self.PROBLEM_FIELDS
                         if problem.startswith(prefix)), None)
            if name is None:
                elsewhere.append(problem)
            elif not self[name].errors:  # a value that did not parse: said already
                self[name].errors = [_sentence(problem)]
        return elsewhere


def _sentence(problem: str) -> str:
    return problem[:1].upper() + problem[1:] + ("" if problem.endswith(".") else ".")


def _covariate_choices(study: Study, library: Library, plan: dict[str, Any]) -> list[str]:
    """The covariates offered: ``cohort`` and the baseline background answers.

    Background answers are the choice and whole-number items; any covariate the plan names
    already is offered too, so that showing the form never drops one.
    """
    names = [sap.COHORT_COVARIATE]
    baseline = study.timepoint("baseline")
    for pinned in baseline.instruments if baseline is not None else []:
        try:
            instrument = library.get(pinned.instrument_id, pinned.instrument_version)
        except LookupError:
            continue
        names += [f"{instrument.id}.{item.key}" for item in instrument.items
                  if item.kind in ("choice", "integer") and not item.contact]
    return names + [name for name in plan.get("covariates", []) if isinstance(name, str)
                    and name not in names]


def _base_plan(study: Study, library: Library) -> dict[str, Any]:
    current = sap.current_plan(db.session, study)
    return dict(current.plan) if current is not None else sap.default_plan(study, library)


def plan_edit_page(study: Study, *, nav: str, plan_endpoint: str) -> Any:
    """GET shows the form (or that the plan is frozen); POST sets the draft plan."""
    lib = library()
    frozen = study.status is not StudyStatus.DRAFT
    if frozen:
        status = 409 if request.method == "POST" else 200
        return render_template("sap/edit.html", study=study, nav=nav, frozen=True,
                               plan_url=url_for(plan_endpoint, slug=study.slug)), status
    base = _base_plan(study, lib)
    form = PlanForm()
    outcomes = study_outcomes(study, lib)
    form.primary_outcome.choices = [SelectChoice(o.name, f"{o.label} ({o.name})")
                                    for o in outcomes]
    form.holm_family.choices = [SelectChoice(o.name, f"{o.label} ({o.name})") for o in outcomes]
    form.covariates.choices = [SelectChoice(name, name)
                               for name in _covariate_choices(study, lib, base)]
    elsewhere: list[str] = []
    if request.method == "GET":
        form.fill(base)
    else:
        # Every problem at once: the plan's own checks run even when a field failed to parse
        # (the problems of such a field are not repeated beside it).
        typed = form.validate_on_submit()
        plan = form.plan(base)
        elsewhere = form.place(sap.plan_problems(plan, study, lib))
        if typed and not form.errors and not elsewhere:
            with write_or_explain(beside=form.reason) as attempt:
                version = sap.set_plan(db.session, study, lib, plan,
                                       reason=form.reason.data or "",
                                       actor=audit.actor_for(user=current_user))
                attempt.done(f"The draft plan is saved (SHA-256 {version.sha256[:12]}…); it is "
                             "frozen when recruitment opens.")
            if not attempt.refused:
                return redirect(url_for(plan_endpoint, slug=study.slug), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("sap/edit.html", study=study, nav=nav, frozen=False, form=form,
                           elsewhere=elsewhere, has_followup=study.timepoint("followup")
                           is not None,
                           plan_url=url_for(plan_endpoint, slug=study.slug)), status
