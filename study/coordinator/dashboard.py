"""The coordinator's dashboard: the CONSORT flow and enrolment over time, live, per cohort.

Drawn on the server as SVG (no script), from the same counts as the report's diagram. While
recruitment is open the arms are pooled: running tallies per arm would let a coordinator guess
the next allocation (DESIGN §4); once it closes the diagram splits by arm, named as the study's
blinding allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from markupsafe import Markup
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from study.models import Allocation, Cohort, Consent, ConsentChoice, Participant, Study, StudyStatus
from study.researcher.svg import inline_svg
from study.services import consort
from study.services.blinding import arm_labels


@dataclass(frozen=True)
class Dashboard:
    table: consort.ConsortTable
    diagram: Markup
    enrolment: Markup
    pooled: bool


def enrolment_dates(session: Session, study: Study, cohort: Cohort | None
                    ) -> dict[str, list[date]]:
    """The day each trainee was invited, consented and was allocated (pooled over arms)."""
    in_scope: ColumnElement[bool] = Participant.study_id == study.id
    if cohort is not None:
        in_scope = and_(in_scope, Participant.cohort_id == cohort.id)
    invited = session.scalars(select(Participant.created_at).where(in_scope))
    consented = session.scalars(
        select(func.min(Consent.at)).join(Participant, Consent.participant_id == Participant.id)
        .where(in_scope, Consent.choice == ConsentChoice.AGREE)
        .group_by(Consent.participant_id))
    allocated = session.scalars(
        select(Allocation.allocated_at)
        .join(Participant, Allocation.participant_id == Participant.id).where(in_scope))
    return {label: [_day(moment) for moment in moments]
            for label, moments in (("Invited", invited), ("Consented", consented),
                                   ("Allocated", allocated))}


def _day(moment: datetime) -> date:
    # SQLite's MIN() hands back the stored text, not the column's datetime type.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()


def dashboard(session: Session, study: Study, cohort: Cohort | None = None) -> Dashboard:
    """The dashboard's figures for ``study``, or for one of its cohorts."""
    # matplotlib is imported with the first dashboard drawn, not with the app (issue 14 item 6).
    from analysis.consort_diagram import consort_diagram_svg
    from analysis.report_figures import enrolment_progress_svg

    counts = consort.consort_counts(session, study, cohort)
    pooled = study.status is not StudyStatus.CLOSED
    if pooled:
        counts = consort.pooled(counts)
        labels = {consort.TOTAL: "all arms"}
    else:
        labels = arm_labels(study)
    diagram = consort_diagram_svg(counts, labels, consort.REASON_LABELS,
                                  followup=study.timepoint("followup") is not None)
    enrolment = enrolment_progress_svg(enrolment_dates(session, study, cohort),
                                       until=datetime.now(UTC).date())
    return Dashboard(table=consort.consort_table(study, counts),
                     diagram=inline_svg(diagram, "flow-diagram"),
                     enrolment=inline_svg(enrolment, "enrolment-chart"), pooled=pooled)
