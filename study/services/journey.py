"""The trainee journey (DESIGN §3): where a trainee is, and the actions that move them on."""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    Update,
    and_,
    bindparam,
    delete,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import Session

from instruments import Instrument
from study import audit
from study.errors import NotAllowed
from study.models import (
    Allocation,
    Answer,
    AnswerStatus,
    Arm,
    ArmKind,
    Consent,
    ConsentChoice,
    ConsentDocument,
    ModuleProgress,
    Participant,
    ParticipantContact,
    ParticipantStatus,
    Response,
    ResponseStatus,
    Study,
    StudyInstrument,
    StudyStatus,
    Timepoint,
    WithdrawalReason,
    utcnow,
)
from study.services.allocation import allocate, existing_allocation
from study.services.consort import DISCONTINUATION_REASONS, INELIGIBILITY_REASONS, LOST_REASONS
from study.services.pages import applicable, page_of, pages

# The statuses in which a time point's questionnaires can be open (``next_step`` decides when
# they are), and the status a trainee reaches when every questionnaire of it is submitted.
# Post and follow-up are for every allocated trainee, whether or not they took part in their
# activity (DESIGN §3, intention to treat): post opens without the intervention done once the
# intervention period has passed, and follow-up opens even for a trainee who missed post.
TIMEPOINT_GATES: dict[str, tuple[frozenset[ParticipantStatus], ParticipantStatus]] = {
    "baseline": (frozenset({ParticipantStatus.CONSENTED}), ParticipantStatus.BASELINE_DONE),
    "post": (frozenset({ParticipantStatus.ALLOCATED, ParticipantStatus.INTERVENTION_DONE}),
             ParticipantStatus.POST_DONE),
    "followup": (frozenset({ParticipantStatus.ALLOCATED, ParticipantStatus.INTERVENTION_DONE,
                            ParticipantStatus.POST_DONE}),
                 ParticipantStatus.FOLLOWUP_DONE),
}


class StepName(enum.StrEnum):
    """The pages a trainee's link can lead to; the trainee views give each its page."""

    WELCOME = "welcome"
    QUESTIONNAIRE = "questionnaire"
    ALLOCATION = "allocation"
    EDUCATION = "education"
    CONTACT = "contact"
    POST_CLOSED = "post_closed"
    FOLLOWUP_WAIT = "followup_wait"
    FOLLOWUP_CLOSED = "followup_closed"
    DONE = "done"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    INELIGIBLE = "ineligible"
    LOST = "lost_to_follow_up"


# A trainee who left the study sees why: the step that ends the journey for each exit.
EXIT_STEPS = {
    ParticipantStatus.DECLINED: StepName.DECLINED,
    ParticipantStatus.WITHDRAWN: StepName.WITHDRAWN,
    ParticipantStatus.INELIGIBLE: StepName.INELIGIBLE,
    ParticipantStatus.LOST: StepName.LOST,
}


@dataclass(frozen=True)
class Step:
    """Where the trainee's link takes them now."""

    name: StepName
    timepoint: str | None = None
    instrument_id: str | None = None
    opens_at: datetime | None = None


@dataclass(frozen=True)
class Pinned:
    """A questionnaire of a time point: the instrument and the version the study pinned."""

    instrument_id: str
    instrument_version: str
    fingerprint: str | None


def instruments_at(session: Session, participant: Participant, timepoint: str
                   ) -> tuple[Pinned, ...]:
    """The time point's questionnaires, in order.

    Remembered for the rest of the session (one request or command): a study's instruments
    are frozen once it recruits, and the journey asks this several times per request. Plain
    values, not rows, so that a commit between a request's reading and its writing does not
    send the session back to the database for each of them.
    """
    cache = session.info.setdefault("instruments_at", {})
    key = (participant.study_id, timepoint)
    if key not in cache:
        _questionnaires_at(session, participant, timepoint)
    return cache[key]


def _questionnaires_at(session: Session, participant: Participant, timepoint: str
                       ) -> list[tuple[Pinned, bool]]:
    """The time point's questionnaires in order, each with whether the trainee submitted it.

    One round trip (every questionnaire page asks it), which also reads the time point: it
    remembers the questionnaires for :func:`instruments_at` and the time point for
    :func:`timepoint_named`. No query at all when the write phase has confirmed what the read
    phase of the same request found (:func:`lock_if_unchanged`).
    """
    key = (participant.study_id, timepoint)
    reading = (participant.id, timepoint)
    confirmed = session.info.get(_CONFIRMED)
    if confirmed is not None and reading in confirmed:
        return confirmed[reading]
    rows = session.execute(_questionnaires_query(), {"participant_id": participant.id,
                                                     "study_id": participant.study_id,
                                                     "timepoint": timepoint}).all()
    if rows:
        session.info.setdefault("timepoints", {})[key] = rows[0][0]
    found = [(Pinned(instrument_id, version, fingerprint), done)
             for _, instrument_id, version, fingerprint, done in rows]
    session.info.setdefault("instruments_at", {})[key] = tuple(pinned for pinned, _ in found)
    session.info.setdefault(_READ, {})[reading] = found
    return found


# What this transaction read of which questionnaires a trainee submitted, by (participant id,
# time point name); and, in the write phase of a request, that reading confirmed to hold still.
# Both are forgotten when the transaction ends or anything is flushed: a reading is only ever
# used by the transaction that made it, or by the one that confirmed it under the lock.
_READ = "allport.questionnaires_read"
_CONFIRMED = "allport.questionnaires_confirmed"


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_transaction_end")
def _forget_readings(session: Session, *_args: object) -> None:
    session.info.pop(_READ, None)
    session.info.pop(_CONFIRMED, None)


def take_reading(session: Session) -> dict[tuple[int, str], list[tuple[Pinned, bool]]]:
    """What this transaction read of the trainees' submitted questionnaires, to confirm later."""
    return session.info.pop(_READ, None) or {}


def lock_if_unchanged(session: Session, participant: Participant,
                      reading: Mapping[tuple[int, str], list[tuple[Pinned, bool]]]) -> bool:
    """Lock the participant's row; whether all that decided their step is as it was read.

    A questionnaire post reads and validates in one transaction and writes in the next, under
    the lock. Their step follows from the participant's row, their study's, the clock and which
    questionnaires they submitted at the time point; the one statement that takes the lock
    also reads those. When the rows are what the loaded ``participant`` and its study hold and
    the submissions what ``reading`` (:func:`take_reading`) found, the write phase goes on with
    them, and with that reading for :func:`next_step`, instead of reading them all again. Rows
    carry no version, so every column is compared: any change at all means False, and the
    caller reads everything again (``lock_participant``).
    """
    rows = session.connection().execute(_unchanged_query(),
                                        {"participant_id": participant.id}).all()
    if not rows:
        return False
    first = rows[0]
    study = participant.study
    loaded = ((inspect(participant).dict, _columns(Participant), 0),
              (inspect(study).dict, _columns(Study), len(_columns(Participant))))
    for state, columns, start in loaded:
        for offset, key in enumerate(columns):
            if key not in state or state[key] != first[start + offset]:
                return False
    submitted = {(row[-2], row[-1]) for row in rows if row[-1] is not None}
    timepoints = session.info.get("timepoints", {})
    for (participant_id, name), found in reading.items():
        point = timepoints.get((participant.study_id, name))
        if participant_id != participant.id or point is None:
            return False
        for pinned, done in found:
            if done != ((point.id, pinned.instrument_id) in submitted):
                return False
    session.info[_CONFIRMED] = dict(reading)
    return True


@functools.cache
def _columns(model: type[Participant | Study]) -> tuple[str, ...]:
    """A model's column attributes, in the order :func:`_unchanged_query` reads them."""
    return tuple(attribute.key for attribute in model.__mapper__.column_attrs)


@functools.cache
def _unchanged_query() -> Select[Any]:
    """:func:`lock_if_unchanged`'s statement, built once.

    The participant's row (locked), the study's, and each questionnaire submitted, by time
    point id and instrument. Plain SQL, not the ORM: it loads no objects, and building them was
    most of what the lock cost.
    """
    participants, studies, responses = (Participant.__table__, Study.__table__,
                                        Response.__table__)
    columns = [attribute.columns[0] for model in (Participant, Study)
               for attribute in model.__mapper__.column_attrs]
    return (select(*columns, responses.c.timepoint_id, responses.c.instrument_id)
            .select_from(participants
                         .join(studies, studies.c.id == participants.c.study_id)
                         .outerjoin(responses, and_(
                             responses.c.participant_id == participants.c.id,
                             responses.c.status == ResponseStatus.SUBMITTED)))
            .where(participants.c.id == bindparam("participant_id"))
            .with_for_update(of=participants))


@functools.cache
def _questionnaires_query() -> Select[Timepoint, str, str, str | None, bool]:
    """:func:`_questionnaires_at`'s query, built once: every trainee request runs it."""
    submitted = (
        select(Response.id)
        .where(Response.participant_id == bindparam("participant_id"),
               Response.timepoint_id == StudyInstrument.timepoint_id,
               Response.instrument_id == StudyInstrument.instrument_id,
               Response.status == ResponseStatus.SUBMITTED)
        .exists()
    )
    return (select(Timepoint, StudyInstrument.instrument_id, StudyInstrument.instrument_version,
                   StudyInstrument.fingerprint, submitted)
            .join(StudyInstrument.timepoint)
            .where(Timepoint.study_id == bindparam("study_id"),
                   Timepoint.name == bindparam("timepoint"))
            .order_by(StudyInstrument.position))


def _first_open_questionnaire(session: Session, participant: Participant, timepoint: str
                              ) -> Step | None:
    for pinned, done in _questionnaires_at(session, participant, timepoint):
        if not done:
            return Step(StepName.QUESTIONNAIRE, timepoint, pinned.instrument_id)
    return None


def post_opening(study: Study, allocated_at: datetime,
                 intervention_done_at: datetime | None) -> datetime:
    """When post opens for a trainee allocated at ``allocated_at``: the rule of DESIGN §3.

    The intervention done, or the study's ``intervention_period_days`` passed since
    allocation, whichever is first. The window rules are plain functions of a few values so
    that :mod:`study.services.reminders` can apply them to thousands of trainees at once.
    """
    period_over = allocated_at + timedelta(days=study.intervention_period_days)
    return min(intervention_done_at, period_over) if intervention_done_at is not None \
        else period_over


def followup_opening(study: Study, post_opens: datetime) -> datetime:
    """Follow-up opens ``followup_offset_days`` after post OPENED (not answered)."""
    return post_opens + timedelta(days=study.followup_offset_days)


def post_closing(study: Study, post_opens: datetime, *, has_followup: bool) -> datetime | None:
    """When post stops taking answers (None: never); see :func:`post_window_closes_at`."""
    days = study.post_window_days
    return _earliest(
        post_opens + timedelta(days=days) if days is not None else None,
        followup_opening(study, post_opens) if has_followup else None,
        study.data_locked_at,
    )


def followup_closing(study: Study, followup_opens: datetime) -> datetime | None:
    """When follow-up stops taking answers: its window, else the data lock, else never."""
    days = study.followup_window_days
    return _earliest(followup_opens + timedelta(days=days) if days is not None else None,
                     study.data_locked_at)


def post_opens_at(session: Session, participant: Participant) -> datetime | None:
    """When the post questionnaire opens: the intervention done, or the period passed, if sooner.

    None before allocation. The period is the study's ``intervention_period_days`` counted
    from allocation, so a trainee who never takes part is asked all the same (DESIGN §3).
    """
    allocation = existing_allocation(session, participant)
    if allocation is None:
        return None
    return post_opening(participant.study, allocation.allocated_at,
                        participant.intervention_done_at)


def followup_opens_at(session: Session, participant: Participant) -> datetime | None:
    """When the follow-up opens: ``followup_offset_days`` after post OPENED (not answered)."""
    opens = post_opens_at(session, participant)
    if opens is None:
        return None
    return followup_opening(participant.study, opens)


def _has_followup(session: Session, participant: Participant) -> bool:
    return bool(instruments_at(session, participant, "followup"))


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def post_window_closes_at(session: Session, participant: Participant) -> datetime | None:
    """When the post questionnaire stops taking answers, or None if it never does.

    It closes ``post_window_days`` after it opened, when the follow-up opens (an answer given
    after that would not be a post measurement), or when the data are locked, whichever is first.
    """
    opens = post_opens_at(session, participant)
    if opens is None:
        return None
    return post_closing(participant.study, opens,
                        has_followup=_has_followup(session, participant))


def followup_window_closes_at(session: Session, participant: Participant) -> datetime | None:
    """When the follow-up stops taking answers: its window, else the data lock, else never."""
    opens = followup_opens_at(session, participant)
    if opens is None:
        return None
    return followup_closing(participant.study, opens)


def _activity_step(session: Session, participant: Participant) -> Step:
    allocation = existing_allocation(session, participant)
    assert allocation is not None
    return Step(StepName.EDUCATION if allocation.arm.kind is ArmKind.EDUCATION
                else StepName.CONTACT)


def _after_allocation(session: Session, participant: Participant, now: datetime) -> Step:
    """Activity, post, follow-up: by the clock from allocation, whatever the trainee took part in.

    A trainee allocated and not done sees their activity until the post questionnaire opens;
    post then stays open for its window whether or not they took part; follow-up opens after
    it for everyone, including a trainee who never answered post.
    """
    status = participant.status
    post_opens = post_opens_at(session, participant)
    assert post_opens is not None
    has_post = bool(instruments_at(session, participant, "post"))
    if status is not ParticipantStatus.POST_DONE:
        if now < post_opens:
            return _activity_step(session, participant)
        closes = post_window_closes_at(session, participant)
        if has_post and (closes is None or now <= closes):
            return (_first_open_questionnaire(session, participant, "post")
                    or Step(StepName.DONE))
    if not _has_followup(session, participant):
        if status is ParticipantStatus.POST_DONE:
            return Step(StepName.DONE)
        if has_post:
            return Step(StepName.POST_CLOSED)
        return (_activity_step(session, participant)
                if status is ParticipantStatus.ALLOCATED else Step(StepName.DONE))
    opens = followup_opens_at(session, participant)
    assert opens is not None
    if now < opens:
        return Step(StepName.FOLLOWUP_WAIT, opens_at=opens)
    closes = followup_window_closes_at(session, participant)
    if closes is not None and now > closes:
        return Step(StepName.FOLLOWUP_CLOSED)
    return _first_open_questionnaire(session, participant, "followup") or Step(StepName.DONE)


def data_locked_step(participant: Participant) -> Step | None:
    """Where a trainee still on the journey goes once the study's data are locked: nowhere more.

    ``lock-data`` closes every post and follow-up window (DESIGN §7), so no questionnaire is
    open to anyone; trainees who had finished or left keep their own ending.
    """
    if participant.study.data_locked_at is None or not participant.is_active \
            or participant.status is ParticipantStatus.INVITED:
        return None
    return Step(StepName.POST_CLOSED)


def refuse_answers_if_data_locked(participant: Participant) -> None:
    """Store no answer once the study's data are locked (the analysis is made on them)."""
    if participant.study.data_locked_at is not None:
        raise NotAllowed("This study has closed its questionnaires: no more answers can be "
                         "stored. Thank you for taking part.")


def next_step(session: Session, participant: Participant, now: datetime | None = None) -> Step:
    """The page a trainee's link leads to: the whole of save-and-resume in one place."""
    locked = data_locked_step(participant)
    if locked is not None:
        return locked
    now = now or utcnow()
    status = participant.status
    if status is ParticipantStatus.INVITED:
        return Step(StepName.WELCOME)
    if status in EXIT_STEPS:
        return Step(EXIT_STEPS[status])
    if status is ParticipantStatus.CONSENTED:
        return (_first_open_questionnaire(session, participant, "baseline")
                or Step(StepName.ALLOCATION))
    if status is ParticipantStatus.BASELINE_DONE:
        return Step(StepName.ALLOCATION)
    if status in (ParticipantStatus.ALLOCATED, ParticipantStatus.INTERVENTION_DONE,
                  ParticipantStatus.POST_DONE):
        return _after_allocation(session, participant, now)
    return Step(StepName.DONE)


def record_consent(session: Session, participant: Participant, document: ConsentDocument,
                   agree: bool) -> Consent:
    """Record the trainee's choice on a consent version; a repeated post returns the first."""
    existing = session.scalars(
        select(Consent).where(Consent.participant_id == participant.id,
                              Consent.consent_document_id == document.id)
    ).first()
    if existing is not None:
        return existing
    if participant.study.status is not StudyStatus.RECRUITING:
        raise NotAllowed("This study is not recruiting at the moment.")
    consent = Consent(
        participant_id=participant.id,
        consent_document_id=document.id,
        version=document.version,
        text_sha256=document.text_sha256,
        choice=ConsentChoice.AGREE if agree else ConsentChoice.DECLINE,
    )
    session.add(consent)
    participant.move_to(ParticipantStatus.CONSENTED if agree else ParticipantStatus.DECLINED)
    audit.record(session, "consent", actor=audit.actor_for(participant=participant),
                 participant=participant, version=document.version, choice=consent.choice.value)
    return consent


def timepoint_named(session: Session, participant: Participant, name: str) -> Timepoint | None:
    """The participant's study's time point ``name``.

    Without a query when :func:`next_step` has read its questionnaires in this session, as it
    has on every questionnaire request.
    """
    known = session.info.get("timepoints", {}).get((participant.study_id, name))
    return known if known is not None else participant.study.timepoint(name)


def saved_progress(session: Session, participant: Participant, timepoint: Timepoint,
                   instrument_id: str) -> tuple[int, dict[str, str]]:
    """Where the trainee left a questionnaire (its page) and the answers given so far.

    Items not asked (stored as not applicable) are left out. One round trip: every page view
    and post of a questionnaire reads this.
    """
    rows = session.connection().execute(_progress_query(), {
        "participant_id": participant.id, "timepoint_id": timepoint.id,
        "instrument_id": instrument_id}).all()
    if not rows:
        return 0, {}
    return rows[0].current_page, {row.item_key: row.value for row in rows
                                  if row.item_key is not None}


@functools.cache
def _progress_query() -> Select[int, str, str]:
    """:func:`saved_progress`'s query, built once."""
    return (select(Response.current_page, Answer.item_key, Answer.value)
            .outerjoin(Answer, (Answer.response_id == Response.id)
                       & (Answer.status == AnswerStatus.ANSWERED))
            .where(Response.participant_id == bindparam("participant_id"),
                   Response.timepoint_id == bindparam("timepoint_id"),
                   Response.instrument_id == bindparam("instrument_id")))


def find_response(session: Session, participant: Participant, timepoint: Timepoint,
                  instrument_id: str) -> StoredResponse | None:
    """The trainee's response to one instrument at one time point, with its answers by item.

    Submitted or not; one round trip, as every stored page reads both. Plain rows, not
    objects, written back as plain statements (:class:`StoredResponse`).
    """
    rows = session.connection().execute(_response_query(), {
        "participant_id": participant.id, "timepoint_id": timepoint.id,
        "instrument_id": instrument_id}).all()
    if not rows:
        return None
    response_id, status, current_page = rows[0][:3]
    return StoredResponse(response_id, status, current_page, {
        key: StoredAnswer(answer_id, value, answer_status)
        for *_, answer_id, key, value, answer_status in rows if answer_id is not None})


@functools.cache
def _response_query() -> Select[int, ResponseStatus, int, int, str, str, AnswerStatus]:
    """:func:`find_response`'s query, built once."""
    return (select(Response.id, Response.status, Response.current_page,
                   Answer.id, Answer.item_key, Answer.value, Answer.status)
            .outerjoin(Answer, Answer.response_id == Response.id)
            .where(Response.participant_id == bindparam("participant_id"),
                   Response.timepoint_id == bindparam("timepoint_id"),
                   Response.instrument_id == bindparam("instrument_id")))


def start_response(session: Session, participant: Participant, timepoint: Timepoint,
                   instrument: Instrument) -> StoredResponse:
    """A new, empty response to ``instrument`` at ``timepoint``, inserted at once for its id."""
    inserted = session.connection().execute(insert(Response).values(
        participant_id=participant.id, timepoint_id=timepoint.id,
        instrument_id=instrument.id, instrument_version=instrument.version))
    key = inserted.inserted_primary_key
    assert key is not None  # a single-row INSERT always has one
    return StoredResponse(key[0], ResponseStatus.IN_PROGRESS, 0, {})


@dataclass
class StoredAnswer:
    """One item's answer row as stored, or as it will be (``id`` None until inserted)."""

    id: int | None
    value: str
    status: AnswerStatus


class StoredResponse:
    """A response and its answers by item as stored, and the changes to them not yet written.

    A saved page changes a handful of rows: :meth:`write` sends them as at most four statements
    (the response's row when its page or status changed; one DELETE, one UPDATE and one INSERT
    of answers, each run once over all its rows), not as an ORM object each. The unit of work
    spent more on a page's answers than SQLite did.
    """

    def __init__(self, response_id: int, status: ResponseStatus, current_page: int,
                 rows: dict[str, StoredAnswer]) -> None:
        self.id = response_id
        self.status = status
        self.current_page = current_page
        self.rows = rows
        self._changed: dict[str, object] = {}
        self._inserts: dict[str, dict[str, object]] = {}
        self._updates: dict[int, dict[str, object]] = {}
        self._deletes: set[int] = set()

    @property
    def submitted(self) -> bool:
        return self.status is ResponseStatus.SUBMITTED

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def get(self, key: str) -> StoredAnswer | None:
        return self.rows.get(key)

    def go_to_page(self, page: int) -> None:
        """The trainee comes back to ``page``."""
        if page != self.current_page:
            self.current_page = self._changed["current_page"] = page

    def submit(self, now: datetime) -> None:
        self.status = self._changed["status"] = ResponseStatus.SUBMITTED
        self._changed["submitted_at"] = now

    def store(self, key: str, value: str, status: AnswerStatus, now: datetime) -> None:
        """The item's answer becomes ``value`` with ``status`` (a new row, or changed in place)."""
        row = self.rows.get(key)
        if row is not None and row.value == value and row.status is status:
            return
        change = {"value": value, "status": status, "answered_at": now}
        if row is None:
            self.rows[key] = StoredAnswer(None, value, status)
            self._inserts[key] = {"response_id": self.id, "item_key": key, **change}
        elif row.id is None:
            row.value, row.status = value, status
            self._inserts[key].update(change)
        else:
            row.value, row.status = value, status
            self._updates[row.id] = {"answer_id": row.id, **change}

    def discard(self, key: str) -> None:
        """The item has no answer any more: its row goes."""
        row = self.rows.pop(key)
        if row.id is None:
            del self._inserts[key]
        else:
            self._updates.pop(row.id, None)
            self._deletes.add(row.id)

    def write(self, session: Session) -> None:
        """Write the changes in the session's transaction."""
        connection = session.connection()
        if self._changed:
            connection.execute(update(Response).where(Response.id == self.id)
                               .values(self._changed))
            if "status" in self._changed:
                # Plain statements flush nothing: what this transaction read of the
                # trainee's submitted questionnaires no longer holds.
                _forget_readings(session)
        if self._deletes:
            connection.execute(delete(Answer).where(Answer.id.in_(sorted(self._deletes))))
        if self._updates:
            connection.execute(_update_answer(), list(self._updates.values()))
        if self._inserts:
            connection.execute(insert(Answer), list(self._inserts.values()))
        self._changed, self._inserts, self._updates, self._deletes = {}, {}, {}, set()


@functools.cache
def _update_answer() -> Update:
    return (update(Answer).where(Answer.id == bindparam("answer_id"))
            .values(value=bindparam("value"), status=bindparam("status"),
                    answered_at=bindparam("answered_at")))


def _check_questionnaire_open(session: Session, participant: Participant,
                              timepoint: Timepoint, instrument_id: str) -> Pinned:
    gate = TIMEPOINT_GATES.get(timepoint.name)
    if gate is None or participant.status not in gate[0]:
        raise NotAllowed("This questionnaire is not open for you at the moment.")
    step = next_step(session, participant)
    if step.name is not StepName.QUESTIONNAIRE or step.timepoint != timepoint.name:
        raise NotAllowed("This questionnaire is not open for you at the moment.")
    pinned = next((si for si in instruments_at(session, participant, timepoint.name)
                   if si.instrument_id == instrument_id), None)
    if pinned is None:
        raise NotAllowed("This questionnaire is not part of the study.")
    return pinned


@dataclass(frozen=True)
class SaveResult:
    """What ``save_answers`` did.

    ``unanswered`` lists the required questions, asked given the answers, that a final save
    found unanswered (the questionnaire is then not submitted); ``page`` is where the trainee
    goes on: the next page with a question asked, or the first page holding an unanswered one.
    """

    page: int
    submitted_now: bool
    already_submitted: bool
    allocation: Allocation | None = None
    unanswered: tuple[str, ...] = ()


def save_answers(
    session: Session,
    participant: Participant,
    timepoint: Timepoint,
    instrument: Instrument,
    answers: Mapping[str, str],
    *,
    page: int = 0,
    final: bool,
    on_page: Iterable[str] | None = None,
) -> SaveResult:
    """Store a page of answers; with ``final``, submit the questionnaire and move the trainee on.

    ``on_page`` names the items the page asked (default: those in ``answers``). Of these, an
    item whose branching logic is false given all the answers is stored as not applicable
    (its posted answer discarded), an answered one as answered, and one left blank loses any
    earlier answer. ``page`` is the page the trainee returns to.

    The final save decides again over every item with every answer: items not asked are stored
    as not applicable, also those on pages skipped. When a required question that is asked is
    unanswered (a trainee went back and changed an answer that a condition reads), nothing is
    submitted: the result lists those questions and points at the first page holding one.

    A questionnaire already submitted is left untouched (a double click or a replayed form),
    and the result says so. Completing the last baseline questionnaire allocates the trainee
    in the same transaction.
    """
    refuse_answers_if_data_locked(participant)
    response = find_response(session, participant, timepoint, instrument.id)
    if response is not None and response.submitted:
        return SaveResult(response.current_page, submitted_now=False, already_submitted=True)
    pinned = _check_questionnaire_open(session, participant, timepoint, instrument.id)
    if pinned.instrument_version != instrument.version:
        raise NotAllowed("This questionnaire was given at another version.")
    if pinned.fingerprint is not None and pinned.fingerprint != instrument.fingerprint:
        raise NotAllowed(f"The definition of {instrument.id} {instrument.version} has changed "
                         "since recruitment opened; please tell the study coordinator.")

    asked_here = set(answers) | set(on_page or ())
    known = {item.key for item in instrument.items}
    unknown = asked_here - known
    if unknown:
        raise NotAllowed(f"Unknown questions: {', '.join(sorted(unknown))}.")
    if response is None:
        response = start_response(session, participant, timepoint, instrument)
    answerable = {item.key for item in instrument.answered_items}
    given = {key: a.value for key, a in response.rows.items()
             if a.status is AnswerStatus.ANSWERED and key not in asked_here}
    given.update(answers)
    asked = applicable(instrument, given)
    now = utcnow()
    for key in sorted(asked_here & answerable):
        if not asked[key]:
            response.store(key, "", AnswerStatus.NOT_APPLICABLE, now)
        elif key in answers:
            response.store(key, answers[key], AnswerStatus.ANSWERED, now)
        elif key in response:
            response.discard(key)
    response.go_to_page(page)

    if not final:
        response.write(session)
        return SaveResult(response.current_page, submitted_now=False, already_submitted=False)

    for item in instrument.answered_items:
        row = response.get(item.key)
        if not asked[item.key]:
            response.store(item.key, "", AnswerStatus.NOT_APPLICABLE, now)
        elif row is not None and row.status is AnswerStatus.NOT_APPLICABLE:
            response.discard(item.key)
    unanswered = tuple(item.key for item in instrument.answered_items
                       if item.required and asked[item.key] and item.key not in response)
    if unanswered:
        response.go_to_page(page_of(pages(instrument), unanswered[0]))
        response.write(session)
        return SaveResult(response.current_page, submitted_now=False, already_submitted=False,
                          unanswered=unanswered)
    response.submit(now)
    response.write(session)
    audit.record(session, "questionnaire_submitted", actor=audit.actor_for(participant=participant),
                 participant=participant, timepoint=timepoint.name, instrument=instrument.id,
                 version=instrument.version)

    allocation = None
    if _first_open_questionnaire(session, participant, timepoint.name) is None:
        participant.move_to(TIMEPOINT_GATES[timepoint.name][1])
        if timepoint.name == "baseline":
            allocation = allocate(session, participant,
                                  actor=audit.actor_for(participant=participant))
    return SaveResult(response.current_page, submitted_now=True, already_submitted=False,
                      allocation=allocation)


def mark_intervention_done(session: Session, participant: Participant, *, actor: str,
                           how: str) -> None:
    """Record that the trainee finished their arm's activity (``how`` says which); audited."""
    participant.move_to(ParticipantStatus.INTERVENTION_DONE)
    participant.intervention_done_at = utcnow()
    audit.record(session, "intervention_done", actor=actor, participant=participant, how=how)


def module_progress(session: Session, participant: Participant) -> ModuleProgress:
    """The trainee's reading progress through the module, started on first use."""
    progress = session.get(ModuleProgress, participant.id)
    if progress is None:
        progress = ModuleProgress(participant_id=participant.id)
        session.add(progress)
        session.flush()
    return progress


def open_arm(session: Session, participant: Participant, kind: ArmKind) -> Arm | None:
    """The trainee's arm while its activity is open to them: allocated to ``kind``, not done."""
    if participant.status is not ParticipantStatus.ALLOCATED:
        return None
    allocation = existing_allocation(session, participant)
    return allocation.arm if allocation is not None and allocation.arm.kind is kind else None


def _require_module_open(session: Session, participant: Participant) -> None:
    if open_arm(session, participant, ArmKind.EDUCATION) is None:
        raise NotAllowed("This part of the study is not open for you.")


def read_module_page(session: Session, participant: Participant, position: int) -> None:
    """Note that the trainee reached a page; pages open in order, one after another."""
    _require_module_open(session, participant)
    progress = module_progress(session, participant)
    if position > progress.furthest_page + 1:
        raise NotAllowed("Please read the pages in order.")
    progress.furthest_page = max(progress.furthest_page, position)


def complete_module(session: Session, participant: Participant) -> None:
    """Finish the module once every page is read: the education arm's intervention is done."""
    _require_module_open(session, participant)
    progress = module_progress(session, participant)
    last = len(participant.study.module_pages) - 1
    if progress.furthest_page < last:
        raise NotAllowed("Please read every page of the module first.")
    progress.completed_at = utcnow()
    mark_intervention_done(session, participant, actor=audit.actor_for(participant=participant),
                           how="module_completed")


def _check_category(category: str, allowed: tuple[str, ...]) -> None:
    if category not in allowed:
        raise NotAllowed(f"Choose one of: {', '.join(allowed)} (not {category!r}).")


def withdraw(session: Session, participant: Participant, *, actor: str, reason: str = "",
             category: str = "withdrew") -> None:
    """Withdraw a trainee; their data follows the consent they gave (DESIGN §3, §8).

    ``category`` is the CONSORT reason kept on the minimal trial record (``withdrew`` or
    ``other``) and in the audit trail. The free-text ``reason`` can say anything (a name, a
    diagnosis), so it never reaches the append-only audit trail: it is kept in
    ``withdrawal_reasons`` when the trainee's data are kept, and not at all when they are deleted.
    """
    _check_category(category, DISCONTINUATION_REASONS)
    participant.move_to(ParticipantStatus.WITHDRAWN)
    participant.exit_reason = category
    participant.withdrawn_at = utcnow()
    consent = session.scalars(
        select(Consent).where(Consent.participant_id == participant.id,
                              Consent.choice == ConsentChoice.AGREE)
        .order_by(Consent.at.desc())
    ).first()
    document = session.get(ConsentDocument, consent.consent_document_id) if consent else None
    keep = document.data_kept_on_withdrawal if document is not None else False
    if keep:
        if reason.strip():
            session.merge(WithdrawalReason(participant_id=participant.id, text=reason[:500]))
    else:
        delete_withdrawn_data(session, participant)
    audit.record(session, "withdrawal", actor=actor, participant=participant,
                 data_kept=keep, category=category)


def delete_withdrawn_data(session: Session, participant: Participant) -> None:
    """Delete what a withdrawal under a deleting consent takes away (DESIGN §8).

    The answers (with their responses), the withdrawal reason, the email and external id, and so
    everything that placed the trainee in a stratum; what stays is the minimal trial record: the
    participant row (code, status, the withdrawal as a category), the allocation (arm, position,
    opaque stratum id, date) and audit events, which hold no answers, labels or free text.
    """
    for response in session.scalars(
        select(Response).where(Response.participant_id == participant.id)
    ):
        session.delete(response)
    reason = session.get(WithdrawalReason, participant.id)
    if reason is not None:
        session.delete(reason)
    # The email and external id go too: nothing is left to send them, and the minimal record
    # keeps no direct identifier.
    contact = session.get(ParticipantContact, participant.id)
    if contact is not None:
        session.delete(contact)
    participant.data_withdrawn = True


def mark_lost(session: Session, participant: Participant, *, actor: str, category: str) -> None:
    """Record that an allocated trainee can no longer be reached, and why.

    ``category`` is the CONSORT reason: ``no_response``, ``unreachable`` or ``other``.
    """
    _check_category(category, LOST_REASONS)
    participant.move_to(ParticipantStatus.LOST)
    participant.exit_reason = category
    audit.record(session, "lost_to_follow_up", actor=actor, participant=participant,
                 category=category)


def mark_ineligible(session: Session, participant: Participant, *, actor: str,
                    category: str) -> None:
    """Exclude a consented trainee before allocation (CONSORT "excluded").

    ``category`` is ``ineligible`` when they do not meet the inclusion criteria, else ``other``.
    """
    _check_category(category, INELIGIBILITY_REASONS)
    if participant.status is not ParticipantStatus.CONSENTED:
        raise NotAllowed("Only a trainee who consented and is not yet allocated can be marked "
                         "ineligible.")
    participant.move_to(ParticipantStatus.INELIGIBLE)
    participant.exit_reason = category
    audit.record(session, "marked_ineligible", actor=actor, participant=participant,
                 category=category)
