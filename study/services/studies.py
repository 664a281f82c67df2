"""Setting up a study and moving it through draft → recruiting → closed."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

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

# A slug is part of every page address of the study.
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")
SLUG_RULE = "2 to 64 lowercase letters, digits and hyphens, starting with a letter or digit"
TIMEPOINT_LABELS = {"baseline": "Before", "post": "After", "followup": "Follow-up"}


class ArmSpec(NamedTuple):
    """One arm of a :class:`StudySpec`; a plain 5-tuple (ratio 1) is read as one too."""

    key: str
    name: str
    kind: ArmKind
    is_control: bool
    description: str = ""
    ratio: int = 1


class CohortSpec(NamedTuple):
    """One cohort of a :class:`StudySpec`; a plain name is read as one too."""

    name: str
    site: str = ""
    starts_on: date | None = None
    ends_on: date | None = None


# A questionnaire at a time point: its id (the library's newest version is pinned), or
# (id, version) to pin that version.
InstrumentChoice = str | tuple[str, str]


@dataclass
class StudySpec:
    """Everything that defines a draft study: what a study file holds, and what a copy keeps."""

    slug: str
    title: str
    consent_text: str
    description: str = ""
    protocol_number: str = ""
    ethics_approval_number: str = ""
    arms: Sequence[ArmSpec | tuple[str, str, ArmKind, bool, str]] = (
        ArmSpec("education", "Education", ArmKind.EDUCATION, True, ""),
        ArmSpec("contact", "Contact with a peer specialist", ArmKind.CONTACT, False, ""),
    )
    cohorts: Sequence[str | CohortSpec] = ("Cohort 1",)
    # time point -> questionnaires, in the order trainees answer them
    instruments: Mapping[str, Sequence[InstrumentChoice]] = field(default_factory=dict)
    block_sizes: str = "2,4,6"
    strata_factors: str = ""
    post_window_days: int | None = None
    data_kept_on_withdrawal: bool = True
    # DESIGN §3: when post opens at the latest, when follow-up opens after it, and for how long.
    intervention_period_days: int = 14
    followup_offset_days: int = 28
    followup_window_days: int | None = None
    reminder_interval_days: int = 3
    planned_sample_size: int | None = None
    # The education module: (title, Markdown body, video link or None) per page.
    module_pages: Sequence[tuple[str, str, str | None]] = ()
    # The analysis plan (DESIGN §6) set as the draft; None leaves the default plan to opening.
    analysis_plan: dict[str, Any] | None = None
    # Kept with the draft plan, as the reason of its version 1.
    analysis_plan_reason: str = ""

    def arm_specs(self) -> list[ArmSpec]:
        """The arms, each as an :class:`ArmSpec`."""
        return [ArmSpec(*arm) for arm in self.arms]

    def cohort_specs(self) -> list[CohortSpec]:
        """The cohorts, each as a :class:`CohortSpec`."""
        return [CohortSpec(c) if isinstance(c, str) else CohortSpec(*c) for c in self.cohorts]


def _check_schedule(spec: StudySpec) -> None:
    """Refuse day counts, ratios and a sample size that cannot be meant (zero or negative)."""
    for name in ("intervention_period_days", "followup_offset_days", "post_window_days",
                 "followup_window_days", "reminder_interval_days", "planned_sample_size"):
        value = getattr(spec, name)
        if value is not None and not _whole_from_1(value):
            raise NotAllowed(f"{name} must be a whole number from 1, not {value!r}.")
    for arm in spec.arm_specs():
        if not _whole_from_1(arm.ratio):
            raise NotAllowed(f"The ratio of arm {arm.key!r} must be a whole number from 1, "
                             f"not {arm.ratio!r}.")


def _whole_from_1(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def get_study(session: Session, slug: str) -> Study:
    """The study with ``slug``, or a domain error that names it."""
    study = session.scalars(select(Study).where(Study.slug == slug)).first()
    if study is None:
        raise NotAllowed(f"No study with the slug {slug!r}.")
    return study


def create_study(session: Session, spec: StudySpec, library: Library, *, actor: str) -> Study:
    """A draft study from ``spec``, with its module pages and draft plan if it has them; audited.

    Questionnaires are pinned at the version the spec names, else the library's newest. Raises a
    ``DomainError`` (a :class:`~study.services.sap.PlanError` for the plan) and leaves the
    rolling back to the caller, who commits nothing then.
    """
    if not SLUG_RE.fullmatch(spec.slug):
        raise NotAllowed(f"The slug {spec.slug!r} must be {SLUG_RULE}.")
    if not spec.title.strip():
        raise NotAllowed("A study needs a title.")
    if session.scalars(select(Study).where(Study.slug == spec.slug)).first() is not None:
        raise NotAllowed(f"A study with the slug {spec.slug!r} exists already.")
    _check_schedule(spec)
    study = Study(slug=spec.slug, title=spec.title, description=spec.description,
                  protocol_number=spec.protocol_number,
                  ethics_approval_number=spec.ethics_approval_number,
                  block_sizes=spec.block_sizes, strata_factors=spec.strata_factors,
                  post_window_days=spec.post_window_days,
                  intervention_period_days=spec.intervention_period_days,
                  followup_offset_days=spec.followup_offset_days,
                  followup_window_days=spec.followup_window_days,
                  reminder_interval_days=spec.reminder_interval_days,
                  planned_sample_size=spec.planned_sample_size)
    for position, arm in enumerate(spec.arm_specs()):
        study.arms.append(Arm(key=arm.key, name=arm.name, kind=arm.kind,
                              is_control=arm.is_control, ratio=arm.ratio, position=position,
                              description=arm.description))
    for cohort in spec.cohort_specs():
        study.cohorts.append(Cohort(name=cohort.name, site=cohort.site,
                                    starts_on=cohort.starts_on, ends_on=cohort.ends_on))
    for position, (name, choices) in enumerate(spec.instruments.items()):
        timepoint = Timepoint(name=name, label=TIMEPOINT_LABELS.get(name, name),
                              position=position)
        for item_position, choice in enumerate(choices):
            instrument_id, version = (choice, None) if isinstance(choice, str) else choice
            try:
                instrument = library.get(instrument_id, version)
            except LookupError as error:
                raise NotAllowed(f"The {name} questionnaires: {error}.") from None
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
    if spec.module_pages:
        set_module_pages(session, study, spec.module_pages)
    if spec.analysis_plan is not None:
        sap.set_plan(session, study, library, spec.analysis_plan,
                     reason=spec.analysis_plan_reason, actor=actor)
    return study


def spec_of(session: Session, study: Study) -> StudySpec:
    """The :class:`StudySpec` that :func:`create_study` would make ``study`` again from.

    Its design only: the current consent text, the questionnaires at their pinned versions, the
    current analysis plan (None if it has none); never trainees, allocations, the seed or the
    audit trail.
    """
    consent = study.current_consent
    plan = sap.current_plan(session, study)
    return StudySpec(
        slug=study.slug, title=study.title, description=study.description,
        protocol_number=study.protocol_number,
        ethics_approval_number=study.ethics_approval_number,
        consent_text=consent.text if consent is not None else "",
        data_kept_on_withdrawal=consent.data_kept_on_withdrawal if consent is not None else True,
        arms=[ArmSpec(a.key, a.name, a.kind, a.is_control, a.description, a.ratio)
              for a in study.arms],
        cohorts=[CohortSpec(c.name, c.site, c.starts_on, c.ends_on) for c in study.cohorts],
        instruments={tp.name: [(p.instrument_id, p.instrument_version) for p in tp.instruments]
                     for tp in study.timepoints},
        block_sizes=study.block_sizes, strata_factors=study.strata_factors,
        post_window_days=study.post_window_days,
        intervention_period_days=study.intervention_period_days,
        followup_offset_days=study.followup_offset_days,
        followup_window_days=study.followup_window_days,
        reminder_interval_days=study.reminder_interval_days,
        planned_sample_size=study.planned_sample_size,
        module_pages=[(p.title, p.body, p.video_url) for p in study.module_pages],
        analysis_plan=dict(plan.plan) if plan is not None else None,
    )


def copy_study(session: Session, study: Study, new_slug: str, new_title: str, *,
               library: Library, actor: str, cohorts: bool = False) -> Study:
    """A draft copy of ``study``'s design, for the next year's run of it; audited.

    Copied: description, protocol and ethics numbers, arms, the questionnaires **at the versions
    the study pinned** (a replication measures as the study it repeats; choosing newer versions is
    a deliberate change on the set-up page), block sizes and strata, the planned size and the
    schedule, the current consent text as version 1, the module pages, and the current analysis
    plan as the new study's draft with a new multiple-imputation seed. With ``cohorts``, the
    cohorts' names and sites (not their dates, which were last year's). Never copied: trainees,
    invitations, allocations, the allocation seed, facilitators and contact sessions, the audit
    trail.
    """
    plan = sap.current_plan(session, study)
    spec = dataclasses.replace(
        spec_of(session, study), slug=new_slug.strip(), title=new_title.strip(),
        analysis_plan_reason=(f"Copied from study {study.slug}, plan version {plan.version}, "
                              "with a new imputation seed." if plan is not None else ""))
    spec.cohorts = ([CohortSpec(c.name, c.site) for c in study.cohorts] if cohorts else [])
    if spec.analysis_plan is not None and isinstance(spec.analysis_plan.get("mi"), dict):
        spec.analysis_plan = {**spec.analysis_plan,
                              "mi": {**spec.analysis_plan["mi"],
                                     "seed": secrets.randbelow(2**31)}}
    copy = create_study(session, spec, library, actor=actor)
    audit.record(session, "study_copied", actor=actor, study=copy, copied_from=study.slug,
                 cohorts_copied=cohorts)
    return copy


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
            elif item.show_if is not None or not item.required:
                problems.append(f"Strata factor {factor!r}: {item_key} is not asked of every "
                                "trainee (it is optional or has branching logic), so some would "
                                "have no stratum.")
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
