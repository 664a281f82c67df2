"""Setting a study up in the browser: a new study, its settings, the check list, opening.

Who may create a study (DESIGN §1): an administrator, or a member of staff who coordinates some
study already; the creator becomes the new study's coordinator. Each settings page is one form
that re-renders with the problem beside the field (422) and keeps what was typed; once
recruitment has opened, what it froze is shown read-only (``study_setup`` refuses it anyway).
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from study import audit
from study.auth.access import has_role_anywhere, study_role_required
from study.coordinator.blueprint import bp
from study.coordinator.setup_forms import (
    ArmsForm,
    CloseForm,
    ConsentForm,
    DetailsForm,
    ModulePageForm,
    MoveForm,
    NewStudyForm,
    ScheduleForm,
    chosen_questionnaires,
    questionnaire_form,
)
from study.extensions import db
from study.extensions import instrument_library as library
from study.forms import ActionForm
from study.models import ArmKind, Role, Study, StudyStatus
from study.services import studies, study_setup
from study.services.sap import current_plan
from study.views import require_button, write_or_explain

SECTIONS = {
    "details": ("Details", "coordinator.setup_details"),
    "arms": ("Arms and randomization", "coordinator.setup_arms"),
    "module": ("Education module", "coordinator.setup_module"),
    "questionnaires": ("Questionnaires", "coordinator.setup_questionnaires"),
    "consent": ("Consent", "coordinator.setup_consent"),
    "schedule": ("Schedule", "coordinator.setup_schedule"),
    "plan": ("Analysis plan", "coordinator.plan"),
}


def _actor() -> str:
    return audit.actor_for(user=current_user)


def _page(template: str, study: Study, status: int = 200, **context: Any) -> Any:
    return render_template(f"coordinator/setup/{template}", study=study, sections=SECTIONS,
                           frozen=study.status is not StudyStatus.DRAFT, **context), status


def _back(endpoint: str, study: Study, **values: Any) -> Any:
    return redirect(url_for(endpoint, slug=study.slug, **values), code=303)


def _refused_as_frozen(study: Study, what: str) -> bool:
    """On a POST to a page that recruitment froze, say why at the top (True) and change nothing.

    Its form is shown read-only then, so whatever was posted did not come from it; checking
    the fields first would only say that required ones are missing.
    """
    if request.method != "POST" or study.status is StudyStatus.DRAFT:
        return False
    with write_or_explain():
        study_setup.require_draft(study, what)
    return True


# --- a new study ----------------------------------------------------------------------------


@bp.route("/new-study", methods=["GET", "POST"])
@login_required
def new_study() -> Any:
    """A new draft study; its creator becomes its coordinator (DESIGN §1)."""
    if not has_role_anywhere(current_user, Role.COORDINATOR):
        abort(403, description="Only administrators and coordinators of a study can create "
                               "studies.")
    form = NewStudyForm()
    if form.validate_on_submit():
        with write_or_explain(beside=form.slug) as attempt:
            study = study_setup.new_study(
                db.session, library(), slug=form.slug.data or "", title=form.title.data or "",
                description=form.description.data or "",
                protocol_number=form.protocol_number.data or "",
                ethics_approval_number=form.ethics_approval_number.data or "",
                creator=current_user)
            slug = study.slug
            attempt.done("The study is created as a draft. The check list below says what it "
                         "needs before recruitment can open.")
        if not attempt.refused:
            return redirect(url_for("coordinator.setup", slug=slug), code=303)
    status = 422 if form.errors else 200
    return render_template("coordinator/setup/new.html", form=form), status


# --- the check list, opening and closing ------------------------------------------------------


def _checklist_page(study: Study, status: int = 200, close_form: CloseForm | None = None) -> Any:
    problems = studies.recruitment_problems(study, library())
    if any(problem.startswith("The post time point has no questionnaire") for problem in problems):
        # The plan names a post outcome; without one its problems only repeat this one.
        problems = [p for p in problems if not p.startswith("Analysis plan:")]
    return _page(
        "index.html", study, status,
        problems=[(problem, study_setup.section_for(problem)) for problem in problems],
        warnings=studies.recruitment_warnings(study, library()),
        plan=current_plan(db.session, study),
        open_form=ActionForm(prefix="open"),
        close_form=close_form or CloseForm(prefix="close", slug=study.slug))


@bp.get("/<slug>/setup/")
@study_role_required(Role.COORDINATOR)
def setup(study: Study) -> Any:
    """The check list: what stops recruitment opening, the warnings, open and close."""
    return _checklist_page(study)


@bp.post("/<slug>/setup/open")
@study_role_required(Role.COORDINATOR)
def open_recruitment(study: Study) -> Any:
    """Open recruitment (refused while the check list has problems); freezes the plan."""
    require_button("open")
    with write_or_explain() as attempt:
        warnings = studies.open_recruitment(db.session, study, library(), actor=_actor())
        attempt.done("Recruitment is open and the analysis plan is frozen."
                     + (" " + " ".join(warnings) if warnings else ""))
    return _back("coordinator.setup", study)


@bp.post("/<slug>/setup/close")
@study_role_required(Role.COORDINATOR)
def close_recruitment(study: Study) -> Any:
    """Close recruitment once the study's short name is typed again."""
    form = CloseForm(prefix="close", slug=study.slug)
    if not form.validate_on_submit():
        return _checklist_page(study, 422, close_form=form)
    with write_or_explain() as attempt:
        studies.close_recruitment(db.session, study, actor=_actor())
        attempt.done("Recruitment is closed: no new trainees can join. Trainees already in "
                     "the study carry on.")
    return _back("coordinator.setup", study)


# --- details --------------------------------------------------------------------------------


@bp.route("/<slug>/setup/details", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def setup_details(study: Study) -> Any:
    """Title, description, protocol and ethics numbers: editable at any time."""
    form = DetailsForm(obj=study)
    if form.validate_on_submit():
        with write_or_explain(beside=form.title) as attempt:
            study_setup.update_details(
                db.session, study, title=form.title.data or "",
                description=form.description.data or "",
                protocol_number=form.protocol_number.data or "",
                ethics_approval_number=form.ethics_approval_number.data or "", actor=_actor())
            attempt.done("The study's details are saved.")
        if not attempt.refused:
            return _back("coordinator.setup_details", study)
    return _page("details.html", study, 422 if form.errors else 200, form=form)


# --- arms -----------------------------------------------------------------------------------


def _arm_values(study: Study) -> dict[str, Any]:
    values: dict[str, Any] = {"block_sizes": study.block_sizes,
                              "strata_factors": study.strata_factors.replace(",", ", "),
                              "planned_sample_size": study.planned_sample_size}
    for arm in study.arms:
        if arm.kind in (ArmKind.EDUCATION, ArmKind.CONTACT):
            values.update({f"{arm.kind.value}_name": arm.name,
                           f"{arm.kind.value}_description": arm.description,
                           f"{arm.kind.value}_ratio": arm.ratio})
    return values


@bp.route("/<slug>/setup/arms", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def setup_arms(study: Study) -> Any:
    """Arms, allocation ratio, blocks, strata and planned size (frozen at opening)."""
    form = ArmsForm(data=_arm_values(study), study=study, library=library())
    refused = _refused_as_frozen(study, "the arms, the allocation ratio, the blocks and "
                                        "the strata")
    if not refused and form.validate_on_submit():
        settings = study_setup.ArmSettings(
            education_name=form.education_name.data or "",
            education_description=form.education_description.data or "",
            contact_name=form.contact_name.data or "",
            contact_description=form.contact_description.data or "",
            education_ratio=form.education_ratio.data or 0,
            contact_ratio=form.contact_ratio.data or 0,
            block_sizes=form.block_sizes.data or "", strata_factors=form.strata_factors.data or "",
            planned_sample_size=form.planned_sample_size.data)
        with write_or_explain(beside=form.block_sizes) as attempt:
            study_setup.update_arms(db.session, study, library(), settings, actor=_actor())
            attempt.done("The arms and the randomization design are saved.")
        if not attempt.refused:
            return _back("coordinator.setup_arms", study)
        refused = True
    return _page("arms.html", study, 422 if form.errors or refused else 200, form=form,
                 warnings=studies.recruitment_warnings(study, library()))


# --- the education module -------------------------------------------------------------------


def _module_page(study: Study, form: ModulePageForm, status: int = 200) -> Any:
    return _page("module.html", study, status, form=form, move_form=MoveForm(prefix="move"),
                 delete_form=ActionForm(prefix="delete"))


@bp.route("/<slug>/setup/module", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def setup_module(study: Study) -> Any:
    """The education module's pages, and a form that adds one."""
    form = ModulePageForm()
    refused = _refused_as_frozen(study, "the education module")
    if not refused and form.validate_on_submit():
        with write_or_explain(beside=form.body) as attempt:
            position = study_setup.add_module_page(
                db.session, study, title=form.title.data or "", body=form.body.data or "",
                video_url=form.video_url.data, actor=_actor())
            attempt.done(f"Page {position + 1} is added to the module.")
        if not attempt.refused:
            return _back("coordinator.setup_module", study)
        refused = True
    return _module_page(study, form, 422 if form.errors or refused else 200)


def _page_at(study: Study, position: int) -> Any:
    if not 0 <= position < len(study.module_pages):
        abort(404)
    return study.module_pages[position]


@bp.route("/<slug>/setup/module/<int:position>", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def setup_module_page(study: Study, position: int) -> Any:
    """Edit the module page at ``position`` (0-based)."""
    form = ModulePageForm(obj=_page_at(study, position))
    refused = _refused_as_frozen(study, "the education module")
    if not refused and form.validate_on_submit():
        with write_or_explain(beside=form.body) as attempt:
            study_setup.edit_module_page(
                db.session, study, position, title=form.title.data or "",
                body=form.body.data or "", video_url=form.video_url.data, actor=_actor())
            attempt.done(f"Page {position + 1} is saved.")
        if not attempt.refused:
            return _back("coordinator.setup_module", study)
    return _page("module_page.html", study, 422 if form.errors or refused else 200, form=form,
                 position=position)


@bp.post("/<slug>/setup/module/<int:position>/delete")
@study_role_required(Role.COORDINATOR)
def delete_module_page(study: Study, position: int) -> Any:
    """Delete the module page at ``position``."""
    _page_at(study, position)
    require_button("delete")
    with write_or_explain() as attempt:
        study_setup.delete_module_page(db.session, study, position, actor=_actor())
        attempt.done(f"Page {position + 1} is deleted.")
    return _back("coordinator.setup_module", study)


@bp.post("/<slug>/setup/module/<int:position>/move")
@study_role_required(Role.COORDINATOR)
def move_module_page(study: Study, position: int) -> Any:
    """Move the module page at ``position`` one place up or down."""
    _page_at(study, position)
    form = MoveForm(prefix="move")
    if not form.validate_on_submit():
        abort(400, description="The form expired or said neither up nor down; please reload "
                               "the page and try again.")
    with write_or_explain() as attempt:
        moved_to = study_setup.move_module_page(db.session, study, position,
                                                -1 if form.direction.data == "up" else 1,
                                                actor=_actor())
        attempt.done(f"The page is now page {moved_to + 1}.")
    return _back("coordinator.setup_module", study)


# --- questionnaires -------------------------------------------------------------------------


@bp.route("/<slug>/setup/questionnaires", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def setup_questionnaires(study: Study) -> Any:
    """The questionnaires of each time point, with the licensed-wording check."""
    instruments = study_setup.trainee_instruments(library())
    current = {tp.name: [p.instrument_id for p in tp.instruments] for tp in study.timepoints}
    form = questionnaire_form(instruments, current)
    refused = False
    if form.validate_on_submit():
        with write_or_explain() as attempt:
            study_setup.set_questionnaires(db.session, study, library(),
                                           chosen_questionnaires(form, instruments),
                                           actor=_actor())
            attempt.done("The questionnaires are saved.")
        if not attempt.refused:
            return _back("coordinator.setup_questionnaires", study)
        refused = True
    missing = {i.id: study_setup.wording_missing(library(), i.id) for i in instruments}
    return _page("questionnaires.html", study, 422 if form.errors or refused else 200, form=form,
                 instruments=list(enumerate(instruments)), missing=missing,
                 timepoints=[("baseline", "Before the intervention (baseline)"),
                             ("post", "After the intervention (post)"),
                             ("followup", "Follow-up (optional)")])


# --- consent --------------------------------------------------------------------------------


@bp.route("/<slug>/setup/consent", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def setup_consent(study: Study) -> Any:
    """The consent text: each save is a new version."""
    current = study.current_consent
    form = ConsentForm(data={"text": current.text if current else "",
                             "data_kept": ("yes" if current.data_kept_on_withdrawal else "no")
                             if current else None})
    if form.validate_on_submit():
        with write_or_explain(beside=form.text) as attempt:
            document = study_setup.add_consent_version(
                db.session, study, text=form.text.data or "",
                data_kept_on_withdrawal=form.data_kept.data == "yes", actor=_actor())
            attempt.done(f"Version {document.version} of the consent text is saved; every "
                         "trainee who consents from now on reads it.")
        if not attempt.refused:
            return _back("coordinator.setup_consent", study)
    return _page("consent.html", study, 422 if form.errors else 200, form=form,
                 versions=list(reversed(study.consent_documents)))


# --- schedule -------------------------------------------------------------------------------


@bp.route("/<slug>/setup/schedule", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def setup_schedule(study: Study) -> Any:
    """Intervention period, windows (frozen at opening) and the reminder interval."""
    form = ScheduleForm(obj=study)
    if form.validate_on_submit():
        schedule = study_setup.Schedule(
            intervention_period_days=form.intervention_period_days.data or 0,
            post_window_days=form.post_window_days.data,
            followup_offset_days=form.followup_offset_days.data or 0,
            followup_window_days=form.followup_window_days.data,
            reminder_interval_days=form.reminder_interval_days.data or 0)
        with write_or_explain(beside=form.intervention_period_days) as attempt:
            study_setup.update_schedule(db.session, study, schedule, actor=_actor())
            attempt.done("The schedule is saved.")
        if not attempt.refused:
            return _back("coordinator.setup_schedule", study)
    return _page("schedule.html", study, 422 if form.errors else 200, form=form,
                 frozen_fields=study_setup.FROZEN_SCHEDULE, has_followup=(
                     study.timepoint("followup") is not None), method=request.method)
