"""The end of a trial (DESIGN §4, §7): close recruitment, lock the data, then unblind.

The order is enforced here, for the CLI and the admin pages alike: data can be locked only
once recruitment is closed, and a study can be unblinded only once its analysis plan is frozen
and its data are locked, so nobody can see the real arms while an outcome or an answer could
still change. Each step is audited with who did it and when; unblinding also with why.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from study import audit
from study.errors import NotAllowed
from study.models import AnalysisPlan, Study, StudyStatus, utcnow
from study.services import studies


def close_recruitment(session: Session, study: Study, *, actor: str) -> None:
    """End recruitment (no new consent, no new allocation); only a recruiting study."""
    if study.status is not StudyStatus.RECRUITING:
        raise NotAllowed(f"Study {study.slug!r} is {study.status.value}, not recruiting: there "
                         "is no recruitment to close.")
    studies.close_recruitment(session, study, actor=actor)


def lock_data(session: Session, study: Study, *, actor: str) -> None:
    """Close the post and follow-up windows and lock the data: no answer is stored afterwards.

    The trainee journey refuses answers for a locked study
    (:func:`study.services.journey.refuse_answers_if_data_locked`).
    """
    if study.data_locked_at is not None:
        raise NotAllowed(f"The data of study {study.slug!r} are locked already "
                         f"(since {study.data_locked_at:%Y-%m-%d %H:%M} UTC).")
    if study.status is not StudyStatus.CLOSED:
        raise NotAllowed(f"Close recruitment of study {study.slug!r} before locking its data.")
    study.data_locked_at = utcnow()
    audit.record(session, "data_locked", actor=actor, study=study)


def frozen_plan(session: Session, study: Study) -> AnalysisPlan | None:
    """The newest frozen version of the study's analysis plan, if it has one."""
    return session.scalars(
        select(AnalysisPlan)
        .where(AnalysisPlan.study_id == study.id, AnalysisPlan.frozen_at.is_not(None))
        .order_by(AnalysisPlan.version.desc())
    ).first()


def unblinding_problems(session: Session, study: Study) -> list[str]:
    """What stops the study from being unblinded now; empty when it can be."""
    if not study.blinded:
        return [f"Study {study.slug!r} is unblinded already."]
    problems = []
    if frozen_plan(session, study) is None:
        problems.append("The analysis plan is not frozen.")
    if study.data_locked_at is None:
        problems.append("The data are not locked (close recruitment, then lock the data).")
    return problems


def unblind(session: Session, study: Study, *, reason: str, actor: str) -> None:
    """Reveal the real arms everywhere (DESIGN §4); audited with who, when and why.

    Refused unless the analysis plan is frozen and the data are locked, and without a reason.
    """
    reason = reason.strip()
    if not reason:
        raise NotAllowed("Give the reason for unblinding; it is kept in the audit trail.")
    problems = unblinding_problems(session, study)
    if problems:
        raise NotAllowed("Cannot unblind: " + " ".join(problems))
    plan = frozen_plan(session, study)
    assert plan is not None
    study.blinded = False
    study.unblinded_at = utcnow()
    audit.record(session, "unblinded", actor=actor, study=study, reason=reason[:1000],
                 plan_version=plan.version, plan_sha256=plan.sha256)
