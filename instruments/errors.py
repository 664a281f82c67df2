"""Errors raised by the instrument layer."""

from __future__ import annotations


class DefinitionError(ValueError):
    """An instrument definition (or a file of supplied wording) is invalid.

    ``str(error)`` is one line naming the file, the item (when there is one) and the problem, e.g.
    ``library/oms-hc-15@1.0.yaml: item 'omshc_03': reverse must be true or false, not 'yes'``.
    """

    def __init__(self, file: str, problem: str, item: str | None = None) -> None:
        self.file = file
        self.item = item
        self.problem = " ".join(str(problem).split())
        where = f"{file}: item {item!r}" if item else file
        super().__init__(f"{where}: {self.problem}")


class AnswerError(ValueError):
    """An answer is not a possible value of its item (a bug upstream or tampered input)."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"item {key!r}: {problem}")
