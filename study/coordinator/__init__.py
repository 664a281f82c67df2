"""The coordinator's console: studies, invitations, trainees, sessions, attendance.

One module per part of the console, each adding its pages to :data:`bp`; importing the package
imports them all.
"""

from study.coordinator import (
    people,  # noqa: F401  (cohorts, invitations by email)
    views,  # noqa: F401  (its routes register on bp)
)
from study.coordinator.blueprint import bp

__all__ = ["bp"]
