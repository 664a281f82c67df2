"""Adherence, recorded apart from the outcome, and the per-protocol population it defines.

DESIGN §3: every allocated trainee is followed up whatever they took part in, so the
participant status says how far the questionnaires went, not whether the activity was done.
What a trainee actually received is read from the adherence records themselves:

- education arm: ``ModuleProgress`` (pages read, ``completed_at`` once the module is finished);
- contact arm: the ``Booking`` (``attended``, recorded by the coordinator, and
  ``minutes_attended`` when they know it).

The per-protocol rule
---------------------
The analysis plan names the per-protocol population with a rule, a JSON object of exactly
these keys::

    {"education": "module_completed",
     "contact": "session_attended",
     "min_minutes_attended": null,
     "min_session_fidelity": null}

``education``
    What an education-arm trainee must have done: ``"module_completed"`` (every page read
    and the module finished) is the only criterion so far.
``contact``
    What a contact-arm trainee must have done: ``"session_attended"`` (attendance recorded
    as "attended") is the only criterion so far.
``min_minutes_attended``
    ``null`` (no minimum), or a whole number of minutes: a contact-arm trainee must also have
    at least this many minutes attended recorded. A booking whose minutes were never recorded
    does not meet a minimum: the rule asks for evidence, and its absence is not adherence.
``min_session_fidelity`` (optional; absent means ``null``)
    ``null``, or a share from 0 to 1: a contact-arm trainee must also have attended a session
    whose current fidelity rating (``session-fidelity`` total as a share of its 0–3 range,
    :mod:`study.services.fidelity`) reached it. An unrated session does not meet it, for the
    same reason. Absent from plans written before it existed, so their hashes stay unchanged.

:data:`DEFAULT_RULE` is the rule above, the definition the platform has always used. Unknown
keys or values are refused (:class:`InvalidPerProtocolRule`), so a misspelt plan cannot
silently widen the population.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from study.errors import DomainError
from study.models import (
    Allocation,
    Arm,
    ArmKind,
    Booking,
    FidelityRating,
    ModuleProgress,
    Participant,
    Study,
)
from study.services.blinding import arm_code, display_arms

DEFAULT_RULE: dict[str, Any] = {
    "education": "module_completed",
    "contact": "session_attended",
    "min_minutes_attended": None,
    "min_session_fidelity": None,
}
# Keys a stored plan may leave out (added after plans were frozen with the others).
OPTIONAL_KEYS = frozenset({"min_session_fidelity"})

# The criteria each arm kind may name: one each so far; a new one is a value here and a query.
CRITERIA = {"education": {"module_completed"}, "contact": {"session_attended"}}


class InvalidPerProtocolRule(DomainError):
    """A per-protocol rule with an unknown key, an unknown criterion or a bad minimum."""


def check_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """The rule with every key present, or :class:`InvalidPerProtocolRule` saying what is wrong."""
    unknown = set(rule) - set(DEFAULT_RULE)
    if unknown:
        raise InvalidPerProtocolRule(
            f"Unknown key(s) in the per-protocol rule: {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(DEFAULT_RULE)}).")
    checked = {**DEFAULT_RULE, **rule}
    for kind, allowed in CRITERIA.items():
        if checked[kind] not in allowed:
            raise InvalidPerProtocolRule(
                f"The per-protocol rule's {kind!r} must be one of {', '.join(sorted(allowed))}, "
                f"not {checked[kind]!r}.")
    minimum = checked["min_minutes_attended"]
    if minimum is not None and (isinstance(minimum, bool) or not isinstance(minimum, int)
                                or minimum < 0):
        raise InvalidPerProtocolRule(
            "The per-protocol rule's 'min_minutes_attended' must be null or a whole number of "
            f"minutes from 0, not {minimum!r}.")
    if not fidelity_threshold_ok(checked["min_session_fidelity"]):
        raise InvalidPerProtocolRule(
            "The per-protocol rule's 'min_session_fidelity' must be null or a number from 0 "
            f"to 1, not {checked['min_session_fidelity']!r}.")
    return checked


def fidelity_threshold_ok(value: Any) -> bool:
    """``value`` may be a per-protocol session fidelity threshold: None or a number in 0–1."""
    if value is None:
        return True
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= 1)


def per_protocol_codes(session: Session, study: Study,
                       rule: Mapping[str, Any] = DEFAULT_RULE) -> set[str]:
    """Codes of the allocated participants who received their own arm's activity per ``rule``."""
    checked = check_rule(rule)
    allocated = (
        select(Participant.code)
        .join(Allocation, Allocation.participant_id == Participant.id)
        .join(Arm, Allocation.arm_id == Arm.id)
        .where(Participant.study_id == study.id)
    )
    attended = allocated.join(Booking, Booking.participant_id == Participant.id).where(
        Arm.kind == ArmKind.CONTACT, Booking.attended.is_(True))
    if checked["min_minutes_attended"] is not None:
        attended = attended.where(Booking.minutes_attended >= checked["min_minutes_attended"])
    if checked["min_session_fidelity"] is not None:
        attended = attended.join(FidelityRating, FidelityRating.session_id == Booking.session_id
                                 ).where(FidelityRating.superseded_at.is_(None),
                                         FidelityRating.fidelity
                                         >= checked["min_session_fidelity"])
    completed = allocated.join(
        ModuleProgress, ModuleProgress.participant_id == Participant.id
    ).where(Arm.kind == ArmKind.EDUCATION, ModuleProgress.completed_at.is_not(None))
    return set(session.scalars(attended)) | set(session.scalars(completed))


@dataclass(frozen=True)
class ArmAdherence:
    """How much of one arm's activity its allocated trainees received.

    ``module_completed`` and ``session_attended`` say which kind of activity the arm has, so
    they unmask a blinded arm: a page shown while the study is blinded should show ``adhered``
    only (the share who received their own arm's activity, by the default rule).
    """

    arm: str
    allocated: int
    adhered: int
    module_completed: int
    session_attended: int
    mean_minutes_attended: float | None
    minutes_recorded: int


def adherence_summary(session: Session, study: Study) -> list[ArmAdherence]:
    """Per arm (as :mod:`blinding` codes it, in display order): allocated and adherence counts."""
    rows = session.execute(
        select(Arm.key, Participant.code, ModuleProgress.completed_at, Booking.attended,
               Booking.minutes_attended)
        .select_from(Allocation)
        .join(Participant, Allocation.participant_id == Participant.id)
        .join(Arm, Allocation.arm_id == Arm.id)
        .outerjoin(ModuleProgress, ModuleProgress.participant_id == Participant.id)
        .outerjoin(Booking, Booking.participant_id == Participant.id)
        .where(Allocation.study_id == study.id)
    ).all()
    adhered_codes = per_protocol_codes(session, study)
    summary = []
    for arm in display_arms(study):
        mine = [row for row in rows if row.key == arm.key]
        minutes = [row.minutes_attended for row in mine if row.minutes_attended is not None]
        summary.append(ArmAdherence(
            arm=arm_code(study, arm.key),
            allocated=len(mine),
            adhered=sum(row.code in adhered_codes for row in mine),
            module_completed=sum(row.completed_at is not None for row in mine),
            session_attended=sum(row.attended is True for row in mine),
            mean_minutes_attended=sum(minutes) / len(minutes) if minutes else None,
            minutes_recorded=len(minutes),
        ))
    return summary
