"""The trainee journey on the web: one personal link, every step a page (DESIGN §3).

Every write locks the participant row first (``lock_participant``), so a double click, a
replayed form or two open tabs are serialised and find the work already done.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from instruments import Instrument, Item
from study.database import begin_for_writing, begin_read_only
from study.extensions import csrf, db
from study.extensions import instrument_library as library
from study.forms import ActionForm
from study.models import (
    ArmKind,
    ModuleProgress,
    Participant,
    ParticipantStatus,
    Study,
    Timepoint,
)
from study.services import contact, journey
from study.services.allocation import allocate, existing_allocation, lock_participant
from study.services.invitations import participant_for_token
from study.services.journey import StepName
from study.services.pages import (
    Pages,
    applicable,
    asked_answers,
    next_page,
    pages,
    previous_page,
    resolve_page,
    skippable_pages_after,
)
from study.trainee.forms import (
    BookingForm,
    ConsentForm,
    QuestionnaireForm,
    WithdrawForm,
    answer_text,
    answers_from,
    field_name,
    page_form_class,
    questionnaire_form,
)
from study.trainee.questions import (
    kept_markup,
    later_conditions,
    layout,
    outside_answers,
    question_markup,
    question_numbers,
)
from study.views import write_or_explain

bp = Blueprint("trainee", __name__, url_prefix="/t")

# The page of each step that has one; the others are told on the status page. Questionnaires
# have a page per time point and instrument (``step_url``).
STEP_ENDPOINTS = {
    StepName.WELCOME: "trainee.welcome",
    StepName.ALLOCATION: "trainee.allocation",
    StepName.EDUCATION: "trainee.education",
    StepName.CONTACT: "trainee.sessions",
}


def with_participant(view: Any = None, *, read_first: bool = False) -> Any:
    """Resolve the link's token to its participant, or answer with the friendly 404 page.

    A POST locks the participant row at once, so double clicks and open tabs are serialised.
    With ``read_first`` the view reads and validates outside any write lock and takes the lock
    only to store (``start_writing``): the questionnaire, where most posts happen.
    """

    def decorate(view: Any) -> Any:
        @wraps(view)
        def wrapper(token: str, **kwargs: Any) -> Any:
            lock = request.method == "POST" and not read_first
            if request.method == "POST" and read_first:
                begin_read_only()
            participant = None
            if len(token) <= 100:
                participant = participant_for_token(db.session, token, lock=lock)
            if participant is None:
                abort(404, description="This link is not valid. Please check that you copied "
                                       "the whole link from your invitation, or contact your "
                                       "study coordinator.")
            g.participant = participant
            g.token = token
            return view(participant, token, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def announce_expired_token(form: Any) -> None:
    """A form whose CSRF token expired re-renders with what was entered, asking to send again.

    Trainee forms are exempt from the global CSRF check (which can only show an error page)
    and check the token themselves, so nothing a trainee chose is lost.
    """
    if "csrf_token" in form.errors:
        form.errors.pop("csrf_token", None)
        flash("This page was open for a long time, so for your security we need you to send it "
              "again. What you chose is still filled in: please check it and press the button "
              "again.", "warning")


def start_writing(participant: Participant) -> Participant:
    """End the read-only part of a ``read_first`` request and lock the participant to write.

    When the participant's row, the study's and their submitted questionnaires are as the read
    part found them (``journey.lock_if_unchanged``, one statement that also takes the lock),
    the writing part goes on with what was read; anything else it read is expired. Otherwise
    the participant is read again under the lock, and all but the study and its time points
    (which only a draft study can change, ``study_setup``) are expired to be read again.
    """
    session = db.session
    reading = journey.take_reading(session)
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True
    begin_for_writing()
    unchanged = journey.lock_if_unchanged(session, participant, reading)
    confirmed = (participant, participant.study) if unchanged else ()
    for instance in list(session.identity_map.values()):
        if not isinstance(instance, Study | Timepoint) and instance not in confirmed:
            session.expire(instance)
    return participant if unchanged else lock_participant(session, participant.id)


def step_url(session: Session, participant: Participant, token: str) -> str:
    step = journey.next_step(session, participant)
    if step.name is StepName.QUESTIONNAIRE:
        return url_for("trainee.questionnaire", token=token, timepoint=step.timepoint,
                       instrument_id=step.instrument_id)
    endpoint = STEP_ENDPOINTS.get(step.name)
    if endpoint is not None:
        return url_for(endpoint, token=token)
    return url_for("trainee.status", token=token)


def go_on(participant: Participant, token: str) -> Any:
    """After a write: on to wherever the trainee's link leads now."""
    return redirect(step_url(db.session, participant, token), code=303)


@bp.get("/<token>")
@with_participant
def start(participant: Participant, token: str) -> Any:
    return redirect(step_url(db.session, participant, token))


@bp.get("/<token>/welcome")
@with_participant
def welcome(participant: Participant, token: str) -> Any:
    if journey.next_step(db.session, participant).name is not StepName.WELCOME:
        return redirect(step_url(db.session, participant, token))
    return render_template("trainee/welcome.html", participant=participant,
                           study=participant.study, token=token)


@bp.route("/<token>/consent", methods=["GET", "POST"])
@csrf.exempt  # the form checks its token and re-renders the choice when it expired
@with_participant
def consent(participant: Participant, token: str) -> Any:
    document = participant.study.current_consent
    if journey.next_step(db.session, participant).name is not StepName.WELCOME or document is None:
        return redirect(step_url(db.session, participant, token))
    form = ConsentForm()
    if form.validate_on_submit():
        with write_or_explain() as attempt:
            journey.record_consent(db.session, participant, document,
                                   agree=form.choice.data == "agree")
        if attempt.refused:
            return redirect(url_for("trainee.status", token=token))
        return go_on(participant, token)
    if request.method == "POST":
        announce_expired_token(form)
    return render_template("trainee/consent.html", form=form, document=document,
                           study=participant.study, token=token), \
        422 if request.method == "POST" else 200


def _questionnaire_context(participant: Participant, timepoint: Timepoint, instrument_id: str
                           ) -> tuple[Instrument, int, int]:
    """The instrument pinned at the time point, its place among the time point's, and how many."""
    pinned = journey.instruments_at(db.session, participant, timepoint.name)
    names = [si.instrument_id for si in pinned]
    if instrument_id not in names:
        abort(404)
    number = names.index(instrument_id)
    instrument = library().get(instrument_id, pinned[number].instrument_version)
    return instrument, number + 1, len(names)


@bp.route("/<token>/q/<timepoint>/<instrument_id>", methods=["GET", "POST"])
@csrf.exempt  # checked by the form itself, so an expired token re-renders with answers kept
@with_participant(read_first=True)
def questionnaire(participant: Participant, token: str, timepoint: str,
                  instrument_id: str) -> Any:
    """One page of a questionnaire; the server decides which items are asked (branching logic).

    Pages whose every item is not asked are skipped, both ways. A posted page is validated and
    stored for the items asked given its answers; an item that became asked by this page's
    answers and was not on screen (no JavaScript) brings the page back with it shown.
    """
    step = journey.next_step(db.session, participant)
    if step.name is not StepName.QUESTIONNAIRE or (step.timepoint, step.instrument_id) != (
            timepoint, instrument_id):
        # Submitted already, not open yet, or no such page: the link takes them where they are.
        return redirect(step_url(db.session, participant, token))
    point = journey.timepoint_named(db.session, participant, timepoint)
    assert point is not None  # the step's own time point
    instrument, number, count = _questionnaire_context(participant, point, instrument_id)
    all_pages = pages(instrument)
    default_page, saved = journey.saved_progress(db.session, participant, point, instrument_id)
    page = resolve_page(all_pages, request.args.get("page", default_page, type=int),
                        applicable(instrument, saved))
    items = all_pages[page]
    posted = request.method == "POST"
    numbers = question_numbers(instrument)
    # A posted page shows what was posted (an answer left out stays blank, even if an earlier
    # visit saved one); a fetched page shows what was saved.
    form = questionnaire_form(items, formdata=request.form) if posted else None
    given = dict(saved)
    if form is not None:
        for item in items:
            given.pop(item.key, None)
            text = answer_text(form, item)
            if text is not None:
                given[item.key] = text
    asked = applicable(instrument, given)
    status, notice, kept = 200, None, None
    if form is not None:
        form.skip = frozenset(field_name(item) for item in items
                              if not asked[item.key] and field_name(item) in form)
        valid = form.validate()
        newly = _newly_asked(items, form, asked, applicable(instrument, saved))
        if newly:
            for item in newly:  # asked for the first time: not an error yet
                form[field_name(item)].errors = []
            form._errors = None
            valid = not form.errors
            notice = (f"{len(newly)} more question{'s apply' if len(newly) > 1 else ' applies'}"
                      " given your answers: please answer "
                      f"{'them' if len(newly) > 1 else 'it'} below.")
        if valid and not newly:
            return _store_page(participant, token, point, instrument, all_pages, page, form,
                               asked)
        if not valid:
            status = 422
            announce_expired_token(form)
    else:
        # A page whose every question's markup is kept binds no form at all (the template
        # writes the CSRF token itself).
        kept = kept_markup(items, asked, numbers, saved)
        if kept is None:
            form = questionnaire_form(items, answers=saved)
    previous = previous_page(all_pages, page, asked)
    # Whether a page follows this one, as the answers stand; when that can change with the
    # answers (every later page may be skipped), the script decides it again as they change.
    later = skippable_pages_after(all_pages, page) or ()
    return render_template(
        "trainee/questionnaire.html", form=form,
        instrument=instrument, sections=layout(items, form, asked, numbers, kept),
        shown=" ".join(item.key for item in items if asked[item.key]),
        outside=outside_answers(items, asked_answers(given, asked), later),
        later=later_conditions(later),
        branching=bool(later) or any(item.show_if for item in items), notice=notice,
        last=next_page(all_pages, page, asked) is None,
        slider=any(answer.widget == "slider"
                   for answer in page_form_class(items).answer_fields.values()),
        page=page, page_count=len(all_pages), previous=previous, number=number, count=count,
        timepoint=point, token=token, study=participant.study,
        progress=math.floor(100 * page / len(all_pages)),
        activity=_activity_not_done(participant), question_markup=question_markup,
    ), status


def _newly_asked(items: Sequence[Item], form: QuestionnaireForm, asked: Mapping[str, bool],
                 asked_before: Mapping[str, bool]) -> list[Item]:
    """Questions asked given this page's answers, unanswered, that were not on screen.

    The posted ``shown`` field lists the items visible when the page was sent (the script keeps
    it up to date); without it, the items asked given the saved answers were.
    """
    if "shown" in request.form:
        shown = set(request.form["shown"].split())
    else:
        shown = {item.key for item in items if asked_before[item.key]}
    return [item for item in items
            if asked[item.key] and item.key not in shown and field_name(item) in form
            and answer_text(form, item) is None]


def _store_page(participant: Participant, token: str, point: Timepoint, instrument: Instrument,
                all_pages: Pages, page: int, form: QuestionnaireForm,
                asked: Mapping[str, bool]) -> Any:
    """Store a valid page and go on: to the next page asked, or submit after the last one."""
    items = all_pages[page]
    following = next_page(all_pages, page, asked)
    final = following is None
    timepoint = point.name  # read before the commits, which expire ``point``
    participant = start_writing(participant)
    with write_or_explain() as attempt:
        result = journey.save_answers(
            db.session, participant, point, instrument,
            {key: text for key, text in answers_from(form, items).items() if asked[key]},
            page=page if following is None else following, final=final,
            on_page=[item.key for item in items])
        unanswered, go_to_page = result.unanswered, result.page
    if attempt.refused:
        return redirect(step_url(db.session, participant, token), code=303)
    if unanswered:
        flash("Some questions that apply given your answers are not answered yet. Please "
              "answer them here, then go on.", "warning")
    if unanswered or not final:
        return redirect(url_for("trainee.questionnaire", token=token, timepoint=timepoint,
                                instrument_id=instrument.id, page=go_to_page), code=303)
    return go_on(participant, token)


def _activity_not_done(participant: Participant) -> Any:
    """The trainee's arm when they are asked after allocation without their activity done.

    Their answers count as much as anyone's (intention to treat): the page says so, without
    blame, rather than leaving them to wonder whether they should answer at all.
    """
    if participant.status is not ParticipantStatus.ALLOCATED:
        return None
    allocation = existing_allocation(db.session, participant)
    return allocation.arm if allocation is not None else None


@bp.route("/<token>/allocation", methods=["GET", "POST"])
@with_participant
def allocation(participant: Participant, token: str) -> Any:
    """Only reached if allocation could not run with the last baseline answers: try again."""
    if journey.next_step(db.session, participant).name is not StepName.ALLOCATION:
        return redirect(step_url(db.session, participant, token))
    form = ActionForm()
    if form.validate_on_submit():
        with write_or_explain() as attempt:
            allocate(db.session, participant, actor=f"participant:{participant.code}")
        if attempt.refused:
            return redirect(url_for("trainee.allocation", token=token), code=303)
        return go_on(participant, token)
    return render_template("trainee/allocation.html", form=form, token=token,
                           study=participant.study)


@bp.get("/<token>/education")
@with_participant
def education(participant: Participant, token: str) -> Any:
    arm = journey.open_arm(db.session, participant, ArmKind.EDUCATION)
    if arm is None:
        return redirect(step_url(db.session, participant, token))
    progress = db.session.get(ModuleProgress, participant.id)
    return render_template("trainee/education.html", arm=arm, study=participant.study,
                           pages=participant.study.module_pages, progress=progress, token=token,
                           post_opens_at=journey.post_opens_at(db.session, participant))


@bp.route("/<token>/education/<int:position>", methods=["GET", "POST"])
@with_participant
def module_page(participant: Participant, token: str, position: int) -> Any:
    arm = journey.open_arm(db.session, participant, ArmKind.EDUCATION)
    pages = participant.study.module_pages
    if arm is None:
        return redirect(step_url(db.session, participant, token))
    if not 0 <= position < len(pages):
        abort(404)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        last_page = position == len(pages) - 1
        with write_or_explain() as attempt:
            journey.read_module_page(db.session, participant, position)
            if last_page:
                journey.complete_module(db.session, participant)
        if attempt.refused:
            return redirect(url_for("trainee.education", token=token), code=303)
        if last_page:
            return go_on(participant, token)
        return redirect(url_for("trainee.module_page", token=token, position=position + 1),
                        code=303)
    progress = db.session.get(ModuleProgress, participant.id)
    furthest = progress.furthest_page if progress is not None else 0
    if position > furthest + 1 or (progress is None and position > 0):
        return redirect(url_for("trainee.module_page", token=token, position=furthest))
    return render_template("trainee/module_page.html", page=pages[position], position=position,
                           count=len(pages), form=form, token=token, study=participant.study)


@bp.route("/<token>/sessions", methods=["GET", "POST"])
@csrf.exempt  # the form checks its token and re-renders the choice when it expired
@with_participant
def sessions(participant: Participant, token: str) -> Any:
    arm = journey.open_arm(db.session, participant, ArmKind.CONTACT)
    if arm is None:
        return redirect(step_url(db.session, participant, token))
    available = contact.bookable_sessions(db.session, participant)
    booking = contact.booking_of(db.session, participant)
    form = BookingForm()
    form.session_id.choices = [SelectChoice(s.id, s.starts_at.isoformat()) for s, left in available
                               if left > 0 or (booking and booking.session_id == s.id)]
    cancel_form = ActionForm(prefix="cancel")
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            with write_or_explain() as attempt:
                contact.book(db.session, participant, form.session_id.data)
                attempt.done("Your place is booked. We look forward to seeing you.")
            return redirect(url_for("trainee.sessions", token=token), code=303)
        status = 422
        announce_expired_token(form)
    return render_template("trainee/sessions.html", arm=arm, available=available,
                           booking=booking, form=form, cancel_form=cancel_form, token=token,
                           study=participant.study,
                           post_opens_at=journey.post_opens_at(db.session, participant)), status


@bp.post("/<token>/sessions/cancel")
@with_participant
def cancel_booking(participant: Participant, token: str) -> Any:
    form = ActionForm(prefix="cancel")
    if form.validate_on_submit():
        with write_or_explain() as attempt:
            contact.cancel_booking(db.session, participant)
            attempt.done("Your booking is cancelled. Please choose another session.", "info")
    return redirect(url_for("trainee.sessions", token=token), code=303)


@bp.get("/<token>/status")
@with_participant
def status(participant: Participant, token: str) -> Any:
    step = journey.next_step(db.session, participant)
    if step.name in STEP_ENDPOINTS or step.name is StepName.QUESTIONNAIRE:
        return redirect(step_url(db.session, participant, token))
    return render_template("trainee/status.html", step=step, study=participant.study,
                           participant=participant, token=token,
                           closes_at=journey.post_window_closes_at(db.session, participant))


@bp.route("/<token>/withdraw", methods=["GET", "POST"])
@csrf.exempt  # the form checks its token and re-renders the reason when it expired
@with_participant
def withdraw(participant: Participant, token: str) -> Any:
    if not participant.is_active or participant.status is ParticipantStatus.INVITED:
        return redirect(step_url(db.session, participant, token))
    form = WithdrawForm()
    if form.validate_on_submit():
        with write_or_explain():
            journey.withdraw(db.session, participant, actor=f"participant:{participant.code}",
                             reason=form.reason.data or "")
        return go_on(participant, token)
    if request.method == "POST":
        announce_expired_token(form)
    document = participant.study.current_consent
    return render_template("trainee/withdraw.html", form=form, token=token,
                           study=participant.study, document=document), \
        422 if request.method == "POST" else 200
