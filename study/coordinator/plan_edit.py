"""The coordinator's page for editing a draft study's analysis plan (``study.plan_edit``)."""

from __future__ import annotations

from typing import Any

from study.auth.access import study_role_required
from study.coordinator.blueprint import bp
from study.models import Role, Study
from study.plan_edit import plan_edit_page


@bp.route("/<slug>/plan/edit", methods=["GET", "POST"])
@study_role_required(Role.COORDINATOR)
def plan_edit(study: Study) -> Any:
    """The draft plan's form; frozen once recruitment has opened."""
    return plan_edit_page(study, nav="coordinator/_study_nav.html",
                          plan_endpoint="coordinator.plan")
