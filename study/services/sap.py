"""The statistical analysis plan (DESIGN §6): a versioned document, frozen when recruiting opens.

A plan names the primary outcome and time point, the analysis populations, the covariates, the
Holm family of secondary outcomes, α, the sensitivity analyses and the multiple-imputation
settings. It is a plain JSON document with ``"schema": "allport.sap/1"``; its SHA-256 is taken
over the canonical JSON of the document alone (:func:`plan_sha256`), so anyone holding the plan
can recompute the hash printed in a report.

Life cycle
----------
While the study is a draft there is at most one version, version 1, not frozen, and
:func:`set_plan` replaces it. :func:`freeze` (called when recruitment opens) freezes it, or
freezes the default plan if none was set. From then on :func:`set_plan` only *adds* a version,
frozen at once, with a reason. A frozen version is never edited or deleted:
:func:`forbid_frozen_plan_changes` refuses it at flush time, whatever code tries.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from instruments import Item, Library
from study import audit
from study.errors import DomainError, NotAllowed
from study.models import AnalysisPlan, Study, StudyStatus, utcnow
from study.services import adherence

SCHEMA = "allport.sap/1"
PRIMARY_TIMES = ("post", "followup")
POPULATION_KEYS = ("itt", "per_protocol")
SENSITIVITY_ANALYSES = ("lmm", "multiple_imputation")
DEFAULT_ALPHA = 0.05
DEFAULT_MI_M = 50
PLAN_KEYS = ("schema", "primary_outcome", "primary_time", "populations", "covariates",
             "holm_family", "alpha", "sensitivity", "mi")
_MAX_SEED = 2**63 - 1


class PlanError(DomainError):
    """A plan document that does not validate; ``problems`` holds one message per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = "one problem" if len(self.problems) == 1 else f"{len(self.problems)} problems"
        super().__init__(f"The analysis plan has {count}: {'; '.join(self.problems)}.")


def canonical_json(plan: Mapping[str, Any]) -> str:
    """The plan as DESIGN §6 fixes it for hashing: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plan_sha256(plan: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the UTF-8 canonical JSON of the plan alone (not its reason or time)."""
    return hashlib.sha256(canonical_json(plan).encode("utf-8")).hexdigest()


def _outcome_names(study: Study, library: Library) -> list[str]:
    # Imported here: analysis_service imports this module for the plan of an analysis.
    from study.services.analysis_service import study_outcomes

    return [o.name for o in study_outcomes(study, library)]


def strata_factor_names(study: Study) -> list[str]:
    """The study's stratification factors (beside the cohort), the default covariates."""
    return [f.strip() for f in study.strata_factors.split(",") if f.strip()]


def default_holm_family(outcomes: Sequence[Any], primary: str | None) -> list[str]:
    """The default Holm family: the total of every other questionnaire (see :func:`default_plan`).

    ``outcomes`` are :class:`~study.services.analysis_service.Outcome` objects (name,
    instrument, scale). A questionnaire without a ``total`` scale contributes each of its scales,
    which are then its scores; the primary outcome is never in the family.
    """
    with_total = {o.instrument for o in outcomes if o.scale == "total"}
    return [o.name for o in outcomes
            if o.name != primary and (o.scale == "total" or o.instrument not in with_total)]


COHORT_COVARIATE = "cohort"


def covariate_item(study: Study, library: Library, name: str) -> Item | None:
    """The baseline item a covariate names (``instrument.item``), or None for ``cohort``.

    Raises
    ------
    LookupError
        The name is neither ``cohort`` nor an item of a baseline questionnaire of the study that
        holds one answer per participant (free text cannot be a covariate); the message says why.
    """
    if name == COHORT_COVARIATE:
        return None
    instrument_id, _, item_key = name.partition(".")
    if not instrument_id or not item_key:
        raise LookupError(f"covariate {name!r} must be 'cohort' or a baseline questionnaire "
                          "item written as questionnaire.item, e.g. background.profession")
    baseline = study.timepoint("baseline")
    pinned = {p.instrument_id: p.instrument_version
              for p in (baseline.instruments if baseline is not None else [])}
    if instrument_id not in pinned:
        raise LookupError(f"covariate {name!r}: {instrument_id!r} is not a baseline "
                          "questionnaire of this study")
    try:
        item = library.get(instrument_id, pinned[instrument_id]).item(item_key)
    except LookupError:
        raise LookupError(f"covariate {name!r}: the baseline questionnaire {instrument_id} has "
                          f"no item {item_key!r}") from None
    if item.contact:
        raise LookupError(f"covariate {name!r}: {item_key} holds contact data, which never "
                          "enters an analysis")
    if item.kind == "text":
        raise LookupError(f"covariate {name!r}: {item_key} is a free-text item, which cannot "
                          "enter a model")
    return item


def _is_covariate(study: Study, library: Library, name: str) -> bool:
    try:
        covariate_item(study, library, name)
    except LookupError:
        return False
    return True


def default_plan(study: Study, library: Library, *, seed: int | None = None) -> dict[str, Any]:
    """The plan a study gets unless someone writes another (DESIGN §6 defaults).

    The primary outcome is the default one (the first post instrument's total); the covariates
    the stratification factors; α 0.05; the mixed model and multiple imputation (m = 50, a seed
    drawn here, once) as sensitivity analyses.

    The Holm family holds the **secondary totals**: the total of every questionnaire other than
    the primary outcome's (a questionnaire without a total contributes each of its scales). The
    subscales of a questionnaire that has a total are not in it: a total is the sum of its
    subscales, so adjusting a total together with its own subscales counts the same answers as
    several hypotheses and makes each test needlessly conservative; the subscales describe *where*
    a difference in the total lies and are reported with unadjusted p-values, listed in the
    result's ``multiplicity.not_adjusted`` (exploratory). A plan that wants them adjusted names
    them in ``holm_family``.
    """
    from study.services.analysis_service import default_primary, study_outcomes

    outcomes = study_outcomes(study, library)
    primary = default_primary(outcomes)
    return {
        "schema": SCHEMA,
        "primary_outcome": primary,
        "primary_time": "post",
        "populations": {
            "primary": "itt",
            "per_protocol": {"education": "module_completed", "contact": "session_attended",
                             "min_minutes_attended": None},
        },
        "covariates": strata_factor_names(study),
        "holm_family": default_holm_family(outcomes, primary),
        "alpha": DEFAULT_ALPHA,
        "sensitivity": list(SENSITIVITY_ANALYSES),
        "mi": {"m": DEFAULT_MI_M,
               "seed": secrets.randbelow(2**31) if seed is None else seed},
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(value: Any, key: str, problems: list[str]) -> list[str] | None:
    """A list of distinct non-empty strings, or None after saying what is wrong."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{key} must be a list of names")
        return None
    duplicates = sorted({v for v in value if value.count(v) > 1})
    if duplicates:
        problems.append(f"{key} names {', '.join(duplicates)} more than once")
    return value


def _check_keys(value: Mapping[str, Any], allowed: Sequence[str], where: str,
                problems: list[str], optional: Collection[str] = ()) -> None:
    for key in sorted(set(value) - set(allowed)):
        problems.append(f"unknown key {key!r} in {where} (allowed: {', '.join(allowed)})")
    for key in allowed:
        if key not in value and key not in optional:
            problems.append(f"{where} has no {key!r}")


def _check_per_protocol(rule: Any, problems: list[str]) -> None:
    where = "populations.per_protocol"
    if not isinstance(rule, dict):
        problems.append(f"{where} must be a rule such as {{\"education\": \"module_completed\", "
                        f"\"contact\": \"session_attended\", \"min_minutes_attended\": null}}")
        return
    # The criteria are adherence's: the plan names them, adherence applies them.
    _check_keys(rule, tuple(adherence.DEFAULT_RULE), where, problems,
                optional=adherence.OPTIONAL_KEYS)
    for kind, choices in adherence.CRITERIA.items():
        if kind in rule and rule[kind] not in choices:
            problems.append(f"{where}.{kind} must be {' or '.join(map(repr, sorted(choices)))}, "
                            f"not {rule[kind]!r}")
    minutes = rule.get("min_minutes_attended")
    if minutes is not None and not (_is_int(minutes) and minutes >= 0):
        problems.append(f"{where}.min_minutes_attended must be null or a whole number of "
                        f"minutes from 0, not {minutes!r}")
    fidelity = rule.get("min_session_fidelity")
    if not adherence.fidelity_threshold_ok(fidelity):
        problems.append(f"{where}.min_session_fidelity must be null or a share of the fidelity "
                        f"checklist's range from 0 to 1 (e.g. 0.8), not {fidelity!r}")


def plan_problems(plan: Any, study: Study, library: Library) -> list[str]:
    """Everything wrong with ``plan`` for ``study``, one message per problem (empty if valid)."""
    if not isinstance(plan, dict):
        return ["the plan must be a JSON object (a mapping of keys to values)"]
    problems: list[str] = []
    _check_keys(plan, PLAN_KEYS, "the plan", problems)
    if "schema" in plan and plan["schema"] != SCHEMA:
        problems.append(f"schema must be {SCHEMA!r}, not {plan['schema']!r}")

    outcomes = _outcome_names(study, library)
    choose = f"(outcomes of this study: {', '.join(outcomes) or 'none'})"
    primary = plan.get("primary_outcome")
    if "primary_outcome" in plan and primary not in outcomes:
        problems.append(f"primary_outcome {primary!r} is not an outcome of this study {choose}")
    if "primary_time" in plan:
        time = plan["primary_time"]
        if time not in PRIMARY_TIMES:
            problems.append(f"primary_time must be 'post' or 'followup', not {time!r}")
        elif time == "followup" and study.timepoint("followup") is None:
            problems.append("primary_time is 'followup' but the study has no follow-up "
                            "time point")

    if "populations" in plan:
        populations = plan["populations"]
        if not isinstance(populations, dict):
            problems.append("populations must be an object with 'primary' and 'per_protocol'")
        else:
            _check_keys(populations, ("primary", "per_protocol"), "populations", problems)
            if "primary" in populations and populations["primary"] not in POPULATION_KEYS:
                problems.append(f"populations.primary must be 'itt' or 'per_protocol', not "
                                f"{populations['primary']!r}")
            if "per_protocol" in populations:
                _check_per_protocol(populations["per_protocol"], problems)

    if "covariates" in plan:
        for name in _names(plan["covariates"], "covariates", problems) or []:
            try:
                covariate_item(study, library, name)
            except LookupError as error:
                problems.append(str(error))
    if "holm_family" in plan:
        family = _names(plan["holm_family"], "holm_family", problems) or []
        unknown = [name for name in family if name not in outcomes]
        if unknown:
            problems.append(f"holm_family names {', '.join(map(repr, unknown))}, not "
                            f"outcomes of this study {choose}")
        if isinstance(primary, str) and primary in family:
            problems.append(f"holm_family holds the primary outcome {primary!r}; it holds the "
                            f"secondary outcomes only")

    if "alpha" in plan:
        alpha = plan["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) \
                or not 0 < alpha < 1:
            problems.append(f"alpha must be a number between 0 and 1 (exclusive), not {alpha!r}")
    if "sensitivity" in plan:
        names = _names(plan["sensitivity"], "sensitivity", problems) or []
        unknown = [name for name in names if name not in SENSITIVITY_ANALYSES]
        if unknown:
            problems.append(f"sensitivity names {', '.join(map(repr, unknown))}, not analyses "
                            f"the platform runs ({', '.join(SENSITIVITY_ANALYSES)})")
    if "mi" in plan:
        mi = plan["mi"]
        if not isinstance(mi, dict):
            problems.append('mi must be an object such as {"m": 50, "seed": 12345}')
        else:
            _check_keys(mi, ("m", "seed"), "mi", problems)
            if "m" in mi and not (_is_int(mi["m"]) and 2 <= mi["m"] <= 1000):
                problems.append(f"mi.m must be a whole number from 2 to 1000, not {mi['m']!r}")
            if "seed" in mi and not (_is_int(mi["seed"]) and 0 <= mi["seed"] <= _MAX_SEED):
                problems.append(f"mi.seed must be a whole number from 0 to 2^63 - 1, not "
                                f"{mi['seed']!r}")
    return problems


def plan_history(session: Session, study: Study) -> list[AnalysisPlan]:
    """Every version of the study's plan, oldest first."""
    return list(session.scalars(
        select(AnalysisPlan).where(AnalysisPlan.study_id == study.id)
        .order_by(AnalysisPlan.version)))


def current_plan(session: Session, study: Study) -> AnalysisPlan | None:
    """The newest version of the study's plan (a draft before opening), or None if it has none."""
    return session.scalars(
        select(AnalysisPlan).where(AnalysisPlan.study_id == study.id)
        .order_by(AnalysisPlan.version.desc()).limit(1)).first()


def set_plan(session: Session, study: Study, library: Library, plan: Any, *, reason: str,
             actor: str) -> AnalysisPlan:
    """Set the draft plan (before opening) or add a frozen version (after); audited.

    Raises
    ------
    PlanError
        The document does not validate against the study (every problem listed).
    NotAllowed
        After opening: no reason given, or the plan is the same as the current version.
    """
    problems = plan_problems(plan, study, library)
    if problems:
        raise PlanError(problems)
    reason = reason.strip()
    sha256 = plan_sha256(plan)
    current = current_plan(session, study)
    if study.status is StudyStatus.DRAFT:
        if current is None:
            current = AnalysisPlan(study_id=study.id, version=1, plan=plan, sha256=sha256,
                                   reason=reason, created_by=actor)
            session.add(current)
        else:
            current.plan, current.sha256, current.reason = plan, sha256, reason
            current.created_by, current.created_at = actor, utcnow()
        session.flush()
        audit.record(session, "analysis_plan_draft_set", actor=actor, study=study,
                     version=current.version, sha256=sha256)
        return current
    if not reason:
        raise NotAllowed("Recruitment has opened, so the analysis plan is frozen: a new version "
                         "needs a reason (--reason).")
    if current is not None and current.sha256 == sha256:
        raise NotAllowed(f"The plan is the same as version {current.version}; nothing to change.")
    version = AnalysisPlan(study_id=study.id, version=current.version + 1 if current else 1,
                           plan=plan, sha256=sha256, reason=reason, created_by=actor,
                           frozen_at=utcnow())
    session.add(version)
    session.flush()
    audit.record(session, "analysis_plan_version_added", actor=actor, study=study,
                 version=version.version, sha256=sha256)
    return version


def draft_problems(session: Session, study: Study, library: Library) -> list[str]:
    """What in the draft plan (the default one if none was set) would stop recruitment opening."""
    current = current_plan(session, study)
    if current is not None and current.frozen_at is not None:
        return []
    if current is not None:
        plan = current.plan
    else:
        plan = default_plan(study, library, seed=0)
        # Its covariates are the strata factors, whose problems the study's checks name already.
        plan["covariates"] = [name for name in plan["covariates"]
                              if _is_covariate(study, library, name)]
    return [f"Analysis plan: {problem}." for problem in plan_problems(plan, study, library)]


def freeze(session: Session, study: Study, library: Library, *, actor: str) -> AnalysisPlan:
    """Freeze the draft plan (the default plan if none was set) as recruitment opens; audited."""
    current = current_plan(session, study)
    if current is not None and current.frozen_at is not None:
        return current
    if current is None:
        plan = default_plan(study, library)
        problems = plan_problems(plan, study, library)
        if problems:
            raise PlanError(problems)
        current = AnalysisPlan(study_id=study.id, version=1, plan=plan,
                               sha256=plan_sha256(plan), reason="", created_by=actor)
        session.add(current)
    current.frozen_at = utcnow()
    session.flush()
    audit.record(session, "analysis_plan_frozen", actor=actor, study=study,
                 version=current.version, sha256=current.sha256)
    return current


@dataclass(frozen=True)
class PlanSummary:
    """What an analysis result says about the plan it followed (the §6 ``sap`` block)."""

    version: int
    sha256: str
    frozen_at: str | None

    def as_dict(self) -> dict[str, Any]:
        """The ``sap`` block of the analysis JSON."""
        return {"version": self.version, "sha256": self.sha256, "frozen_at": self.frozen_at}


def summary(plan: AnalysisPlan) -> PlanSummary:
    """Version, hash and freezing time (ISO 8601 with its UTC offset) of one plan version."""
    frozen = plan.frozen_at.isoformat() if plan.frozen_at is not None else None
    return PlanSummary(version=plan.version, sha256=plan.sha256, frozen_at=frozen)


def forbid_frozen_plan_changes(session: Session, _context: object, _instances: object) -> None:
    """``before_flush`` guard: a frozen plan version is never updated or deleted.

    Freezing a draft (``frozen_at`` from None to a time) is the one change a version sees
    after it is made; the guard reads ``frozen_at`` as the database holds it, so freezing
    passes and anything after it does not (even on an object whose attributes had expired).
    """
    for obj in (*session.dirty, *session.deleted):
        if not isinstance(obj, AnalysisPlan):
            continue
        if obj not in session.deleted and not session.is_modified(obj):
            continue
        with session.no_autoflush:
            stored = session.execute(
                select(AnalysisPlan.frozen_at).where(AnalysisPlan.id == obj.id)).scalar()
        if stored is not None:
            raise RuntimeError(f"analysis plan version {obj.version} is frozen and cannot change")
