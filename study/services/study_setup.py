"""Setting a study up in the browser: each section of the set-up pages, and what freezes it.

The set-up pages (``study/coordinator/setup.py``) change a study only through these functions.
Each takes plain values, checks them with the rules the opening checks use
(:func:`~study.services.studies.recruitment_problems`), flushes, and records what changed in the
audit trail (names of what changed, never the text itself).

Freezing (DESIGN §1, "Setting a study up"): once recruitment has opened, whatever defines the
data or the analysis is read-only: the arms (names, descriptions, ratio), block sizes, strata
factors, planned sample size, questionnaires, the intervention period and the post and follow-up
windows, and the education module's pages (every trainee of the arm must get the same module).
A change is refused with :class:`StudyFrozen`. The study's details (title, description,
protocol and ethics numbers) and the reminder interval change at any time; the consent text
changes only as a new version, which is how it changes before opening too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import cast

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from instruments import Instrument, Library, missing_wording
from study import audit
from study.errors import NotAllowed
from study.models import ArmKind, ConsentDocument, Study, StudyStatus, User
from study.models.study import is_web_link
from study.services import staff
from study.services.sequence import parse_block_sizes, validate_block_sizes
from study.services.studies import (
    StudySpec,
    _strata_items,
    create_study,
    set_instruments,
    set_module_pages,
)

SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
SLUG_RULE = ("2 to 64 characters: lower-case letters, digits and hyphens, starting and ending "
             "with a letter or digit (it appears in addresses, e.g. stigma-2027)")
# The time points a study can have, in the order trainees meet them.
TIMEPOINTS = ("baseline", "post", "followup")
MAX_RATIO = 10


class StudyFrozen(NotAllowed):
    """A change to what recruitment froze (DESIGN §1): refused, with what can be done instead."""


def require_draft(study: Study, what: str) -> None:
    """Refuse to change ``what`` once the study has left the draft state."""
    if study.status is not StudyStatus.DRAFT:
        raise StudyFrozen(
            f"Recruitment has opened, so {what} can no longer change: trainees have been "
            "randomized under the design as it was. A different design is a new study.")


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` cannot name a study, or None."""
    if not SLUG_RE.fullmatch(slug):
        return f"Use {SLUG_RULE}."
    return None


# --- a new study ----------------------------------------------------------------------------


def new_study(session: Session, library: Library, *, slug: str, title: str, description: str,
              protocol_number: str, ethics_approval_number: str, creator: User) -> Study:
    """A draft study with the default two arms and one cohort; ``creator`` coordinates it.

    It has no consent text yet (the consent page writes version 1) and no questionnaires; the
    check list says what is missing before it can open.
    """
    problem = slug_problem(slug)
    if problem:
        raise NotAllowed(problem)
    actor = audit.actor_for(user=creator)
    spec = StudySpec(slug=slug, title=title.strip(), consent_text="",
                     description=description.strip())
    try:
        # create_study checks the slug first; two people creating the same slug at once meet
        # the unique constraint instead, which must read as the same refusal, not a 500.
        with session.begin_nested():
            study = create_study(session, spec, library, actor=actor)
    except IntegrityError:
        raise NotAllowed(f"A study with the slug {slug!r} exists already.") from None
    # create_study writes the spec's consent text as version 1; an empty one is no consent.
    study.consent_documents.clear()
    study.protocol_number = protocol_number.strip()
    study.ethics_approval_number = ethics_approval_number.strip()
    session.flush()
    staff.grant_role(session, creator, "coordinator", study, actor=actor)
    return study


# --- details: at any time -------------------------------------------------------------------


def update_details(session: Session, study: Study, *, title: str, description: str,
                   protocol_number: str, ethics_approval_number: str, actor: str) -> list[str]:
    """Change the study's title, description and numbers (allowed at any time); audited.

    Returns the names of what changed (empty when nothing did, and then nothing is recorded).
    """
    values = {"title": title.strip(), "description": description.strip(),
              "protocol_number": protocol_number.strip(),
              "ethics_approval_number": ethics_approval_number.strip()}
    if not values["title"]:
        raise NotAllowed("A study needs a title.")
    changed = [name for name, value in values.items() if getattr(study, name) != value]
    for name in changed:
        setattr(study, name, values[name])
    if changed:
        session.flush()
        audit.record(session, "study_details_changed", actor=actor, study=study,
                     changed=changed)
    return changed


# --- arms, allocation ratio, blocks, strata ---------------------------------------------------


@dataclass(frozen=True)
class ArmSettings:
    """The randomization design as the arms page edits it."""

    education_name: str
    education_description: str
    contact_name: str
    contact_description: str
    education_ratio: int
    contact_ratio: int
    block_sizes: str
    strata_factors: str
    planned_sample_size: int | None


def block_sizes_problem(ratios: Mapping[str, int], text: str) -> str | None:
    """Why ``text`` cannot be the block sizes for ``ratios`` (the opening check's rule), or None."""
    try:
        validate_block_sizes(dict(ratios), parse_block_sizes(text))
    except ValueError as error:
        message = str(error)
        return message[:1].upper() + message[1:] + "."
    return None


@dataclass(frozen=True)
class _WithFactors:
    """A study seen with other strata factors, to check them before they are stored."""

    study: Study
    strata_factors: str

    def timepoint(self, name: str) -> object:
        return self.study.timepoint(name)


def strata_problems(study: Study, library: Library, factors: str) -> list[str]:
    """What is wrong with ``factors`` (comma-separated) for ``study``: the opening check's rule.

    Each must be a choice item of one of the study's baseline questionnaires (DESIGN §4), so the
    baseline questionnaires are chosen first.
    """
    return _strata_items(cast(Study, _WithFactors(study, normalise_factors(factors))),
                         library)[1]


def normalise_factors(factors: str) -> str:
    """``a.b , c.d`` as stored: ``a.b,c.d``."""
    return ",".join(part.strip() for part in factors.split(",") if part.strip())


def update_arms(session: Session, study: Study, library: Library, settings: ArmSettings, *,
                actor: str) -> list[str]:
    """Set the arms and the randomization design (a draft only); audited.

    Returns the names of what changed.
    """
    require_draft(study, "the arms, the allocation ratio, the blocks and the strata")
    for name, ratio in (("education", settings.education_ratio),
                        ("contact", settings.contact_ratio)):
        if not 1 <= ratio <= MAX_RATIO:
            raise NotAllowed(f"The {name} arm's share of the allocation ratio must be a whole "
                             f"number from 1 to {MAX_RATIO}.")
    if not settings.education_name.strip() or not settings.contact_name.strip():
        raise NotAllowed("Each arm needs a name.")
    if settings.planned_sample_size is not None and settings.planned_sample_size < 1:
        raise NotAllowed("The planned sample size must be a whole number from 1.")
    arms = {arm.kind: arm for arm in study.arms}
    if set(arms) != {ArmKind.EDUCATION, ArmKind.CONTACT}:
        raise NotAllowed("This study does not have one education arm and one contact arm.")
    ratios = {arms[ArmKind.EDUCATION].key: settings.education_ratio,
              arms[ArmKind.CONTACT].key: settings.contact_ratio}
    problem = block_sizes_problem(ratios, settings.block_sizes)
    if problem:
        raise NotAllowed(f"Block sizes: {problem}")
    blocks = ",".join(str(size) for size in parse_block_sizes(settings.block_sizes))
    factors = normalise_factors(settings.strata_factors)
    problems = strata_problems(study, library, factors)
    if problems:
        raise NotAllowed(" ".join(problems))

    new = {
        (ArmKind.EDUCATION, "name"): settings.education_name.strip(),
        (ArmKind.EDUCATION, "description"): settings.education_description.strip(),
        (ArmKind.EDUCATION, "ratio"): settings.education_ratio,
        (ArmKind.CONTACT, "name"): settings.contact_name.strip(),
        (ArmKind.CONTACT, "description"): settings.contact_description.strip(),
        (ArmKind.CONTACT, "ratio"): settings.contact_ratio,
    }
    changed = []
    for (kind, name), value in new.items():
        if getattr(arms[kind], name) != value:
            setattr(arms[kind], name, value)
            changed.append(f"{kind.value}.{name}")
    for name, value in (("block_sizes", blocks), ("strata_factors", factors),
                        ("planned_sample_size", settings.planned_sample_size)):
        if getattr(study, name) != value:
            setattr(study, name, value)
            changed.append(name)
    if changed:
        session.flush()
        audit.record(session, "study_arms_changed", actor=actor, study=study, changed=changed,
                     block_sizes=blocks, strata_factors=factors,
                     ratio=ratios)
    return changed


# --- the education module ---------------------------------------------------------------------


PageContent = tuple[str, str, str | None]


def _pages(study: Study) -> list[PageContent]:
    return [(page.title, page.body, page.video_url) for page in study.module_pages]


def _check_page(title: str, body: str, video_url: str | None) -> PageContent:
    if not title.strip():
        raise NotAllowed("A module page needs a title.")
    if not body.strip():
        raise NotAllowed("A module page needs some text.")
    video = (video_url or "").strip() or None
    if video is not None and not is_web_link(video):
        raise NotAllowed("The video link must be a web address starting with http:// or "
                         "https://.")
    return title.strip(), body.strip(), video


def _replace_pages(session: Session, study: Study, pages: Sequence[PageContent], *,
                   actor: str, change: str, position: int) -> None:
    set_module_pages(session, study, pages)
    audit.record(session, "module_pages_changed", actor=actor, study=study, change=change,
                 position=position, pages=len(pages))


def _existing(study: Study, position: int) -> None:
    if not 0 <= position < len(study.module_pages):
        raise NotAllowed(f"The module has no page {position + 1}.")


def add_module_page(session: Session, study: Study, *, title: str, body: str,
                    video_url: str | None, actor: str) -> int:
    """Add a page at the end of the education module (a draft only); returns its position."""
    require_draft(study, "the education module")
    pages = [*_pages(study), _check_page(title, body, video_url)]
    _replace_pages(session, study, pages, actor=actor, change="added", position=len(pages) - 1)
    return len(pages) - 1


def edit_module_page(session: Session, study: Study, position: int, *, title: str, body: str,
                     video_url: str | None, actor: str) -> None:
    """Rewrite the page at ``position`` (0-based; a draft only)."""
    require_draft(study, "the education module")
    _existing(study, position)
    pages = _pages(study)
    pages[position] = _check_page(title, body, video_url)
    _replace_pages(session, study, pages, actor=actor, change="edited", position=position)


def delete_module_page(session: Session, study: Study, position: int, *, actor: str) -> None:
    """Remove the page at ``position``; the pages after it move up (a draft only)."""
    require_draft(study, "the education module")
    _existing(study, position)
    pages = _pages(study)
    del pages[position]
    _replace_pages(session, study, pages, actor=actor, change="deleted", position=position)


def move_module_page(session: Session, study: Study, position: int, offset: int, *,
                     actor: str) -> int:
    """Move the page at ``position`` up (``offset`` -1) or down (+1); returns where it is now."""
    require_draft(study, "the education module")
    _existing(study, position)
    target = position + offset
    if offset not in (-1, 1) or not 0 <= target < len(study.module_pages):
        raise NotAllowed("That page cannot move further that way.")
    pages = _pages(study)
    pages[position], pages[target] = pages[target], pages[position]
    _replace_pages(session, study, pages, actor=actor, change="moved", position=target)
    return target


# --- questionnaires -------------------------------------------------------------------------


def trainee_instruments(library: Library) -> list[Instrument]:
    """The instruments a trainee can answer (a rater's checklist is not one), newest versions."""
    return [instrument for instrument in library.all() if instrument.completed_by == "trainee"]


def wording_missing(library: Library, instrument_id: str) -> int:
    """How many items of ``instrument_id`` (newest version) have no licensed wording yet."""
    return len(missing_wording(library.get(instrument_id)))


def set_questionnaires(session: Session, study: Study, library: Library,
                       chosen: Mapping[str, Sequence[str]], *, actor: str) -> list[str]:
    """Choose the questionnaires of every time point (a draft only); returns the changed ones.

    ``chosen`` maps ``baseline``, ``post`` and ``followup`` to instrument ids in the order
    trainees answer them. No follow-up questionnaire means no follow-up time point.
    """
    require_draft(study, "the questionnaires")
    offered = {instrument.id for instrument in trainee_instruments(library)}
    for name, ids in chosen.items():
        if name not in TIMEPOINTS:
            raise NotAllowed(f"There is no time point {name!r}.")
        unknown = [i for i in ids if i not in offered]
        if unknown:
            raise NotAllowed(f"{', '.join(unknown)}: not a questionnaire of the library that "
                             "trainees answer.")
        if len(set(ids)) != len(ids):
            raise NotAllowed(f"The {name} time point names a questionnaire twice.")
    changed = []
    for name in TIMEPOINTS:
        ids = list(chosen.get(name, ()))
        timepoint = study.timepoint(name)
        current = [p.instrument_id for p in timepoint.instruments] if timepoint else None
        if name == "followup" and not ids:
            if timepoint is not None:
                study.timepoints.remove(timepoint)
                session.flush()
                audit.record(session, "instruments_set", actor=actor, study=study,
                             timepoint=name, instruments=[])
                changed.append(name)
            continue
        if current != ids:
            set_instruments(session, study, name, ids, library, actor=actor)
            changed.append(name)
    for position, timepoint in enumerate(sorted(study.timepoints,
                                                key=lambda tp: TIMEPOINTS.index(tp.name)
                                                if tp.name in TIMEPOINTS else len(TIMEPOINTS))):
        timepoint.position = position
    session.flush()
    return changed


# --- consent --------------------------------------------------------------------------------


def add_consent_version(session: Session, study: Study, *, text: str,
                        data_kept_on_withdrawal: bool, actor: str) -> ConsentDocument:
    """A new version of the consent text, shown to every trainee who consents from now on.

    Earlier versions are kept unchanged: each consent records the version and the SHA-256 of
    the text the trainee read. The same text and withdrawal rule again is refused.
    """
    text = text.strip().replace("\r\n", "\n")
    if not text:
        raise NotAllowed("Write the information trainees read before they consent.")
    current = study.current_consent
    if (current is not None and current.text == text
            and current.data_kept_on_withdrawal == data_kept_on_withdrawal):
        raise NotAllowed(f"This is version {current.version} as it stands; nothing to save.")
    document = ConsentDocument(version=current.version + 1 if current else 1, text=text,
                               text_sha256=ConsentDocument.digest(text),
                               data_kept_on_withdrawal=data_kept_on_withdrawal)
    study.consent_documents.append(document)
    session.flush()
    audit.record(session, "consent_version_added", actor=actor, study=study,
                 version=document.version, sha256=document.text_sha256,
                 data_kept_on_withdrawal=data_kept_on_withdrawal,
                 recruiting=study.status is not StudyStatus.DRAFT)
    return document


# --- schedule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """When the post and follow-up questionnaires open and close, and how often to remind."""

    intervention_period_days: int
    post_window_days: int | None
    followup_offset_days: int
    followup_window_days: int | None
    reminder_interval_days: int


# These define who is measured when, so the analysis: frozen at opening (DESIGN §3).
FROZEN_SCHEDULE = ("intervention_period_days", "post_window_days", "followup_offset_days",
                   "followup_window_days")
MAX_DAYS = 3650


def update_schedule(session: Session, study: Study, schedule: Schedule, *,
                    actor: str) -> list[str]:
    """Set the schedule; after opening only the reminder interval may change; audited."""
    for item in fields(schedule):
        value = getattr(schedule, item.name)
        if value is not None and not 1 <= value <= MAX_DAYS:
            raise NotAllowed(f"{item.name.replace('_', ' ').capitalize()}: enter a whole number "
                             f"of days from 1 to {MAX_DAYS}.")
    changed = [item.name for item in fields(schedule)
               if getattr(study, item.name) != getattr(schedule, item.name)]
    frozen = [name for name in changed if name in FROZEN_SCHEDULE]
    if frozen:
        require_draft(study, "the intervention period and the post and follow-up windows")
    for name in changed:
        setattr(study, name, getattr(schedule, name))
    if changed:
        session.flush()
        audit.record(session, "study_schedule_changed", actor=actor, study=study,
                     **{name: getattr(schedule, name) for name in changed})
    return changed


# --- the check list -------------------------------------------------------------------------

# Which set-up page fixes a problem that the opening checks name, by the words that start it.
_SECTIONS = (
    ("Block sizes", "arms"), ("A study needs exactly two arms", "arms"),
    ("Strata factor", "arms"), ("The education arm has no module pages", "module"),
    ("A study needs a consent text", "consent"), ("Analysis plan", "plan"),
    ("A study needs at least one cohort", "cohorts"),
)


def section_for(problem: str) -> str:
    """The set-up section (``arms``, ``module``, ``questionnaires``, …) that fixes ``problem``."""
    for start, section in _SECTIONS:
        if problem.startswith(start):
            return section
    return "questionnaires"  # no questionnaire at a time point, or wording not yet supplied
