"""A study's analysis from its live data (DESIGN §6): population, outcomes, plan, blinding.

The CLI, the researcher page and the API all call :func:`run_analysis`, so they give the same
numbers. The statistics are :func:`analysis.analyze`; this module chooses the rows (the
population), the outcomes, and takes the primary outcome and the Holm family from the study's
analysis plan, and adds what the study knows (the plan's version and hash, labels, blinding) to
the result. Arm codes, labels and the reference arm come from
:mod:`study.services.blinding`.

Blinding and ``control_arm``
----------------------------
While a study is blinded its data carry ``arm_a``/``arm_b`` only, and nothing here may tell
which of the two is the control. The analysis still needs a reference arm to take differences
against, so a blinded analysis uses **Arm A as the reference**: the §6 key ``control_arm`` is
then ``"arm_a"`` and every difference is Arm B − Arm A. That is a label for the direction of the
comparison, not a statement about which arm is the control, and the result says so (``blinded``,
``reference_note``). The test statistics and p-values do not depend on the choice; the signs of
differences and effect sizes do, and they are read the other way round if Arm A turns out to be
the treatment. Once a study is unblinded the reference is the study's control arm and
differences are treatment − control, as §6 defines them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from instruments import Library
from study.errors import DomainError
from study.models import Study
from study.services import sap
from study.services.adherence import DEFAULT_RULE as DEFAULT_PER_PROTOCOL_RULE
from study.services.adherence import per_protocol_codes
from study.services.blinding import arm_labels, reference_arm

if TYPE_CHECKING:
    import pandas as pd

    from study.services.analysis_data import SubmittedAnswers

KEY_COLUMNS = ["participant", "arm", "time"]


@dataclass(frozen=True)
class Population:
    key: str
    label: str
    definition: str


POPULATIONS: dict[str, Population] = {
    population.key: population
    for population in (
        Population(
            "itt", "Intention to treat",
            "every allocated participant, analysed in the arm allocated, with all the data they "
            "gave (participants whose data were withdrawn are left out)",
        ),
        Population(
            "per_protocol", "Per protocol",
            "allocated participants who received the intervention of their arm: attended their "
            "contact session (contact arm) or completed the education module (education arm)",
        ),
    )
}


class AnalysisRequestError(DomainError):
    """A parameter of the analysis is not valid; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class NothingToAnalyse(DomainError):
    """The study has no data (or no outcome) that the analysis can start from."""


@dataclass(frozen=True)
class Outcome:
    """A pre/post outcome: one scale of an instrument given before and after the intervention."""

    name: str
    instrument: str
    version: str
    scale: str
    label: str
    direction: str


def study_outcomes(study: Study, library: Library) -> list[Outcome]:
    """Every scale of every instrument given at both baseline and post, in the post order."""
    baseline, post = study.timepoint("baseline"), study.timepoint("post")
    if baseline is None or post is None:
        return []
    at_baseline = {pinned.instrument_id for pinned in baseline.instruments}
    outcomes = []
    for pinned in post.instruments:
        if pinned.instrument_id not in at_baseline:
            continue
        instrument = library.get(pinned.instrument_id, pinned.instrument_version)
        outcomes += [
            Outcome(name=f"{instrument.id}.{scale.name}", instrument=instrument.id,
                    version=instrument.version, scale=scale.name, label=scale.label,
                    direction=scale.direction)
            for scale in instrument.scales
        ]
    return outcomes


def default_primary(outcomes: Sequence[Outcome]) -> str | None:
    """The first post instrument's ``total`` (its first scale if it has no total)."""
    if not outcomes:
        return None
    first = [o for o in outcomes if o.instrument == outcomes[0].instrument]
    return next((o.name for o in first if o.scale == "total"), first[0].name)


def primary_outcome(session: Session, study: Study, outcomes: Sequence[Outcome]) -> str | None:
    """The plan's primary outcome; the default one while the study has no plan."""
    plan = sap.current_plan(session, study)
    if plan is not None:
        return str(plan.plan["primary_outcome"])
    return default_primary(outcomes)




def multiple_imputation_settings(plan: Mapping[str, Any] | None) -> Mapping[str, int] | None:
    """The plan's ``mi`` if its ``sensitivity`` names multiple imputation, else None.

    A study without a plan gets :func:`analysis.analyze`'s default (m = 50, a fixed seed), as
    the default plan would run it.
    """
    if plan is None:
        from analysis.imputation import DEFAULT_MI

        return DEFAULT_MI
    return plan["mi"] if "multiple_imputation" in plan["sensitivity"] else None


@dataclass(frozen=True)
class StudyAnalysis:
    """The §6 result of one study and population, with the data it was computed from."""

    result: dict[str, Any]
    frame: pd.DataFrame
    outcomes: list[Outcome]
    reference_arm: str
    labels: dict[str, str]

    def selecting(self, outcomes: Sequence[str] | None) -> StudyAnalysis:
        """The same analysis with only ``outcomes`` (all when empty) in its result.

        Nothing else depends on the choice (the Holm adjustment is over the plan's family).
        """
        return replace(self, result=select_outcomes(self.result, outcomes),
                       outcomes=[o for o in self.outcomes if not outcomes or o.name in outcomes])

    def plot_svg(self, outcome: str) -> str:
        """The interaction plot of ``outcome``; ``analysis.AnalysisInputError`` if impossible."""
        import analysis

        present = set(self.frame["arm"].dropna())
        return analysis.interaction_plot_svg(
            self.frame, outcome, control_arm=self.reference_arm,
            arm_labels={code: label for code, label in self.labels.items() if code in present},
        )


def select_outcomes(result: dict[str, Any], outcomes: Sequence[str] | None) -> dict[str, Any]:
    """A copy of an analysis ``result`` holding only ``outcomes`` (all when empty).

    The baseline table keeps its background rows and the chosen outcomes' rows.
    """
    keep = set(outcomes or result["outcomes"])
    chosen = dict(result)
    chosen["outcomes"] = {name: entry for name, entry in result["outcomes"].items()
                          if name in keep}
    chosen["baseline"] = dict(result["baseline"])
    chosen["baseline"]["rows"] = [row for row in result["baseline"]["rows"]
                                  if row.get("variable") in keep or row.get("baseline_item")]
    chosen["outcome_info"] = {name: info for name, info in result["outcome_info"].items()
                              if name in keep}
    return chosen


def check_population(population: str) -> Population:
    """The population named ``population``, or an error that names the choices."""
    if population not in POPULATIONS:
        raise AnalysisRequestError(
            "population", f"population must be one of {', '.join(POPULATIONS)}, "
            f"not {population!r}.")
    return POPULATIONS[population]


def run_analysis(session: Session, study: Study, library: Library, *,
                 population: str | None = None, outcomes: Sequence[str] | None = None,
                 control_arm: str | None = None,
                 submitted: SubmittedAnswers | None = None) -> StudyAnalysis:
    """Analyse the study's live data for one population, as the study's analysis plan says.

    The primary outcome, the primary population, the covariates of every ANCOVA, α, the Holm
    family and the multiple-imputation settings (:func:`multiple_imputation_settings`) come from
    the plan (:mod:`study.services.sap`); a study without a plan gets the defaults (the default
    primary outcome, intention to treat, no covariates, 0.05, the other questionnaires' totals
    in the Holm family as :func:`~study.services.sap.default_plan` describes). ``population``
    defaults to the plan's primary population; asking for the other one is a sensitivity
    analysis, and the result says so (``population_role``). Every outcome of the study is
    analysed, so the Holm adjustment does not depend on ``outcomes``, which only selects what
    is returned (:meth:`StudyAnalysis.selecting`). ``submitted``: the study's answers already
    read (:func:`~study.services.analysis_data.load_answers`), so that a caller analysing both
    populations reads and scores them once.

    Raises
    ------
    AnalysisRequestError
        An unknown population, outcome or reference arm.
    NothingToAnalyse
        No outcome measured before and after, or no data in this population yet.
    """
    chosen = check_request(session, study, library, population=population, outcomes=outcomes,
                           control_arm=control_arm)
    done = analyse_population(session, study, library, chosen.key, control_arm=control_arm,
                              submitted=submitted)
    return done.selecting(outcomes)


def check_request(session: Session, study: Study, library: Library, *,
                  population: str | None = None, outcomes: Sequence[str] | None = None,
                  control_arm: str | None = None) -> Population:
    """The population an analysis request names (the plan's primary one by default).

    Raises
    ------
    AnalysisRequestError
        An unknown population, outcome or reference arm.
    NothingToAnalyse
        The study has no outcome measured before and after.
    """
    plan_version = sap.current_plan(session, study)
    primary_population = plan_version.plan["populations"]["primary"] if plan_version else "itt"
    chosen = check_population(population or primary_population)
    names = [o.name for o in study_outcomes(study, library)]
    if outcomes:
        unknown = [name for name in outcomes if name not in names]
        if unknown:
            raise AnalysisRequestError(
                "outcome", f"not an outcome of this study: {', '.join(unknown)} "
                f"(choose from {', '.join(names) or 'none'}).")
    labels = arm_labels(study)
    reference = control_arm or reference_arm(study)
    if reference not in labels:
        raise AnalysisRequestError(
            "control", f"the reference arm must be one of {', '.join(labels)}, not {reference!r}.")
    if not names:
        raise NothingToAnalyse(
            "This study has no outcome measured both before and after the intervention.")
    return chosen


def analyse_population(session: Session, study: Study, library: Library, population: str, *,
                       control_arm: str | None = None,
                       submitted: SubmittedAnswers | None = None) -> StudyAnalysis:
    """Every outcome of ``study`` analysed in ``population`` (a request already checked).

    :func:`run_analysis` without the choice of outcomes, once :func:`check_request` has
    accepted the request.
    """
    # Imported here: pandas and the statistics stay out of every other request and command.
    import numpy as np

    import analysis
    from study.services.analysis_data import (
        background_frame,
        baseline_items,
        load_answers,
        study_frame,
    )

    plan_version = sap.current_plan(session, study)
    plan = plan_version.plan if plan_version is not None else None
    primary_population = plan["populations"]["primary"] if plan else "itt"
    chosen = check_population(population)
    available = study_outcomes(study, library)
    names = [o.name for o in available]
    labels = arm_labels(study)
    reference = control_arm or reference_arm(study)

    covariates = list(plan["covariates"]) if plan else []
    if submitted is None:
        submitted = load_answers(session, study)
    try:
        frame = study_frame(session, study, library, covariates, submitted=submitted)
    except LookupError as error:  # a plan written before its covariates were checked
        raise NothingToAnalyse(
            f"The analysis plan's covariates cannot be read: {error}.") from None
    items = baseline_items(study, library)
    background = background_frame(session, study, library, items, submitted=submitted)
    if chosen.key == "per_protocol" and not frame.empty:
        rule = plan["populations"]["per_protocol"] if plan else DEFAULT_PER_PROTOCOL_RULE
        on_protocol = per_protocol_codes(session, study, rule)
        frame = frame[frame["participant"].isin(on_protocol)]
        background = background[background["participant"].isin(on_protocol)]
    if frame.empty:
        raise NothingToAnalyse(
            f"There are no questionnaire data from allocated participants in the "
            f"{chosen.label.lower()} population yet.")
    frame = frame.reindex(columns=KEY_COLUMNS + names + covariates).reset_index(drop=True)
    frame[names] = frame[names].astype(np.float64)
    # Background answers join the pre rows (a participant with answers only gets a pre row). An
    # item that is also a covariate is on every row already, and the engine shows it once.
    background = background.drop(columns=[c for c in covariates if c in background.columns])
    frame = frame.merge(background, on=KEY_COLUMNS, how="outer", sort=False)

    primary_time = plan["primary_time"] if plan else "post"
    if primary_time == "followup" and "followup" not in set(frame["time"]):
        raise NothingToAnalyse(
            "The analysis plan's primary time point is follow-up, and nobody has answered the "
            "follow-up questionnaires yet.")

    try:
        primary = primary_outcome(session, study, available)
        result = analysis.analyze(frame, outcomes=names, control_arm=reference,
                                  primary=primary, population=chosen.key,
                                  covariates=covariates,
                                  holm_family=(plan["holm_family"] if plan
                                               else sap.default_holm_family(available, primary)),
                                  baseline_items=items,
                                  mi=multiple_imputation_settings(plan),
                                  primary_time=primary_time)
    except analysis.AnalysisInputError as error:
        raise NothingToAnalyse(f"The data cannot be analysed: {error}") from None

    treatment = result["treatment_arm"] or next((c for c in labels if c != reference), None)
    population_n = frame.drop_duplicates("participant")["arm"].value_counts()
    result.update({
        "study": study.slug,
        "blinded": study.blinded,
        "sap": sap.summary(plan_version).as_dict() if plan_version is not None else None,
        "alpha": plan["alpha"] if plan else sap.DEFAULT_ALPHA,
        "population_role": "primary" if chosen.key == primary_population else "sensitivity",
        "arm_labels": labels,
        "difference": f"{treatment} - {reference}",
        "population_definition": chosen.definition,
        "population_n": {code: int(population_n.get(code, 0)) for code in labels},
        "outcome_info": {o.name: {"instrument": o.instrument, "version": o.version,
                                  "scale": o.scale, "label": o.label, "direction": o.direction}
                         for o in available},
    })
    if study.blinded:
        result["reference_note"] = (
            f"The study is blinded: control_arm names the reference arm of the comparison "
            f"({labels[reference]}), not the study's control arm; differences are "
            f"{labels.get(treatment or '', 'the other arm')} minus {labels[reference]}.")
    return StudyAnalysis(result=select_outcomes(result, None), frame=frame, outcomes=available,
                         reference_arm=reference, labels=labels)
