"""The analysis plan page, shown to a study's coordinators and researchers alike (DESIGN §6).

Each blueprint has its own route (so each keeps its own per-study role check) and renders the
same template through :func:`render_plan_page`; the page reads, it never changes the plan
(a draft's plan is edited on the blueprint's ``plan_edit`` page, :mod:`study.plan_edit`).
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for

from study.extensions import db
from study.extensions import instrument_library as library
from study.models import Study
from study.services import sap
from study.services.analysis_service import POPULATIONS, study_outcomes


def render_plan_page(study: Study, *, nav: str) -> Any:
    """The plan page of ``study`` inside the study navigation ``nav`` (a template path)."""
    history = sap.plan_history(db.session, study)
    labels = {o.name: o.label for o in study_outcomes(study, library())}
    return render_template(
        "sap/plan.html", study=study, nav=nav, plan=history[-1] if history else None,
        history=list(reversed(history)), outcome_labels=labels, populations=POPULATIONS,
        edit_url=url_for(f"{request.blueprint}.plan_edit", slug=study.slug))
