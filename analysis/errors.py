"""Errors raised by the analysis package.

Two kinds of trouble are kept apart. :class:`AnalysisInputError` means the input as a whole cannot
be analysed (no ``time`` column, an unreadable CSV) and is raised to the caller.
:class:`OutcomeError` and :class:`FigureUndefined` are internal: they become ``{"error": "..."}``
entries for one outcome or one figure, so that the other outcomes and figures are still reported.
"""

from __future__ import annotations


class AnalysisInputError(ValueError):
    """The input as a whole cannot be analysed; ``str(error)`` is one readable line."""


class OutcomeError(ValueError):
    """One outcome cannot be analysed (non-numeric, constant, too few complete cases, ...)."""


class FigureUndefined(ArithmeticError):
    """One figure is mathematically undefined for these data (e.g. a zero variance)."""
