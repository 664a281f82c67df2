"""The scoring engine: item answers in, scale and subscale scores out.

Pure functions of an :class:`~instruments.model.Instrument` and a mapping of answers; the score of a
response is always computed with the definition of the version that was answered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from instruments.errors import AnswerError
from instruments.kinds import check_answer, parse_answer
from instruments.model import Instrument, Item, ScaleDef


@dataclass(frozen=True, slots=True)
class ScaleScore:
    """A scale score, or ``value=None`` with the ``reason`` it is missing."""

    value: float | None
    n_answered: int
    n_items: int
    reason: str | None = None

    @property
    def prorated(self) -> bool:
        """The score stands in for unanswered items."""
        return self.value is not None and self.n_answered < self.n_items


def keyed_value(item: Item, answer: Any) -> float | None:
    """The scored value of one answer: option scoring, then reverse keying ``(min + max) - x``.

    ``None`` when the item is unanswered or answered with a missing-data code (99 "inadequate
    information"). ``min`` and ``max`` are the item's lowest and highest scored values, so on a
    1-5 agreement scale 1 becomes 5 and 2 becomes 4.
    """
    value = check_answer(item, answer)
    if value is None:
        return None
    choice = item.choice(value)
    if choice.missing:
        return None
    scored = choice.score
    assert item.min is not None and item.max is not None and isinstance(scored, int)
    return float(item.min + item.max - scored if item.reverse else scored)


def needed(scale: ScaleDef) -> int:
    """The fewest answered items that give a score: ``ceil(min_answered * n_items)``.

    Computed on a decimal rounding of the product so that 0.8 x 15 is 12, not 12.000000000000002.
    """
    return math.ceil(round(scale.min_answered * len(scale.items), 9))


def score_scale(instrument: Instrument, scale: ScaleDef, answers: Mapping[str, Any]) -> ScaleScore:
    """One scale's score with the missing-item rule.

    With every item answered a ``sum`` is the plain sum and a ``mean`` the plain mean. With at least
    :func:`needed` items answered the score is prorated: the mean of the answered keyed items, times
    the number of items for a ``sum`` (person-mean imputation; Mazza, Enders & Ruehlman 2015 discuss
    when it is unbiased). With fewer the score is missing and ``reason`` says why.

    References
    ----------
    Mazza GL, Enders CK, Ruehlman LS. Addressing item-level missing data: a comparison of
    proration and full information maximum likelihood estimation. Multivariate Behav Res.
    2015;50(5):504-519.
    """
    values = [keyed_value(instrument.item(key), answers.get(key)) for key in scale.items]
    answered = [v for v in values if v is not None]
    n_items, n_answered = len(values), len(answered)
    if n_answered < needed(scale):
        reason = (
            "no items answered"
            if n_answered == 0
            else f"{n_answered} of {n_items} items answered; at least {needed(scale)} needed"
        )
        return ScaleScore(None, n_answered, n_items, reason)
    total = math.fsum(answered)
    if scale.rule == "mean":
        value = total / n_answered
    elif n_answered == n_items:
        value = total
    else:
        value = total / n_answered * n_items
    return ScaleScore(value, n_answered, n_items)


def check_answers(instrument: Instrument, answers: Mapping[str, Any]) -> dict[str, Any]:
    """Every answer in its stored type (``None`` when unanswered), keyed in item order.

    Raises
    ------
    AnswerError
        For a key that is not an item of this version, or a value the item cannot take.
    """
    for key in answers:
        try:
            instrument.item(key)
        except LookupError:
            raise AnswerError(
                str(key), f"is not an item of {instrument.id} {instrument.version}"
            ) from None
    return {item.key: check_answer(item, answers.get(item.key)) for item in instrument.items}


def parse_answers(instrument: Instrument, texts: Mapping[str, str | None]) -> dict[str, Any]:
    """Answers kept as text (form posts, a ``responses`` table) in their stored types.

    Raises
    ------
    AnswerError
        For a key that is not an item of this version, or a text the item cannot take.
    """
    parsed = {}
    for key, text in texts.items():
        try:
            item = instrument.item(key)
        except LookupError:
            raise AnswerError(
                str(key), f"is not an item of {instrument.id} {instrument.version}"
            ) from None
        parsed[key] = parse_answer(item, text)
    return parsed


def score(instrument: Instrument, answers: Mapping[str, Any]) -> dict[str, ScaleScore]:
    """Score every scale of ``instrument``, in definition order.

    Parameters
    ----------
    instrument
        The version that was answered.
    answers
        ``{item key: stored answer}``; absent keys, ``None`` and NaN are unanswered.

    Raises
    ------
    AnswerError
        For an unknown key or an impossible value: a scoring slip must never pass silently.
    """
    check_answers(instrument, answers)
    return {scale.name: score_scale(instrument, scale, answers) for scale in instrument.scales}
