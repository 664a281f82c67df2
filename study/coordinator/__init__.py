"""The coordinator's console: studies, invitations, trainees, sessions, attendance.

One module per part of the console, each adding its pages to :data:`bp`; importing the package
imports them all.
"""

from study.coordinator import (  # noqa: F401  (their routes register on bp)
    audit,
    copy,
    facilitators,
    fidelity,
    people,
    plan_edit,
    reminders,
    sessions,
    setup,
    views,
)
from study.coordinator.blueprint import bp

__all__ = ["bp"]
