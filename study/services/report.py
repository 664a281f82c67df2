"""The PDF study report (DESIGN §12): its data gathered from the services, rendered by WeasyPrint.

:func:`assemble` collects what the report shows — the study, its analysis plan, the analysis
JSON of the plan's primary population (and of the other one, as a sensitivity analysis), the
CONSORT counts, adherence, reliability, the figures, a SHA-256 of the dataset and the software
versions — as plain values; :func:`render_html` turns them into HTML with the templates in
``templates/reports/``; :func:`render_pdf` prints the HTML with a URL fetcher that refuses
files and the network, so a report can only contain what this module put in it.

Every number comes from the analysis JSON (:func:`run_analysis`) or a service the rest of the
platform uses, formatted by :mod:`study.services.report_format`. Keys that later analysis
increments add (``followup``, ``sensitivity``, ``missing``) are shown when present and
announced as not available otherwise. While the study is blinded nothing here names a real
arm: arms are the codes and labels of :mod:`study.services.blinding`, and texts that would say
which arm does what (adherence by activity, the per-protocol definition) are left out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from instruments import Library
from study.errors import DomainError
from study.models import (
    SUPERVISION_THRESHOLDS,
    Allocation,
    AnalysisPlan,
    Arm,
    ContactSession,
    Facilitator,
    Response,
    ResponseStatus,
    Study,
    Timepoint,
)
from study.services import consort, fidelity, sap
from study.services.adherence import ArmAdherence, adherence_summary
from study.services.analysis_service import (
    POPULATIONS,
    NothingToAnalyse,
    StudyAnalysis,
    run_analysis,
)
from study.services.blinding import arm_code, arm_labels

if TYPE_CHECKING:
    import pandas as pd

    from study.services.analysis_data import SubmittedAnswers

PAPERS = {"a4": "A4", "letter": "letter"}

# (anchor, heading) in the order of DESIGN §12; the table of contents and the tests read it.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("consort", "Participant flow (CONSORT)"),
    ("recruitment", "Recruitment"),
    ("baseline", "Baseline characteristics"),
    ("reliability", "Reliability of the instruments"),
    ("primary", "Primary analysis"),
    ("mixed-anova", "Mixed ANOVA"),
    ("secondary", "Secondary outcomes"),
    ("followup", "Follow-up"),
    ("sensitivity", "Sensitivity analyses"),
    ("missing", "Missing data"),
    ("assumptions", "Assumption checks"),
    ("delivery", "Intervention delivery and fidelity"),
    ("methods", "Methods"),
    ("definitions", "Definitions of the statistics"),
)

SOFTWARE = ("allport", "numpy", "scipy", "pandas", "statsmodels", "pingouin", "matplotlib",
            "weasyprint", "flask", "sqlalchemy")


class ReportUnavailable(DomainError):
    """The report cannot be made (e.g. WeasyPrint refused a resource)."""


@dataclass(frozen=True)
class DaysToPost:
    """Days from allocation to the first submitted post questionnaire, for one arm."""

    arm: str
    n: int
    median: float | None
    q1: float | None
    q3: float | None


@dataclass(frozen=True)
class Certification:
    """Contact sessions held, and how many were led by a facilitator certified on the day."""

    facilitators: int
    sessions: int
    sessions_certified: int


@dataclass(frozen=True)
class SessionFidelityRow:
    """One contact session held, with its current fidelity rating (None: not rated)."""

    starts_at: datetime
    facilitator: str
    conditions: float | None
    peer_practice: float | None
    fidelity: float | None
    met: bool | None


@dataclass(frozen=True)
class SupervisionRow:
    """One facilitator's certification and supervision: means of F, R, P and records below."""

    facilitator: str
    certified_until: date
    sessions: int
    sessions_certified: int
    records: int
    means: dict[str, float | None]
    rated: dict[str, int]
    below: dict[str, int]


@dataclass(frozen=True)
class FidelityReport:
    """Session fidelity against the threshold and supervision against the hybrid model's."""

    threshold: float
    threshold_from_plan: bool
    sessions: list[SessionFidelityRow]
    means: dict[str, float | None]
    facilitators: list[SupervisionRow]
    thresholds: dict[str, float]
    measure_labels: dict[str, str]

    @property
    def rated(self) -> int:
        return sum(row.fidelity is not None for row in self.sessions)

    @property
    def met(self) -> int:
        return sum(row.met is True for row in self.sessions)

    @property
    def supervision_records(self) -> int:
        return sum(row.records for row in self.facilitators)


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, as plain values (the templates only format and lay out)."""

    title: str
    slug: str
    protocol_number: str  # "" when not recorded
    ethics_approval_number: str
    blinded: bool
    snapshot: datetime
    labels: dict[str, str]
    plan: AnalysisPlan | None
    plan_history: list[AnalysisPlan]
    analysis: dict[str, Any] | None
    analysis_problem: str | None
    other_population: dict[str, Any] | None
    other_population_problem: str | None
    outcome_order: list[str]
    dataset_sha256: str | None
    dataset_rows: int
    consort: dict[str, Any]
    adherence: list[ArmAdherence]
    days_to_post: list[DaysToPost]
    certification: Certification
    fidelity: FidelityReport
    reliability: list[dict[str, Any]]
    methods: dict[str, Any]
    software: dict[str, str]
    figures: dict[str, str] = field(default_factory=dict)


def dataset_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of the analysed long data as canonical CSV (rows sorted, floats to 12 digits).

    The same frame always gives the same hash, whatever order the database returned it in, so
    the title page's hash changes exactly when the data the analysis used change. The arms are
    the analysis's codes (``arm_a``/``arm_b`` while blinded), so unblinding changes the hash
    too: the unblinded dataset is another file, as its CSV export is.
    """
    canonical = frame.sort_values(["participant", "time"], kind="stable").to_csv(
        index=False, float_format="%.12g", lineterminator="\n")
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _svg_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _outcome_order(result: dict[str, Any], plan: AnalysisPlan | None) -> list[str]:
    """The primary outcome, then the plan's Holm family in its order, then the rest."""
    names = list(result["outcomes"])
    primary = result.get("primary_outcome")
    family = list(plan.plan.get("holm_family", [])) if plan is not None else []
    ordered = [n for n in [primary, *family] if n in names]
    return list(dict.fromkeys(ordered + names))


def _days_to_post(session: Session, study: Study) -> list[DaysToPost]:
    post = study.timepoint("post")
    allocated = {pid: (key, when) for pid, key, when in session.execute(
        select(Allocation.participant_id, Allocation.arm_id, Allocation.allocated_at)
        .where(Allocation.study_id == study.id))}
    keys = {arm.id: arm.key for arm in study.arms}
    first: dict[int, datetime] = {}
    if post is not None:
        for pid, submitted in session.execute(
            select(Response.participant_id, Response.submitted_at)
            .join(Timepoint, Response.timepoint_id == Timepoint.id)
            .where(Timepoint.id == post.id, Response.status == ResponseStatus.SUBMITTED)
        ):
            if submitted is not None and (pid not in first or submitted < first[pid]):
                first[pid] = submitted
    days: dict[str, list[float]] = {arm_code(study, arm.key): [] for arm in study.arms}
    for pid, submitted in first.items():
        if pid in allocated:
            arm_id, when = allocated[pid]
            days[arm_code(study, keys[arm_id])].append(
                (submitted - when).total_seconds() / 86400)
    rows = []
    for code in arm_labels(study):
        values = sorted(days.get(code, []))
        if len(values) >= 2:
            q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
            rows.append(DaysToPost(code, len(values), median, q1, q3))
        else:
            only = values[0] if values else None
            rows.append(DaysToPost(code, len(values), only, only, only))
    return rows


def _certification(session: Session, study: Study) -> Certification:
    held = session.execute(
        select(ContactSession.starts_at, Facilitator.certified_from, Facilitator.certified_until)
        .join(Facilitator, ContactSession.facilitator_id == Facilitator.id)
        .where(ContactSession.study_id == study.id)).all()
    count = session.scalar(select(func.count()).select_from(Facilitator)
                           .where(Facilitator.study_id == study.id)) or 0
    certified = sum(start <= when.date() <= until for when, start, until in held)
    return Certification(count, len(held), certified)


def _fidelity(session: Session, study: Study, plan: AnalysisPlan | None,
              now: datetime) -> FidelityReport:
    """Held sessions with their fidelity, and each facilitator's certification and supervision.

    Nothing here counts trainees: sessions belong to the contact arm, so a count of who attended
    them would name that arm's size while the study is blinded.
    """
    rule = plan.plan.get("populations", {}).get("per_protocol") if plan is not None else None
    planned = fidelity.plan_threshold(rule if isinstance(rule, dict) else None)
    data = fidelity.study_fidelity(session, study, planned, now=now)
    # Sessions held, and any rated ahead of the clock (the demo simulates sessions to come).
    held = [row for row in data.sessions if row.held or row.rating is not None]
    sessions = [SessionFidelityRow(
        row.session.starts_at, row.session.facilitator.display_name,
        row.rating.conditions if row.rating else None,
        row.rating.peer_practice if row.rating else None,
        row.rating.fidelity if row.rating else None, row.met) for row in held]
    facilitators = []
    for entry in data.facilitators:
        led = [row.session for row in held if row.session.facilitator_id == entry.facilitator.id]
        records = entry.records
        facilitators.append(SupervisionRow(
            facilitator=entry.facilitator.display_name,
            certified_until=entry.facilitator.certified_until, sessions=len(led),
            sessions_certified=sum(entry.facilitator.certified_from <= s.starts_at.date()
                                   <= entry.facilitator.certified_until for s in led),
            records=len(records),
            means={m: entry.mean(m) for m in SUPERVISION_THRESHOLDS},
            rated={m: sum(getattr(r, m) is not None for r in records)
                   for m in SUPERVISION_THRESHOLDS},
            below={m: sum(m in r.flags() for r in records) for m in SUPERVISION_THRESHOLDS}))
    return FidelityReport(
        threshold=data.threshold, threshold_from_plan=planned is not None, sessions=sessions,
        means={scale: data.mean(scale) for scale in ("conditions", "peer_practice", "fidelity")},
        facilitators=facilitators, thresholds=dict(SUPERVISION_THRESHOLDS),
        measure_labels=dict(fidelity.MEASURE_LABELS))


def _reliability(study: Study, library: Library, submitted: SubmittedAnswers
                 ) -> list[dict[str, Any]]:
    """α (with its CI) and ω per instrument, time point and arm, from the item responses."""
    from instruments.reliability import reliability_table
    from study.services.analysis_data import answer_table

    responses = submitted.responses
    answered = responses["response"].isin(submitted.answers["response"])
    responses = responses[answered & (responses["arm"] != "")
                          & responses["time"].isin(["pre", "post"])]
    labels = arm_labels(study)
    tables = []
    for instrument, group, answers in submitted.by_instrument(library, responses):
        if not instrument.scales:
            continue
        wide = answer_table(instrument, group, answers)
        wide.insert(0, "participant", group["participant"])
        wide.insert(1, "arm", group["arm"])
        wide.insert(2, "time", group["time"])
        wide = wide.sort_values(["participant", "arm", "time"]).reset_index(drop=True)
        table = reliability_table(instrument, wide, by=["time", "arm"])
        for row in table.to_dict("records"):
            row |= {"instrument": instrument.id, "version": instrument.version,
                    "arm_label": labels.get(str(row["arm"]), row["arm"])}
            tables.append(row)
    order = {"pre": 0, "post": 1}
    arm_order = {code: number for number, code in enumerate(labels)}
    tables.sort(key=lambda r: (r["instrument"], order.get(r["time"], 9),
                               arm_order.get(r["arm"], 9)))
    return tables


def _methods(study: Study) -> dict[str, Any]:
    strata = [name for name in study.strata_factors.split(",") if name.strip()]
    return {
        "block_sizes": [size.strip() for size in study.block_sizes.split(",") if size.strip()],
        "strata": strata,
        "ratio": ":".join(str(arm.ratio) for arm in study.arms),
        "scheme": study.sequence_scheme,
        "seed_sha256": study.allocation_seed_sha256,
        "opened": study.recruitment_opened_at,
        "intervention_days": study.intervention_period_days,
        "followup_offset_days": study.followup_offset_days,
    }


def software_versions() -> dict[str, str]:
    """Python and the installed version of each package the analysis and the report use."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    # Read once per process: importlib.metadata scans site-packages on every call (~0.1 s).
    versions = [("python", platform.python_version())]
    for name in SOFTWARE:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(versions)


def _figures(done: StudyAnalysis, order: list[str], labels: dict[str, str],
             counts: dict[str, Any], allocations: dict[str, list[Any]], *,
             followup: bool) -> dict[str, str]:
    from analysis import AnalysisInputError
    from analysis.consort_diagram import consort_diagram_svg
    from analysis.report_figures import change_distribution_svg, recruitment_svg

    figures = {"consort": _svg_uri(consort_diagram_svg(counts, labels, consort.REASON_LABELS,
                                                       followup=followup)),
               "recruitment": _svg_uri(recruitment_svg(allocations))}
    info = done.result.get("outcome_info", {})
    for name in order:
        if "error" in done.result["outcomes"][name]:
            continue
        try:
            figures[f"interaction:{name}"] = _svg_uri(done.plot_svg(name))
        except AnalysisInputError:
            continue
    primary = done.result.get("primary_outcome")
    if primary in done.result["outcomes"] and "error" not in done.result["outcomes"][primary]:
        wide = done.frame.pivot_table(index=["participant", "arm"], columns="time",
                                      values=primary, aggfunc="first").reset_index()
        if {"pre", "post"} <= set(wide.columns):
            wide = wide.dropna(subset=["pre", "post"])
            changes = {label: (wide.loc[wide["arm"] == code, "post"]
                               - wide.loc[wide["arm"] == code, "pre"]).tolist()
                       for code, label in labels.items()}
            label = info.get(primary, {}).get("label", primary)
            figures["change"] = _svg_uri(change_distribution_svg(changes, label))
    return figures


def assemble(session: Session, study: Study, library: Library, *,
             now: datetime | None = None) -> ReportData:
    """Gather the report's data for ``study`` as it stands now (read only: no writes)."""
    from study.services.analysis_data import load_answers

    snapshot = now or datetime.now(UTC)
    labels = arm_labels(study)
    plan = sap.current_plan(session, study)
    counts = consort.consort_counts(session, study, now=snapshot)
    analysis: dict[str, Any] | None = None
    problem = other_problem = None
    other: dict[str, Any] | None = None
    order: list[str] = []
    figures: dict[str, str] = {}
    digest: str | None = None
    rows = 0
    # Every allocation's date, withdrawn trainees' too: the date is on the minimal trial record
    # and the figure shows counts per day, not who (the export leaves such a trainee's out).
    allocations: dict[str, list[Any]] = {label: [] for label in labels.values()}
    for key, when in session.execute(
            select(Arm.key, Allocation.allocated_at).join(Arm, Allocation.arm_id == Arm.id)
            .where(Allocation.study_id == study.id)):
        allocations[labels[arm_code(study, key)]].append(when.date())
    # The answers are read and scored once, for both populations and the reliability tables.
    submitted = load_answers(session, study)
    try:
        done = run_analysis(session, study, library, submitted=submitted)
    except NothingToAnalyse as error:
        problem = str(error)
        from analysis.consort_diagram import consort_diagram_svg

        figures["consort"] = _svg_uri(consort_diagram_svg(
            counts, labels, consort.REASON_LABELS,
            followup=study.timepoint("followup") is not None))
    else:
        analysis = done.result
        order = _outcome_order(analysis, plan)
        digest = dataset_sha256(done.frame)
        rows = len(done.frame)
        figures = _figures(done, order, labels, counts, allocations,
                           followup=study.timepoint("followup") is not None)
        other_key = next(key for key in POPULATIONS if key != analysis["population"])
        try:
            other = run_analysis(session, study, library, population=other_key,
                                 submitted=submitted).result
        except NothingToAnalyse as error:
            other_problem = str(error)
    return ReportData(
        title=study.title, slug=study.slug, protocol_number=study.protocol_number.strip(),
        ethics_approval_number=study.ethics_approval_number.strip(),
        blinded=study.blinded, snapshot=snapshot,
        labels=labels, plan=plan, plan_history=sap.plan_history(session, study),
        analysis=analysis, analysis_problem=problem, other_population=other,
        other_population_problem=other_problem, outcome_order=order, dataset_sha256=digest,
        dataset_rows=rows, consort=counts, adherence=adherence_summary(session, study),
        days_to_post=_days_to_post(session, study), certification=_certification(session, study),
        fidelity=_fidelity(session, study, plan, snapshot),
        reliability=_reliability(study, library, submitted), methods=_methods(study),
        software=software_versions(), figures=figures,
    )


def figure_errors(entry: Any, path: str = "") -> list[tuple[str, str]]:
    """(key path, message) of every figure the analysis gave as ``{"error": message}``."""
    if not isinstance(entry, dict):
        return []
    if "error" in entry and path:
        return [(path, str(entry["error"]))]
    found = []
    for key, value in entry.items():
        found += figure_errors(value, f"{path}.{key}" if path else str(key))
    return found


def render_html(data: ReportData, paper: str = "a4") -> str:
    """The report as HTML for WeasyPrint (needs an app context for the templates).

    The templates run with :class:`jinja2.ChainableUndefined`: a figure the analysis could not
    compute is ``{"error": …}`` in the JSON, so reading its numbers gives an undefined value
    that the formatting shows as a dash, and :func:`figure_errors` prints the reason below
    the table, instead of the whole report failing on one undefined figure.
    """
    from jinja2 import ChainableUndefined

    from study.services import report_format

    if paper not in PAPERS:
        raise ReportUnavailable(f"paper must be one of {', '.join(PAPERS)}, not {paper!r}.")
    environment = current_app.jinja_env.overlay(undefined=ChainableUndefined)
    template = environment.get_template("reports/report.html")
    return template.render(report=data, paper=PAPERS[paper], sections=SECTIONS,
                           populations=POPULATIONS, reason_labels=consort.REASON_LABELS,
                           fmt=report_format, figure_errors=figure_errors)


def inline_only_fetcher() -> Any:
    """WeasyPrint's URL fetcher for reports: inline ``data:`` resources only, else an error.

    A report holds everything it shows; a ``file://`` or network URL (from a template mistake,
    or text that reached the HTML) is refused rather than read from the server or fetched, and
    the refusal stops the rendering instead of leaving a silent gap in the PDF.
    """
    from weasyprint.urls import URLFetcher

    class InlineOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"the report refuses to fetch {url[:80]!r}: only data: URLs")
            return super().fetch(url, headers)

    return InlineOnly(allowed_protocols={"data"}, fail_on_errors=True, timeout=1)


def render_pdf(html: str) -> bytes:
    """Print ``html`` to PDF with its fonts embedded and no external resource fetched."""
    from weasyprint import HTML
    from weasyprint.urls import FatalURLFetchingError

    try:
        pdf = HTML(string=html, url_fetcher=inline_only_fetcher()).write_pdf()
    except FatalURLFetchingError as error:  # a BaseException: turned into a domain error
        raise ReportUnavailable(f"The report cannot be printed: {error}") from None
    if pdf is None:
        raise ReportUnavailable("WeasyPrint produced no PDF.")
    return bytes(pdf)


def build_report(session: Session, study: Study, library: Library, *, paper: str = "a4",
                 now: datetime | None = None) -> bytes:
    """The study report as PDF bytes (DESIGN §12)."""
    return render_pdf(render_html(assemble(session, study, library, now=now), paper))
