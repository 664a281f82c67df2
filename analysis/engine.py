"""``analyze``: every figure of DESIGN.md section 6 for each outcome, as one JSON-ready dict."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.assumptions import levene_median, shapiro_wilk
from analysis.baseline import build_baseline
from analysis.baseline_items import read_baseline_items
from analysis.covariate_ancova import PrimaryModel, fit_primary, primary_ancova, primary_slopes
from analysis.data import (
    ALL_TIMES,
    TIMES,
    Covariate,
    Design,
    Observed,
    check_columns,
    column_names,
    complete_cases,
    default_outcomes,
    observe,
    read_covariates,
    read_design,
)
from analysis.effect_sizes import d_ppc2, hedges_g_post
from analysis.errors import AnalysisInputError, FigureUndefined, OutcomeError
from analysis.followup import followup_figures
from analysis.imputation import DEFAULT_MI, mi_settings, multiple_imputation
from analysis.missing import missing_by_arm
from analysis.mixed_anova import mixed_anova
from analysis.mixed_model import random_intercept_lmm
from analysis.multiplicity import holm
from analysis.welch import change_welch

SCHEMA = "allport.analysis/1"

# Failures of a single figure that become {"error": ...} instead of a traceback. FigureUndefined is
# an ArithmeticError; FloatingPointError comes from np.errstate below.
_FIGURE_ERRORS = (ArithmeticError, np.linalg.LinAlgError, ValueError)


def analyze(
    frame: pd.DataFrame,
    outcomes: str | Sequence[str] | None = None,
    control_arm: str = "education",
    primary: str | None = None,
    population: str = "itt",
    covariates: str | Sequence[str] | None = None,
    holm_family: Sequence[str] | None = None,
    baseline_items: Mapping[str, Mapping[str, Any]] | None = None,
    mi: Mapping[str, int] | None = DEFAULT_MI,
    primary_time: str = "post",
) -> dict[str, Any]:
    """Analyse a two-arm pre/post trial: the DESIGN.md section 6 figures for every outcome.

    Parameters
    ----------
    frame
        Tidy long data: one row per participant x time with ``participant``, ``arm``, ``time``
        (``pre``/``post``) and one numeric column per outcome.
    outcomes
        Outcome column(s); by default every column except the key columns and ``covariates``.
    control_arm
        Name of the control arm; the other arm is the treatment and every difference is
        treatment - control.
    primary
        The primary outcome. Its ANCOVA arm p-value is not adjusted; the secondary outcomes' are
        Holm-adjusted among themselves (``ancova.arm.p_holm``). Without a primary outcome every
        outcome is in the Holm family.
    population
        Analysis population label (e.g. ``"itt"``, ``"per_protocol"``), recorded in the result.
        The caller selects the rows; this function does not filter.
    covariates
        Baseline covariate columns, each constant within a participant: they appear in the
        baseline table and enter every outcome's ANCOVA, ``post ~ pre + arm + covariates``
        (non-numeric columns as factors, the first level in sorted order the reference), and the
        ANCOVA's assumption checks. Each ``ancova`` lists them under ``covariates`` (empty when
        none) and gives the ``n`` per arm it used: participants missing a covariate value are
        left out of it, with a note.
    holm_family
        The secondary outcomes whose ANCOVA arm p-values are Holm-adjusted together (an analysis
        plan's family); by default every outcome except the primary one. Outcomes outside the
        family are reported unadjusted.
    baseline_items
        Background columns for the baseline table only (never in a model nor an outcome), each
        with its kind: ``{"profession": {"kind": "categorical", "label": "Profession", "levels":
        {"medicine": "Medicine", ...}}, "year": {"kind": "numeric"}}``; see
        :mod:`analysis.baseline_items`.
    mi
        Multiple-imputation settings ``{"m": ..., "seed": ...}`` (an analysis plan's ``mi``) for
        the sensitivity analysis ``sensitivity.multiple_imputation`` of every outcome
        (:mod:`analysis.imputation`); by default m = 50 and the fixed seed
        :data:`analysis.imputation.DEFAULT_SEED`, so a CSV analysed twice gives the same
        figures. ``None`` (a plan whose ``sensitivity`` does not name it) leaves the key
        ``sensitivity`` out.
    primary_time
        ``"post"`` (the default) or ``"followup"``: the time point of the primary comparison
        (an analysis plan's ``primary_time``). With ``"followup"`` the primary model is each
        outcome's ``followup.ancova`` (``followup ~ pre + arm + covariates``), and the Holm
        family is adjusted on its arm p-values (``followup.ancova.arm.p_holm``); the data must
        then hold ``followup`` rows.

    Returns
    -------
    dict
        JSON-serialisable (plain ``float``/``int``/``str``/``bool``/``None``, no NaN):
        ``schema``, ``control_arm``, ``treatment_arm``, ``population``, ``primary_outcome``,
        ``outcomes`` (per outcome the section 6 keys plus ``primary`` and ``assumptions``; or
        ``{"error": message}`` when the outcome cannot be analysed, with ``missing`` when its
        values could be read), ``multiplicity`` and
        ``baseline`` (see :func:`analysis.baseline_table`). A figure that is undefined for the
        data (e.g. a zero variance) is ``{"error": message}`` in place of its numbers.

    Raises
    ------
    AnalysisInputError
        Whole-input problems: not a DataFrame, no rows, ``participant``/``arm``/``time`` missing,
        more than two arms, two arms without ``control_arm``, unknown covariate or primary outcome,
        a covariate that is not constant within a participant, ``mi`` not of the form
        ``{"m": 2..1000, "seed": int >= 0}``.
    """
    check_columns(frame)
    design = read_design(frame, control_arm)
    if not isinstance(population, str) or not population.strip():
        raise AnalysisInputError("population must be a non-empty label such as 'itt'")
    covariate_names = column_names(frame, covariates, "covariate")
    items = read_baseline_items(frame, baseline_items)
    adjust_for = read_covariates(frame, design, covariate_names)
    if outcomes is None:
        names = default_outcomes(frame, covariate_names + [item.name for item in items])
    else:
        names = list(dict.fromkeys([outcomes] if isinstance(outcomes, str) else map(str, outcomes)))
    if not names:
        raise AnalysisInputError("there is no outcome column besides participant, arm and time")
    if primary is not None and primary not in names:
        raise AnalysisInputError(f"the primary outcome {primary!r} is not among the outcomes")
    if holm_family is not None:
        stray = [n for n in holm_family if n not in names or n == primary]
        if stray:
            raise AnalysisInputError(
                f"the Holm family may hold secondary outcomes only, not {', '.join(stray)}")
    if primary_time not in ("post", "followup"):
        raise AnalysisInputError(f"primary_time must be 'post' or 'followup', not {primary_time!r}")
    if primary_time == "followup" and not design.has_followup:
        raise AnalysisInputError(
            "the primary time point is follow-up, but the data hold no followup rows")

    imputation = mi_settings(mi)
    entries = {
        name: _outcome_entry(frame, design, name, name == primary, adjust_for, imputation)
        for name in names
    }
    multiplicity = _adjust(entries, primary, holm_family, primary_time)
    analysed = [name for name in names if "error" not in entries[name]]
    return _plain(
        {
            "schema": SCHEMA,
            "control_arm": design.control,
            "treatment_arm": design.treatment,
            "population": population,
            "primary_outcome": primary,
            "primary_time": primary_time,
            "outcomes": entries,
            "multiplicity": multiplicity,
            "baseline": build_baseline(frame, design, analysed, covariate_names, items),
        }
    )


def _outcome_entry(
    frame: pd.DataFrame, design: Design, name: str, primary: bool,
    covariates: Sequence[Covariate], mi: tuple[int, int] | None
) -> dict:
    try:
        observed = observe(frame, design, name)
    except OutcomeError as error:
        return {"primary": primary, "error": str(error)}
    missing = missing_by_arm(frame, observed)
    try:
        data = complete_cases(observed)
    except OutcomeError as error:
        return {"primary": primary, "error": str(error), "missing": missing}
    fit = _figure(fit_primary, data, observed, covariates, raw=True)

    def on_fit(compute: Callable[[PrimaryModel], Any]) -> dict[str, Any]:
        """A figure built on the ANCOVA fit, or the fit's own error."""
        return _figure(compute, fit) if isinstance(fit, PrimaryModel) else fit

    entry: dict[str, Any] = {
        "primary": primary,
        "n_complete": {design.control: data.n_control, design.treatment: data.n_treatment},
        "descriptives": _descriptives(observed),
        "mixed_anova": _figure(mixed_anova, data),
        "ancova": on_fit(primary_ancova),
        "change_welch": _figure(change_welch, data),
        "hedges_g_post": _figure(hedges_g_post, data),
        "d_ppc2": _figure(d_ppc2, data),
        "lmm": _figure(random_intercept_lmm, observed),
        "missing": missing,
        "assumptions": {
            "shapiro_wilk": {
                "on": "ANCOVA residuals",
                **on_fit(lambda f: shapiro_wilk(f.residuals)),
            },
            "levene": {
                "on": "post score by arm",
                "center": "median",
                **_figure(levene_median, data.post_control, data.post_treatment),
            },
            "homogeneity_of_slopes": {
                "on": "arm x pre interaction added to the ANCOVA",
                **on_fit(primary_slopes),
            },
        },
    }
    if design.has_followup:
        entry["followup"] = followup_figures(observed, _figure, covariates)
    if mi is not None:
        entry["sensitivity"] = {"multiple_imputation": _figure(multiple_imputation, observed, *mi)}
    notes = list(observed.notes) + list(fit.notes if isinstance(fit, PrimaryModel) else ())
    if notes:
        entry["notes"] = notes
    return entry


def _descriptives(observed: Observed) -> list[dict[str, Any]]:
    """n, mean and SD per arm x time on all available values (SD null when n < 2)."""
    rows = []
    times = ALL_TIMES if observed.design.has_followup else TIMES
    for code, arm in enumerate(observed.design.arms):
        for time_code, time in enumerate(times):
            x = observed.cell(code, time_code)
            rows.append(
                {
                    "arm": arm,
                    "time": time,
                    "n": len(x),
                    "mean": float(np.mean(x)) if len(x) else None,
                    "sd": float(np.std(x, ddof=1)) if len(x) > 1 else None,
                }
            )
    return rows


def _figure(compute: Callable[..., Any], *args: Any, raw: bool = False) -> Any:
    """Run one figure's computation; undefined or non-finite results become ``{"error": ...}``."""
    try:
        with np.errstate(divide="raise", over="raise", invalid="raise"):
            result = compute(*args)
    except _FIGURE_ERRORS as error:
        return {"error": _message(error)}
    if raw:
        return result
    values = asdict(result) if is_dataclass(result) and not isinstance(result, type) else result
    if not _finite(values):
        return {"error": "could not be computed for these data (a non-finite result)"}
    return values


def _message(error: Exception) -> str:
    if isinstance(error, FigureUndefined):
        return str(error)
    return f"could not be computed for these data ({type(error).__name__}: {error})"


def _finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def _primary_ancova(entry: dict, primary_time: str) -> dict | None:
    """The ANCOVA of the primary time point, or None where it could not be computed."""
    if "error" in entry:
        return None
    ancova = entry["ancova"] if primary_time == "post" else entry.get("followup", {}).get("ancova")
    return ancova if ancova is not None and "error" not in ancova else None


def _adjust(
    entries: dict[str, dict], primary: str | None, holm_family: Sequence[str] | None = None,
    primary_time: str = "post",
) -> dict[str, Any]:
    """Holm-adjust the ANCOVA arm p-values of the family (by default every secondary outcome).

    The ANCOVA is that of the primary time point: ``ancova``, or ``followup.ancova``.
    """
    wanted = set(holm_family) if holm_family is not None else set(entries) - {primary}
    members = [(name, ancova) for name, entry in entries.items()
               if name in wanted and (ancova := _primary_ancova(entry, primary_time)) is not None]
    family = [name for name, _ in members]
    for (_, ancova), p in zip(members, holm([a["arm"]["p"] for _, a in members]), strict=True):
        ancova["arm"]["p_holm"] = p
    left_out = [n for n in entries if n != primary and n not in family]
    prefix = "" if primary_time == "post" else "followup."
    return {
        "method": "holm",
        "adjusted": f"{prefix}ancova.arm.p",
        "key": f"{prefix}ancova.arm.p_holm",
        "primary_outcome": primary,
        "family": family,
        "not_adjusted": ([primary] if primary is not None else []) + left_out,
        "rule": (
            "the ANCOVA arm p-values of the named family of secondary outcomes are "
            "Holm-adjusted among themselves; the primary outcome's and any other's are not"
            if holm_family is not None
            else "the primary outcome's ANCOVA arm p-value is not adjusted; the secondary "
            "outcomes' are Holm-adjusted among themselves"
            if primary is not None
            else "no primary outcome named: every outcome's ANCOVA arm p-value is Holm-adjusted"
        ),
    }


def _plain(value: Any) -> Any:
    """Convert to plain JSON types (numpy scalars to Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
