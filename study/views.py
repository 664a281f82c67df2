"""What every blueprint's write views share: commit or explain, and POST-only buttons.

A view commits once, at the end of a request (STYLE.md): the services it calls flush and raise
a ``DomainError`` when the rules of the study refuse the request. ``write_or_explain`` is the
one place that turns such a refusal into words for the user and the rest into a commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from flask import abort, flash
from wtforms import Field

from study.errors import DomainError
from study.extensions import db
from study.forms import ActionForm


@dataclass
class Attempt:
    """The outcome of a ``write_or_explain`` block: refused, or committed with a message."""

    refusal: DomainError | None = None
    _message: tuple[str, str] | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    def done(self, message: str, category: str = "success") -> None:
        """Flash ``message`` once the block's writes are committed (never if they are refused)."""
        self._message = (message, category)


@contextmanager
def write_or_explain(
    beside: Field | Mapping[type[DomainError], Field] | None = None,
) -> Iterator[Attempt]:
    """Commit the writes of the ``with`` block, or roll them back and say why they were refused.

    The refusal's message is flashed; with ``beside`` it becomes the error of that form field
    instead, so the view re-renders the form with it (check ``attempt.refused``). ``beside``
    may map kinds of refusal to the field each belongs to; the first that matches wins.
    """
    attempt = Attempt()
    try:
        yield attempt
    except DomainError as error:
        db.session.rollback()
        attempt.refusal = error
        field = _field_for(error, beside)
        if field is None:
            flash(str(error), "error")
        else:
            field.errors = [str(error)]
        return
    db.session.commit()
    if attempt._message is not None:
        flash(*attempt._message)


def _field_for(error: DomainError,
               beside: Field | Mapping[type[DomainError], Field] | None) -> Field | None:
    if not isinstance(beside, Mapping):
        return beside
    return next((field for kind, field in beside.items() if isinstance(error, kind)), None)


def require_button(prefix: str = "") -> None:
    """Refuse a POST-only button whose CSRF token did not check out: nothing is changed."""
    if not ActionForm(prefix=prefix).validate_on_submit():
        abort(400, description="The form expired; please reload the page and try again.")
