"""The demo study: enough of a real study to walk every step of the journey at once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import Instrument, Library
from instruments.kinds import kind_of
from study.models import (
    ArmKind,
    ContactSession,
    Facilitator,
    Membership,
    Participant,
    Role,
    SessionStatus,
    Study,
    SupervisionRecord,
    SupervisorKind,
    User,
)
from study.services import contact, fidelity, journey, sap
from study.services.allocation import existing_allocation, lock_participant
from study.services.invitations import invite
from study.services.studies import StudySpec, create_study, open_recruitment, set_module_pages

DEMO_SLUG = "demo"
# The demo plan's multiple-imputation seed: fixed, so every demo database imputes alike.
DEMO_MI_SEED = 20261128

CONSENT_TEXT = """\
You are invited to take part in a study about how health-profession training shapes attitudes \
towards people who live with mental illness.

What taking part involves: two short sets of questionnaires (about 10 minutes each), and in \
between either an online education module (about 30 minutes) or one 90-minute group session led \
by a certified peer support specialist: a colleague with lived experience of mental illness who \
is trained and certified to work with it. Which of the two you take part in is decided at random \
after the first questionnaires.

Your answers are stored under a code, never with your name or email. Only the research team sees \
them, and results are reported for groups only.

Taking part is voluntary. You can stop at any time with the "withdraw" link at the bottom of \
every page, without giving a reason and without any effect on your training or assessment. If \
you withdraw, the answers you have already given are kept under your code and used in the \
analysis; nothing new is collected.

Questions about the study: contact the study coordinator named in your invitation email."""

EDUCATION_DESCRIPTION = (
    "You will work through a short online module about mental illness, recovery and stigma in "
    "health care. It takes about 30 minutes and you can stop and come back at any time."
)
CONTACT_DESCRIPTION = (
    "You will join one small-group session with a certified peer support specialist: a "
    "professional with lived experience of mental illness. You take part as equals, working "
    "together on a shared task about good care. Please book a session below."
)

MODULE_PAGES: list[tuple[str, str, str | None]] = [
    ("Why this module", (
        "Most people who live with a mental illness meet health professionals often. How those "
        "meetings go depends a great deal on what the professional expects.\n\n"
        "This module looks at what stigma is, where it comes from in health care, and what the "
        "research says about recovery. It takes about half an hour."), None),
    ("What stigma is", (
        "Stigma has three parts: stereotypes (beliefs such as \"people with schizophrenia are "
        "dangerous\"), prejudice (agreeing with them and feeling fear or dislike) and "
        "discrimination (acting on them).\n\n"
        "In health care it shows up as diagnostic overshadowing, when a physical complaint is put "
        "down to the mental illness, as lower expectations of what a patient can do, and as "
        "language that reduces a person to a diagnosis."), None),
    ("Recovery is the rule, not the exception", (
        "Long-term studies of people diagnosed with serious mental illness find that many recover "
        "fully and most live meaningful lives with their condition. Recovery here means a life "
        "that the person values, not only the absence of symptoms.\n\n"
        "Professionals see people mostly when they are unwell, which makes recovery easy to "
        "underestimate: the people who are doing well are seldom in the clinic."), None),
    ("Words matter", (
        "Person-first language (\"a person living with bipolar disorder\") keeps the person in "
        "view. Avoid words such as \"schizo\", \"psycho\" or \"a borderline\". Ask people how they "
        "describe their own experience and use their words.\n\n"
        "When you hear stigmatising language from colleagues, a calm question (\"what do you "
        "mean by that?\") is often enough to change the conversation."), None),
    ("What you can do", (
        "Expect recovery. Take physical complaints seriously. Explain, ask and share decisions. "
        "Notice your own assumptions, especially when you are tired or busy.\n\n"
        "Thank you for reading. Press \"I have finished the module\" below; you will then be "
        "asked a few final questions."), None),
]


@dataclass(frozen=True)
class DemoAccounts:
    admin: tuple[str, str]
    coordinator: tuple[str, str]
    researcher: tuple[str, str]


def demo_exists(session: Session) -> bool:
    """Whether the demo study has been seeded in this database."""
    return session.scalars(select(Study).where(Study.slug == DEMO_SLUG)).first() is not None


def _account(session: Session, email: str, *, admin: bool = False) -> tuple[str, str]:
    password = secrets.token_urlsafe(12)
    user = session.scalars(select(User).where(User.email == email)).first()
    if user is None:
        user = User(email=email, is_admin=admin, password_hash="")
        session.add(user)
    user.set_password(password)
    return email, password


def seed_demo(session: Session, library: Library, *, today: date | None = None) -> DemoAccounts:
    """Create study ``demo`` open for recruitment, with staff accounts and contact sessions."""
    today = today or datetime.now(UTC).date()
    spec = StudySpec(
        slug=DEMO_SLUG,
        title="Meeting as equals: a demonstration contact study",
        description=("A two-arm demonstration study: an online education module versus one "
                     "structured equal-status session with a certified peer support specialist."),
        consent_text=CONSENT_TEXT,
        arms=(("education", "Education module", ArmKind.EDUCATION, True, EDUCATION_DESCRIPTION),
              ("contact", "Contact session with a peer specialist", ArmKind.CONTACT, False,
               CONTACT_DESCRIPTION)),
        cohorts=("Autumn 2026",),
        instruments={
            "baseline": ["background", "intergroup-anxiety", "allport-stigma"],
            "post": ["intergroup-anxiety", "allport-stigma"],
        },
        post_window_days=60,
    )
    study = create_study(session, spec, library, actor="cli")
    # Made-up numbers, in the forms a trial registry and an ethics committee give (DESIGN §12).
    study.protocol_number = "DEMO-2026-001"
    study.ethics_approval_number = "IRB-DEMO-26-0417"
    set_module_pages(session, study, MODULE_PAGES)
    facilitator = Facilitator(
        study_id=study.id, display_name="Alex Moreno, CPSS",
        certification_body="State Peer Certification Board",
        certification_number="CPSS-20417", contact="alex.moreno@peers.allport.example",
        clinical_supervisor="Dr. Priya Raman, clinical psychologist",
        peer_supervisor="Jordan Ellis, CPSS, senior peer specialist",
        certified_from=today - timedelta(days=400), certified_until=today + timedelta(days=700),
        bio="Certified peer support specialist with twelve years of lived experience of recovery.",
    )
    # A second peer whose certification lapses within the warning period (DESIGN §13): the
    # registry and the sessions page show what a coordinator sees before a renewal.
    renewing = Facilitator(
        study_id=study.id, display_name="Sam Okafor, CPS",
        certification_body="State Peer Certification Board", certification_number="CPS-11873",
        contact="+1 555 0142", clinical_supervisor="Dr. Priya Raman, clinical psychologist",
        peer_supervisor="Jordan Ellis, CPSS, senior peer specialist",
        certified_from=today - timedelta(days=700), certified_until=today + timedelta(days=20),
        bio="Peer support specialist; co-leads the recovery college's contact workshops.",
    )
    session.add_all([facilitator, renewing])
    session.flush()
    cohort = study.cohorts[0]
    for days, hour in ((7, 14), (10, 10), (14, 16)):
        contact.schedule_session(
            session, cohort=cohort, facilitator=facilitator,
            starts_at=datetime.combine(today + timedelta(days=days), time(hour), tzinfo=UTC),
            capacity=12, location="Teaching room 2.14, Health Sciences Building", actor="cli")
    sap.set_plan(session, study, library, sap.default_plan(study, library, seed=DEMO_MI_SEED),
                 reason="The demonstration study's plan: the defaults of DESIGN §6.", actor="cli")
    open_recruitment(session, study, library, actor="cli")  # freezes the plan

    accounts = DemoAccounts(
        admin=_account(session, "admin@allport.example", admin=True),
        coordinator=_account(session, "coordinator@allport.example"),
        researcher=_account(session, "researcher@allport.example"),
    )
    session.flush()
    for email, role in ((accounts.coordinator[0], Role.COORDINATOR),
                        (accounts.researcher[0], Role.RESEARCHER)):
        user = session.scalars(select(User).where(User.email == email)).one()
        session.add(Membership(user_id=user.id, study_id=study.id, role=role))
    session.flush()
    return accounts


def simulate_answers(instrument: Instrument, latent: float, rng: np.random.Generator
                     ) -> dict[str, str]:
    """Plausible answers for a trainee whose standardized attitude is ``latent``.

    Higher ``latent`` means more anxiety or stigma; reverse-keyed items move the other way.
    """
    answers: dict[str, str] = {}
    for item in instrument.items:
        answer = kind_of(item).simulate(item, latent, rng)
        if answer is not None:
            answers[item.key] = answer
    return answers


def _session_with_room(session: Session, participant: Participant) -> int:
    """A bookable session with a free place, scheduling another when all are full."""
    for contact_session, places_left in contact.bookable_sessions(session, participant):
        if places_left > 0:
            return contact_session.id
    last = session.scalars(
        select(ContactSession).where(ContactSession.cohort_id == participant.cohort_id)
        .order_by(ContactSession.starts_at.desc())
    ).first()
    assert last is not None, "the demo cohort has contact sessions"
    return contact.schedule_session(
        session, cohort=last.cohort, facilitator=last.facilitator,
        starts_at=last.starts_at + timedelta(days=1), capacity=last.capacity,
        location=last.location, actor="cli").id


# Shares of simulated trainees, drawn once per trainee after allocation (DESIGN §3: everyone
# allocated is followed up, whatever they took part in):
SILENT_SHARE = 0.10        # answer nothing after allocation (no activity, no post)
NON_ADHERENT_SHARE = 0.20  # skip their activity, yet answer post once the period has passed
# Half of the non-adherers start their activity and stop (read a few pages of the module, or
# book a session and do not come); the other half never start it.
# Latent change by post: time and retesting alone (everyone), the module's content, and the
# contact effect on top for those who attended; non-adherers get the first only.
RETEST_CHANGE = -0.1
EDUCATION_CHANGE = -0.2


def _skip_activity(session: Session, participant: Participant, kind: ArmKind, *,
                   started: bool, study: Study) -> None:
    """A non-adherer: start the activity or not, and let the intervention period pass.

    Time is simulated by writing timestamps: the allocation is moved back past the period, so
    the post questionnaire is open to them the way it would be on that day.
    """
    if started:
        if kind is ArmKind.EDUCATION:
            for position in range(max(1, len(study.module_pages) // 2)):
                journey.read_module_page(session, participant, position)
        else:
            booking = contact.book(session, participant, _session_with_room(session, participant))
            booking.attended = False
            booking.minutes_attended = 0
    allocation = existing_allocation(session, participant)
    assert allocation is not None
    allocation.allocated_at -= timedelta(days=study.intervention_period_days + 1)
    session.flush()


def simulate_journeys(session: Session, library: Library, count: int, *, seed: int = 2026,
                      effect: float = 0.5) -> int:
    """Walk ``count`` new demo trainees through the journey with realistic answers and gaps.

    After allocation each trainee is, by one uniform draw ``u``: silent (``u`` < 0.10: answers
    nothing more), a non-adherer (``u`` < 0.30: skips the module or misses the session, half of
    them after starting it, and answers post once the intervention period has passed), or
    adherent (the rest: does the activity, then answers post). Everyone who answers post
    improves by a little through retesting; adherent education trainees a little more, and
    contact lowers the latent attitude by ``effect`` SD more than education does, for those
    who attended. So intention to treat keeps more complete cases than per protocol, with a
    diluted effect. Returns how many answered post.
    """
    study = session.scalars(select(Study).where(Study.slug == DEMO_SLUG)).one()
    cohort = study.cohorts[0]
    rng = np.random.default_rng(seed)
    issued = invite(session, study, cohort, count, actor="cli")
    completed = 0
    for invitation in issued:
        participant = lock_participant(session, invitation.participant.id)
        journey.record_consent(session, participant, study.current_consent, agree=True)  # type: ignore[arg-type]
        latent = float(rng.normal(0, 1))
        baseline = study.timepoint("baseline")
        assert baseline is not None
        for pinned in baseline.instruments:
            instrument = library.get(pinned.instrument_id, pinned.instrument_version)
            journey.save_answers(session, participant, baseline, instrument,
                                 simulate_answers(instrument, latent, rng), final=True)
        allocation = existing_allocation(session, participant)
        assert allocation is not None
        kind = allocation.arm.kind
        u = rng.random()
        if u < SILENT_SHARE:
            continue
        latent += RETEST_CHANGE
        if u < SILENT_SHARE + NON_ADHERENT_SHARE:
            _skip_activity(session, participant, kind, study=study,
                           started=u < SILENT_SHARE + NON_ADHERENT_SHARE / 2)
        elif kind is ArmKind.EDUCATION:
            for position in range(len(study.module_pages)):
                journey.read_module_page(session, participant, position)
            journey.complete_module(session, participant)
            latent += EDUCATION_CHANGE
        else:
            contact_session_id = _session_with_room(session, participant)
            booking = contact.book(session, participant, contact_session_id)
            booking.attended = True
            booking.minutes_attended = booking.session.duration_minutes
            journey.mark_intervention_done(session, participant, actor="cli",
                                           how="simulated_attendance")
            latent += EDUCATION_CHANGE - effect
        post = study.timepoint("post")
        assert post is not None
        for pinned in post.instruments:
            instrument = library.get(pinned.instrument_id, pinned.instrument_version)
            journey.save_answers(session, participant, post, instrument,
                                 simulate_answers(instrument, latent + rng.normal(0, 0.5), rng),
                                 final=True)
        completed += 1
    _rate_and_supervise(session, library, study)
    return completed


# The demo's fidelity checklists, in session order (0–3 per element; the last pattern repeats):
# a session close to the protocol, one that drifted from it (below the 0.80 threshold), and
# one in between.
DEMO_FIDELITY = (
    ({"fid_equal_status": "3", "fid_common_goals": "3", "fid_cooperation": "3",
      "fid_institutional_support": "3", "fid_self_disclosure": "3", "fid_nondirective": "2"}),
    ({"fid_equal_status": "2", "fid_common_goals": "2", "fid_cooperation": "1",
      "fid_institutional_support": "2", "fid_self_disclosure": "2", "fid_nondirective": "2",
      "fid_notes": "Started late; the group split into a lecture and questions."}),
    ({"fid_equal_status": "3", "fid_common_goals": "2", "fid_cooperation": "3",
      "fid_institutional_support": "2", "fid_self_disclosure": "3", "fid_nondirective": "3"}),
)
# (days before today, supervisor kind, F, R, P): the hybrid model, one early record flagged.
DEMO_SUPERVISION = (
    (40, SupervisorKind.PEER, 0.75, None, 0.80),
    (26, SupervisorKind.CLINICAL, 0.85, 0.85, 0.80),
    (12, SupervisorKind.PEER, 0.90, None, 0.85),
)


def _rate_and_supervise(session: Session, library: Library, study: Study) -> None:
    """Rate the demo's sessions and record its facilitator's supervision.

    The simulation treats the scheduled sessions as held (it records attendance at sessions
    still to come), so each is rated once, as if just after it ended; the demo's report and
    its fidelity page then show ratings above and below the threshold, and supervision.
    """
    coordinator = session.scalars(
        select(User).where(User.email == "coordinator@allport.example")).one()
    scheduled = session.scalars(
        select(ContactSession).where(ContactSession.study_id == study.id,
                                     ContactSession.status == SessionStatus.SCHEDULED)
        .order_by(ContactSession.starts_at, ContactSession.id)).all()
    for index, contact_session in enumerate(scheduled):
        if fidelity.current_rating(session, contact_session) is not None:
            continue
        ended = contact_session.starts_at + timedelta(minutes=contact_session.duration_minutes)
        fidelity.rate_session(session, contact_session,
                              DEMO_FIDELITY[min(index, len(DEMO_FIDELITY) - 1)],
                              rater=coordinator, library=library, now=ended)
    facilitator = session.scalars(
        select(Facilitator).where(Facilitator.study_id == study.id)).first()
    if facilitator is None or session.scalars(select(SupervisionRecord.id).where(
            SupervisionRecord.facilitator_id == facilitator.id)).first() is not None:
        return
    today = datetime.now(UTC).date()
    for days, kind, role_fidelity, risk_oversight, reflective_practice in DEMO_SUPERVISION:
        fidelity.record_supervision(
            session, facilitator, held_on=today - timedelta(days=days), kind=kind,
            supervisor=(facilitator.clinical_supervisor if kind is SupervisorKind.CLINICAL
                        else facilitator.peer_supervisor),
            role_fidelity=role_fidelity, risk_oversight=risk_oversight,
            reflective_practice=reflective_practice, notes="", user=coordinator)
