"""Setting up a study and moving it through draft → recruiting → closed."""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from instruments import Item, Library
from study import audit
from study.errors import NotAllowed
from study.models import (
    Arm,
    ArmKind,
    Cohort,
    ConsentDocument,
    ModulePage,
    Study,
    StudyInstrument,
    StudyStatus,
    Timepoint,
    utcnow,
)
from study.models.study import is_web_link
from study.services import sap
from study.services.allocation import strata_factors
from study.services.sequence import LATEST_SCHEME, parse_block_sizes, validate_block_sizes

TIMEPOINT_LABELS = {"baseline": "Before", "post": "After", "followup": "Follow-up"}


@dataclass
class StudySpec:
    slug: str
    title: str
    consent_text: str
    description: str = ""
    arms: Sequence[tuple[str, str, ArmKind, bool, str]] = (
        ("education", "Education", ArmKind.EDUCATION, True, ""),
        ("contact", "Contact with a peer specialist", ArmKind.CONTACT, False, ""),
    )
    cohorts: Sequence[str] = ("Cohort 1",)
    # time point -> instrument ids (newest version is pinned)
    instruments: dict[str, list[str]] = field(default_factory=dict)
    block_sizes: str = "2,4,6"
    strata_factors: str = ""
    post_window_days: int | None = None
    data_kept_on_withdrawal: bool = True
    # DESIGN §3: when post opens at the latest, when follow-up opens after it, and for how long.
    intervention_period_days: int = 14
    followup_offset_days: int = 28
    followup_window_days: int | None = None
    planned_sample_size: int | None = None


def _check_schedule(spec: StudySpec) -> None:
    """Refuse day counts and a sample size that cannot be meant (zero or negative)."""
    for name in ("intervention_period_days", "followup_offset_days", "post_window_days",
                 "followup_window_days", "planned_sample_size"):
        value = getattr(spec, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise NotAllowed(f"{name} must be a whole number from 1, not {value!r}.")


def get_study(session: Session, slug: str) -> Study:
    """The study with ``slug``, or a domain error that names it."""
    study = session.scalars(select(Study).where(Study.slug == slug)).first()
    if study is None:
        raise NotAllowed(f"No study with the slug {slug!r}.")
    return study


def create_study(session: Session, spec: StudySpec, library: Library, *, actor: str) -> Study:
    """A draft study from ``spec``, its instruments pinned at the library's versions; audited."""
    if session.scalars(select(Study).where(Study.slug == spec.slug)).first() is not None:
        raise NotAllowed(f"A study with the slug {spec.slug!r} exists already.")
    _check_schedule(spec)
    study = Study(slug=spec.slug, title=spec.title, description=spec.description,
                  block_sizes=spec.block_sizes, strata_factors=spec.strata_factors,
                  post_window_days=spec.post_window_days,
                  intervention_period_days=spec.intervention_period_days,
                  followup_offset_days=spec.followup_offset_days,
                  followup_window_days=spec.followup_window_days,
                  planned_sample_size=spec.planned_sample_size)
    for position, (key, name, kind, is_control, description) in enumerate(spec.arms):
        study.arms.append(Arm(key=key, name=name, kind=kind, is_control=is_control,
                              position=position, description=description))
    for name in spec.cohorts:
        study.cohorts.append(Cohort(name=name))
    for position, (name, instrument_ids) in enumerate(spec.instruments.items()):
        timepoint = Timepoint(name=name, label=TIMEPOINT_LABELS.get(name, name),
                              position=position)
        for item_position, instrument_id in enumerate(instrument_ids):
            instrument = library.get(instrument_id)
            timepoint.instruments.append(StudyInstrument(
                instrument_id=instrument.id, instrument_version=instrument.version,
                position=item_position))
        study.timepoints.append(timepoint)
    study.consent_documents.append(ConsentDocument(
        version=1, text=spec.consent_text, text_sha256=ConsentDocument.digest(spec.consent_text),
        data_kept_on_withdrawal=spec.data_kept_on_withdrawal))
    session.add(study)
    session.flush()
    audit.record(session, "study_created", actor=actor, study=study)
    return study


def set_module_pages(session: Session, study: Study,
                     pages: Sequence[tuple[str, str, str | None]]) -> None:
    """Replace the education module's pages with ``pages`` (title, Markdown body, video link).

    A video link must be an ``http``/``https`` URL; anything else (``javascript:``) is refused.
    """
    for number, (title, _, video_url) in enumerate(pages, start=1):
        if video_url is not None and not is_web_link(video_url):
            raise NotAllowed(f"Module page {number} ({title}): the video link must be a web "
                             f"address starting with http:// or https://, not {video_url!r}.")
    study.module_pages.clear()
    session.flush()
    for position, (title, body, video_url) in enumerate(pages):
        study.module_pages.append(ModulePage(position=position, title=title, body=body,
                                             video_url=video_url))
    session.flush()


def recruitment_problems(study: Study, library: Library) -> list[str]:
    """Everything that stops a study from opening; empty when it can open."""
    from instruments import missing_wording

    problems = []
    if len(study.arms) != 2 or sum(arm.is_control for arm in study.arms) != 1:
        problems.append("A study needs exactly two arms, one of them the control arm.")
    try:
        validate_block_sizes({arm.key: arm.ratio for arm in study.arms},
                             parse_block_sizes(study.block_sizes))
    except ValueError as error:
        problems.append(f"Block sizes: {error}.")
    if not study.cohorts:
        problems.append("A study needs at least one cohort.")
    names = {tp.name for tp in study.timepoints}
    for needed in ("baseline", "post"):
        if needed not in names or not study.timepoint(needed).instruments:  # type: ignore[union-attr]
            problems.append(f"The {needed} time point has no questionnaire.")
    for timepoint in study.timepoints:
        for pinned in timepoint.instruments:
            try:
                instrument = library.get(pinned.instrument_id, pinned.instrument_version)
            except LookupError as error:
                problems.append(str(error))
                continue
            missing = missing_wording(instrument)
            if missing:
                problems.append(
                    f"{instrument.title} ({instrument.id}) has no wording for "
                    f"{len(missing)} item(s); a site holding the licence must supply it first."
                )
    if study.current_consent is None:
        problems.append("A study needs a consent text.")
    problems.extend(_strata_items(study, library)[1])
    if any(arm.kind is ArmKind.EDUCATION for arm in study.arms) and not study.module_pages:
        problems.append("The education arm has no module pages.")
    session = object_session(study)
    if session is not None:
        problems += sap.draft_problems(session, study, library)
    return problems


def _strata_items(study: Study, library: Library) -> tuple[list[Item], list[str]]:
    """The choice items the strata factors name, and one problem for each factor that names none.

    Only a categorical item of a baseline questionnaire can stratify (DESIGN §4): anything else
    (a misspelt name, a scale or free-text item) would silently put everyone in one stratum or
    spread them over countless ones.
    """
    baseline = study.timepoint("baseline")
    pinned = {p.instrument_id: p.instrument_version
              for p in (baseline.instruments if baseline is not None else [])}
    items: list[Item] = []
    problems: list[str] = []
    for factor in strata_factors(study):
        instrument_id, _, item_key = factor.partition(".")
        if not item_key:
            problems.append(f"Strata factor {factor!r}: write it as questionnaire.item, "
                            "e.g. background.profession.")
        elif instrument_id not in pinned:
            problems.append(f"Strata factor {factor!r}: {instrument_id!r} is not a baseline "
                            "questionnaire of this study.")
        else:
            try:
                item = library.get(instrument_id, pinned[instrument_id]).item(item_key)
            except LookupError:
                problems.append(f"Strata factor {factor!r}: the baseline questionnaire "
                                f"{instrument_id} has no item {item_key!r}.")
                continue
            if item.contact:
                problems.append(f"Strata factor {factor!r}: {item_key} holds contact data, "
                                "which never decides an allocation.")
            elif item.kind != "choice":
                problems.append(f"Strata factor {factor!r}: only a choice item can stratify "
                                f"allocation, and {item_key} is of kind {item.kind}.")
            else:
                items.append(item)
    return items, problems


def recruitment_warnings(study: Study, library: Library) -> list[str]:
    """What opening recruitment allows but the study should hear: too many strata for its size.

    With fewer expected trainees per stratum than twice the largest block, many strata end
    part-way through a block and the arms drift apart (DESIGN §4).
    """
    if not study.planned_sample_size:
        return []
    items, _ = _strata_items(study, library)
    try:
        largest_block = max(parse_block_sizes(study.block_sizes))
    except ValueError:
        return []  # a problem already stops the study from opening
    cohorts = max(len(study.cohorts), 1)
    strata = cohorts * math.prod(len(item.choices) for item in items)
    per_stratum = study.planned_sample_size / strata
    if per_stratum >= 2 * largest_block:
        return []
    breakdown = " × ".join([f"{cohorts} cohort(s)"]
                           + [f"{len(item.choices)} {item.key}" for item in items])
    return [f"{study.planned_sample_size} planned trainees over {strata} strata ({breakdown}) "
            f"make about {per_stratum:.1f} per stratum, fewer than twice the largest block "
            f"({largest_block}): the arms may end unbalanced. Stratify by fewer factors, or "
            "use smaller blocks."]


def set_instruments(session: Session, study: Study, timepoint_name: str,
                    instrument_ids: Sequence[str], library: Library, *, actor: str) -> None:
    """Choose a time point's questionnaires (newest versions); only while the study is a draft."""
    if study.status is not StudyStatus.DRAFT:
        raise NotAllowed("A study's questionnaires are frozen once recruitment has opened.")
    timepoint = study.timepoint(timepoint_name)
    if timepoint is None:
        timepoint = Timepoint(name=timepoint_name,
                              label=TIMEPOINT_LABELS.get(timepoint_name, timepoint_name),
                              position=len(study.timepoints))
        study.timepoints.append(timepoint)
    timepoint.instruments.clear()
    session.flush()
    for position, instrument_id in enumerate(instrument_ids):
        instrument = library.get(instrument_id)
        timepoint.instruments.append(StudyInstrument(
            instrument_id=instrument.id, instrument_version=instrument.version,
            position=position))
    session.flush()
    audit.record(session, "instruments_set", actor=actor, study=study, timepoint=timepoint_name,
                 instruments=list(instrument_ids))


def open_recruitment(session: Session, study: Study, library: Library, *, actor: str
                     ) -> list[str]:
    """Freeze the design, draw the secret seed, and start taking trainees.

    Returns the :func:`recruitment_warnings`, which do not stop the opening.
    """
    problems = recruitment_problems(study, library)
    if problems:
        raise NotAllowed(" ".join(problems))
    study.move_to(StudyStatus.RECRUITING)
    for timepoint in study.timepoints:
        for pinned in timepoint.instruments:
            pinned.fingerprint = library.get(pinned.instrument_id,
                                             pinned.instrument_version).fingerprint
    study.allocation_seed = secrets.token_hex(32)
    # The hash, here and in the append-only audit trail, lets verify-sequence show the seed
    # never changed; a study that opens now derives its sequence with the latest scheme.
    study.allocation_seed_sha256 = hashlib.sha256(study.allocation_seed.encode()).hexdigest()
    study.sequence_scheme = LATEST_SCHEME
    warnings = recruitment_warnings(study, library)
    study.recruitment_opened_at = utcnow()
    sap.freeze(session, study, library, actor=actor)
    audit.record(session, "recruitment_opened", actor=actor, study=study,
                 allocation_seed_sha256=study.allocation_seed_sha256,
                 sequence_scheme=study.sequence_scheme, warnings=warnings)
    return warnings


def close_recruitment(session: Session, study: Study, *, actor: str) -> None:
    """End recruitment: no new trainees; audited."""
    study.move_to(StudyStatus.CLOSED)
    audit.record(session, "recruitment_closed", actor=actor, study=study)
