"""The reproducibility bundle (DESIGN §12): a zip from which R recomputes the report's figures.

:func:`build_bundle` writes, beside the PDF report, the data the analysis used and the means to
check it: ``long.csv`` (the de-identified frame that :func:`analysis.analyze` was given by
:func:`~study.services.analysis_service.run_analysis`: participant code, arm code, time, one
column per outcome and the plan's covariates) with ``long_codebook.csv``, which gives each of
its columns the class the engine read it as (so that R reads a cohort "1", "2", "3" as a
factor, not a number), the wide CSV and its codebook (the exports of
:mod:`study.services.statistical_exports`), ``analysis.json`` (the §6 result), ``plan.json``
(the analysis plan with its version and SHA-256), ``reproduce.R`` and a README. Arms are the
codes of :mod:`study.services.blinding`, so a blinded study's bundle names no real arm. Every
file of participant data is recorded in the audit trail, as the exports are; the caller
commits.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from instruments import Library
from instruments.csvfiles import frame_text
from study import audit
from study.models import AnalysisPlan, Study
from study.services import sap, statistical_exports
from study.services.analysis_service import KEY_COLUMNS, run_analysis

FILES = ("README.txt", "long.csv", "long_codebook.csv", "wide.csv", "codebook.csv",
         "analysis.json", "plan.json", "reproduce.R")


def reproduce_script() -> str:
    """The R script shipped in the package (``study/reports/reproduce.R``)."""
    return resources.files("study").joinpath("reports/reproduce.R").read_text(encoding="utf-8")


def _readme(study: Study, result: dict[str, Any], plan: dict[str, Any] | None) -> str:
    arms = ", ".join(f"{code} ({label})" for code, label in result["arm_labels"].items())
    plan_line = (f"the analysis plan, version {plan['version']}, SHA-256 {plan['sha256']}"
                 if plan else "no analysis plan: the study has none, the defaults were used")
    blinded = ("\nThe study is blinded: arms are arm_a and arm_b, and control_arm in analysis.json"
               "\nnames the reference of the comparison, not the study's control arm.\n"
               if study.blinded else "")
    return f"""Reproducibility bundle of the study "{study.slug}"
Made {datetime.now(UTC).isoformat(timespec="seconds")} by Allport.

long.csv       the de-identified data the analysis used, one row per participant x time:
               participant (pseudonymous code), arm (code), time (pre, post, followup), one
               column per outcome (instrument.scale), then the plan's covariates. An empty
               cell is a missing value.
long_codebook.csv  the columns of long.csv: role, label and class (numeric or character, as
               the analysis read it: a covariate of class character is categorical, however
               its codes look). Read long.csv with these classes, e.g. in R
               read.csv("long.csv", colClasses = setNames(cb$class, cb$variable),
                        na.strings = "", check.names = FALSE).
wide.csv       scores and item answers, one row per participant (the wide export).
codebook.csv   the variables of wide.csv: names, labels, value labels, and in "missing" when
               a cell is empty because the item was not applicable (its branching logic was
               false) and which values are missing-data codes (kept as given, never scored).
analysis.json  the analysis result (DESIGN section 6) the report shows.
plan.json      {plan_line}.
reproduce.R    recomputes the primary and secondary outcomes' figures from long.csv and
               compares them with analysis.json: pre/post (afex: mixed ANOVA, Type III; car:
               ANCOVA post ~ pre [+ covariates] + arm, Type III F and confint; effectsize:
               Hedges' g; lme4: mixed model) and, when the data hold follow-up rows, the
               follow-up object (the arm x time (pre, post, follow-up) mixed ANOVA with the
               Greenhouse-Geisser correction, the ANCOVA followup ~ pre [+ covariates] + arm,
               the mixed model's arm x post and arm x follow-up terms). Run it here with
               "Rscript reproduce.R": it prints a table and exits with status 1 when a figure
               differs by more than 1e-6 relative (1e-4 for the mixed models).

Arms: {arms}. Differences are {result["difference"]}.{blinded}"""


def _long_codebook(long: pd.DataFrame, outcomes: dict[str, str]) -> str:
    """``variable,role,class,label`` for each column of ``long``.

    The class is the one :func:`analysis.data.read_covariates` gives the column: a non-numeric
    (or boolean) column is categorical, so ``character``; a numeric one is ``numeric``.
    """
    roles = {"participant": ("key", "Pseudonymous participant code"),
             "arm": ("key", "Arm (code)"),
             "time": ("key", "Time point: pre, post or followup")}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["variable", "role", "class", "label"])
    for name in long.columns:
        column = long[name]
        numeric = (pd.api.types.is_numeric_dtype(column)
                   and not pd.api.types.is_bool_dtype(column))
        if name in roles:
            role, label = roles[name]
            numeric = False
        elif name in outcomes:
            role, label = "outcome", outcomes[name]
        else:
            role, label = "covariate", "The plan's covariate " + name + (
                "" if numeric else " (categorical)")
        writer.writerow([name, role, "numeric" if numeric else "character", label])
    return out.getvalue()


def _plan_file(current: AnalysisPlan, *, blinded: bool) -> dict[str, Any]:
    """The plan with its version and hash; while blinded, without the per-protocol rule.

    The rule says which arm does what (keyed by the real arm keys), so a blinded bundle leaves it
    out, as the report does; the hash is still the whole plan's.
    """
    plan = copy.deepcopy(current.plan)
    note = None
    if blinded and "per_protocol" in plan.get("populations", {}):
        plan["populations"]["per_protocol"] = "withheld while the study is blinded"
        note = ("The study is blinded: the per-protocol rule names the arms and is withheld, so "
                "sha256 (of the whole plan) cannot be recomputed from this file until unblinding.")
    return {"version": current.version, "sha256": current.sha256,
            "frozen_at": sap.summary(current).frozen_at, "note": note, "plan": plan}


def build_bundle(session: Session, study: Study, library: Library, *, actor: str) -> bytes:
    """The zip of :data:`FILES` for ``study``'s primary analysis; records the downloads.

    Raises :class:`~study.services.analysis_service.NothingToAnalyse` when the study has no
    data to analyse.
    """
    done = run_analysis(session, study, library)
    result = done.result
    covariates = [c for c in done.frame.columns
                  if c in {cov for entry in result["outcomes"].values()
                           for cov in entry.get("ancova", {}).get("covariates", [])}]
    outcomes = [o.name for o in done.outcomes]
    long = done.frame[KEY_COLUMNS + outcomes + covariates]
    long_csv = frame_text(long, float_format="%.17g")
    audit.record(session, "export", actor=actor, study=study, table="bundle", format="zip",
                 rows=len(long))
    wide = statistical_exports.export_file(session, study, library, "wide.csv", actor=actor)
    codebook = statistical_exports.export_file(session, study, library, "codebook.csv",
                                               actor=actor)
    current = sap.current_plan(session, study)
    plan = _plan_file(current, blinded=study.blinded) if current is not None else None
    contents = {
        "README.txt": _readme(study, result, plan).encode("utf-8"),
        "long.csv": long_csv.encode("utf-8"),
        "long_codebook.csv": _long_codebook(
            long, {o.name: o.label for o in done.outcomes}).encode("utf-8"),
        "wide.csv": wide.body,
        "codebook.csv": codebook.body,
        "analysis.json": json.dumps(result, indent=2, default=str).encode("utf-8"),
        "plan.json": json.dumps(plan, indent=2).encode("utf-8"),
        "reproduce.R": reproduce_script().encode("utf-8"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in FILES:
            archive.writestr(f"{study.slug}-bundle/{name}", contents[name])
    return buffer.getvalue()
