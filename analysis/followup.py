"""The ``followup`` figures of one outcome (DESIGN.md section 6, "Follow-up").

When the data hold ``followup`` rows, each outcome gains a ``followup`` object beside its pre/post
figures (which do not change):

- ``n_complete``: per arm, participants with pre, post and follow-up all present;
- ``mixed_anova``: the arm x time (pre, post, follow-up) Type III split-plot ANOVA on them, with
  the Greenhouse-Geisser epsilon and corrected p for time and the interaction
  (:func:`analysis.mixed_anova.mixed_anova_followup`);
- ``ancova``: OLS ``followup ~ pre + arm`` on participants with pre and follow-up, the model of
  :func:`analysis.ancova.ancova` with the follow-up score as the response; with covariates
  ``followup ~ pre + arm + covariates``, the model of
  :func:`analysis.covariate_ancova.fit_covariate_ancova` (DESIGN §6: the follow-up ANCOVA carries
  the primary model's covariates), listed under ``covariates`` as in the pre/post ``ancova``;
- ``lmm``: the REML random-intercept model on every available observation with ``pre`` as the
  reference time (:func:`analysis.mixed_model.followup_lmm`).

A figure that cannot be computed is ``{"error": ...}``; when the outcome has no follow-up value
at all the whole object is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from analysis.ancova import ancova, fit_ancova
from analysis.covariate_ancova import covariate_ancova, fit_covariate_ancova
from analysis.data import Covariate, Observed, PrePost
from analysis.errors import FigureUndefined
from analysis.mixed_anova import FollowupAnova, mixed_anova_followup
from analysis.mixed_model import followup_lmm

Figure = Callable[..., Any]


def followup_figures(observed: Observed, figure: Figure,
                     covariates: Sequence[Covariate] = ()) -> dict[str, Any]:
    """The ``followup`` object of one outcome.

    Parameters
    ----------
    observed
        The outcome's available values (:func:`analysis.data.observe`).
    figure
        Runs one figure's computation and turns an undefined or non-finite result into
        ``{"error": ...}`` (the engine's own wrapper, so every figure fails alike).
    covariates
        The primary model's covariates (:func:`analysis.data.read_covariates`), which the
        follow-up ANCOVA is adjusted for too.

    Returns
    -------
    dict
        ``n_complete``, ``mixed_anova``, ``ancova`` (with ``n`` per arm) and ``lmm``; or
        ``{"error": message}`` when the outcome has no follow-up value.
    """
    name, design = observed.name, observed.design
    followup = observed.followup_by_subject
    if np.isnan(followup).all():
        return {"error": f"{name!r} has no follow-up values"}
    arms = [observed.subject_arm == code for code in (0, 1)]
    has_pre = ~np.isnan(observed.pre_by_subject)
    has_followup = ~np.isnan(followup)
    complete = has_pre & ~np.isnan(observed.post_by_subject) & has_followup
    waves = np.stack([observed.pre_by_subject, observed.post_by_subject, followup], axis=1)
    paired = has_pre & has_followup
    ancova_figure = figure(_ancova_followup, observed, [paired & mask for mask in arms],
                           covariates)
    return {
        "n_complete": {
            arm: int((complete & mask).sum()) for arm, mask in zip(design.arms, arms, strict=True)
        },
        "mixed_anova": figure(_anova, observed, [waves[complete & mask] for mask in arms]),
        "ancova": ancova_figure,
        "lmm": figure(followup_lmm, observed),
    }


def _anova(observed: Observed, waves: list[np.ndarray]) -> FollowupAnova:
    """The three-level ANOVA on ``waves`` (per arm, participants x (pre, post, follow-up))."""
    short = [
        f"{arm!r} has {len(values)}"
        for arm, values in zip(observed.design.arms, waves, strict=True)
        if len(values) < 2
    ]
    if short:
        raise FigureUndefined(
            f"at least 2 participants per arm with pre, post and follow-up values of "
            f"{observed.name!r} are needed; " + " and ".join(short)
        )
    return mixed_anova_followup(waves[0], waves[1])


def _ancova_followup(observed: Observed, arms: list[np.ndarray],
                     covariates: Sequence[Covariate]) -> dict[str, Any]:
    """``followup ~ pre + arm [+ covariates]`` on participants with both scores.

    ``arms`` are the masks of those participants by arm. The result is the ``ancova`` object
    with ``covariates`` (their names) and ``n`` per arm (who entered the model).
    """
    name, design = observed.name, observed.design
    short = [
        f"{arm!r} has {int(mask.sum())}"
        for arm, mask in zip(design.arms, arms, strict=True)
        if mask.sum() < 2
    ]
    if short:
        raise FigureUndefined(
            f"at least 2 participants per arm with pre and follow-up values of {name!r} are "
            "needed; " + " and ".join(short)
        )
    followup = observed.followup_by_subject[arms[0] | arms[1]]
    if np.ptp(followup) == 0:
        raise FigureUndefined(
            f"the follow-up score of {name!r} is constant (every value is {followup[0]:g}): "
            "the ANCOVA is undefined"
        )
    names = [c.name for c in covariates]
    if covariates:
        adjusted = fit_covariate_ancova(observed.followup_by_subject, observed.pre_by_subject,
                                        observed.subject_arm, covariates)
        counts = (adjusted.n_control, adjusted.n_treatment)
        return {**_named_counts(design.arms, counts), **asdict(covariate_ancova(adjusted)),
                "covariates": names}
    data = PrePost(
        pre_control=observed.pre_by_subject[arms[0]],
        post_control=observed.followup_by_subject[arms[0]],
        pre_treatment=observed.pre_by_subject[arms[1]],
        post_treatment=observed.followup_by_subject[arms[1]],
    )
    try:
        fit = fit_ancova(data)
    except FigureUndefined as error:
        raise FigureUndefined(str(error).replace("post score", "follow-up score")) from None
    counts = (int(arms[0].sum()), int(arms[1].sum()))
    return {**_named_counts(design.arms, counts), **asdict(ancova(fit)), "covariates": names}


def _named_counts(arms: Sequence[str | None], counts: tuple[int, int]) -> dict[str, Any]:
    """``{"n": {arm: count}}`` for the arms present."""
    return {"n": {arm: n for arm, n in zip(arms, counts, strict=True) if arm is not None}}
