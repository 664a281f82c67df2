"""The coordinator's view of their study's audit trail (allocation details concealed)."""

from __future__ import annotations

from typing import Any

from study.audit_page import render_audit_page
from study.auth.access import study_role_required
from study.coordinator.blueprint import bp
from study.models import Role, Study


@bp.get("/<slug>/audit")
@study_role_required(Role.COORDINATOR)
def audit_trail(study: Study) -> Any:
    """Every event of the study, newest first, filtered by trainee, kind and date."""
    return render_audit_page(study=study, nav="coordinator/_study_nav.html", conceal=True)
