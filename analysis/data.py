"""Reading and shaping tidy long trial data (DESIGN.md section 6).

The input has one row per participant x time with the columns ``participant``, ``arm``, ``time``
(``pre``, ``post`` or, optionally, ``followup``) and one numeric column per outcome. Shaping happens
in two steps:

1. :func:`read_design` codes the columns shared by every outcome once (participant, arm, time) and
   rejects input that cannot be analysed at all with :class:`~analysis.errors.AnalysisInputError`;
2. :func:`observe` and :func:`complete_cases` extract one outcome; trouble that concerns only that
   outcome (non-numeric values, duplicates, too few complete cases, ...) raises
   :class:`~analysis.errors.OutcomeError` with a readable message.

Time labels are matched after trimming spaces and ignoring case (``" Pre"`` is ``pre``); arm names
are matched after trimming spaces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import AnalysisInputError, OutcomeError

KEY_COLUMNS = ("participant", "arm", "time")
TIMES = ("pre", "post")
ALL_TIMES = (*TIMES, "followup")
FOLLOWUP = 2  # the time code of ``followup``
_SHOWN = 3  # examples quoted in a message


def load_long_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a long CSV file (one row per participant x time) for :func:`analysis.analyze`.

    ``participant``, ``arm`` and ``time`` are read as text (codes such as ``007`` keep their zeros);
    other columns are left for pandas to type, and non-numeric outcome values are reported per
    outcome by :func:`analysis.analyze`.

    Raises
    ------
    AnalysisInputError
        The file is missing, empty, not a CSV file, or lacks a ``participant``, ``arm`` or ``time``
        column. The message is one line.
    """
    try:
        frame = pd.read_csv(path, dtype={key: "string" for key in KEY_COLUMNS})
    except FileNotFoundError:
        raise AnalysisInputError(f"cannot read {os.fspath(path)!r}: no such file") from None
    except pd.errors.EmptyDataError:
        raise AnalysisInputError(f"cannot read {os.fspath(path)!r}: the file is empty") from None
    except UnicodeDecodeError:
        raise AnalysisInputError(
            f"cannot read {os.fspath(path)!r}: it is not UTF-8 text (save it as CSV UTF-8)"
        ) from None
    except (pd.errors.ParserError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AnalysisInputError(
            f"cannot read {os.fspath(path)!r} as a CSV file: {reason}"
        ) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise AnalysisInputError(f"cannot read {os.fspath(path)!r}: {reason}") from None
    check_columns(frame, source=os.fspath(path))
    return frame


def check_columns(frame: object, source: str = "the data") -> None:
    """Raise :class:`AnalysisInputError` unless ``frame`` is a DataFrame with the key columns."""
    if not isinstance(frame, pd.DataFrame):
        raise AnalysisInputError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [key for key in KEY_COLUMNS if key not in frame.columns]
    if missing:
        hint = ""
        if len(frame.columns) == 1 and ";" in str(frame.columns[0]):
            hint = " (the file seems to be separated by ';', expected ',')"
        raise AnalysisInputError(
            f"{source} lacks the column{'s' if len(missing) > 1 else ''} "
            f"{_quote_list(missing)}{hint}; expected participant, arm, time and one column per "
            "outcome"
        )
    if frame.empty:
        raise AnalysisInputError(f"{source} has no rows")


def default_outcomes(frame: pd.DataFrame, covariates: list[str] | None = None) -> list[str]:
    """Every column except ``participant``, ``arm``, ``time`` and the named covariates."""
    skip = set(KEY_COLUMNS) | set(covariates or [])
    return [str(c) for c in frame.columns if c not in skip]


def column_names(frame: pd.DataFrame, names: str | Sequence[str] | None, kind: str) -> list[str]:
    """Normalize a column name or list of names (duplicates dropped) and check they exist.

    Raises
    ------
    AnalysisInputError
        A name is not a column of ``frame``.
    """
    if names is None:
        return []
    listed = [names] if isinstance(names, str) else [str(name) for name in names]
    unique = list(dict.fromkeys(listed))
    missing = [name for name in unique if name not in frame.columns]
    if missing:
        raise AnalysisInputError(
            f"{kind} column{'s' if len(missing) > 1 else ''} not in the data: "
            f"{_quote_list(missing)}"
        )
    return unique


@dataclass(frozen=True, eq=False)
class Design:
    """Participant, arm and time of every row, coded once and shared by all outcomes.

    ``participant`` holds integer codes (-1 when empty), ``arm`` 0 for control, 1 for treatment and
    -1 when empty, ``time`` 0 for pre, 1 for post, 2 for followup and -1 for any other label.
    """

    control: str
    treatment: str | None
    participant: np.ndarray
    participant_ids: np.ndarray
    arm: np.ndarray
    time: np.ndarray
    time_labels: np.ndarray

    @property
    def arms(self) -> tuple[str, str | None]:
        return self.control, self.treatment

    @property
    def has_followup(self) -> bool:
        """Whether any row is labelled ``followup`` (then every outcome gets follow-up figures)."""
        return bool((self.time == FOLLOWUP).any())


def read_design(frame: pd.DataFrame, control_arm: str) -> Design:
    """Code the key columns and identify the treatment arm (the arm that is not ``control_arm``).

    Raises
    ------
    AnalysisInputError
        Key columns are missing, there are more than two arms, or two arms and neither is
        ``control_arm``.
    """
    check_columns(frame)
    arm_text = _text(frame["arm"])
    levels = sorted(arm_text.dropna().unique())
    if not levels:
        raise AnalysisInputError("the arm column is empty")
    if len(levels) > 2:
        raise AnalysisInputError(f"expected two arms, found {len(levels)}: {_quote_list(levels)}")
    if control_arm in levels:
        others = [level for level in levels if level != control_arm]
        treatment = others[0] if others else None
    elif len(levels) == 2:
        raise AnalysisInputError(
            f"the control arm {control_arm!r} is not one of the arms {_quote_list(levels)}; "
            "name the control arm explicitly"
        )
    else:
        treatment = levels[0]  # the control arm is empty: reported per outcome
    codes, ids = pd.factorize(frame["participant"])
    time_labels = _text(frame["time"]).str.lower()
    return Design(
        control=control_arm,
        treatment=treatment,
        participant=np.asarray(codes, dtype=np.int64),
        participant_ids=np.asarray(ids, dtype=object),
        arm=_codes(arm_text, [control_arm, treatment]),
        time=_codes(time_labels, list(ALL_TIMES)),
        time_labels=time_labels.to_numpy(dtype=object, na_value=None),
    )


def numeric_values(frame: pd.DataFrame, design: Design, name: str) -> np.ndarray:
    """The outcome column as float64 with NaN for missing values.

    Raises
    ------
    OutcomeError
        The column is missing, holds text that is not a number, booleans or infinite values.
    """
    if name not in frame.columns:
        raise OutcomeError(f"there is no column {name!r} in the data")
    column = frame[name]
    if pd.api.types.is_bool_dtype(column):
        raise OutcomeError(f"{name!r} holds true/false values, not scores")
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text = _text(column)
        parsed = pd.to_numeric(text, errors="coerce")
        bad = np.flatnonzero((parsed.isna() & text.notna()).to_numpy())
        if bad.size:
            examples = ", ".join(
                f"{text.iloc[i]!r} ({_row_label(design, i)})" for i in bad[:_SHOWN]
            )
            raise OutcomeError(
                f"{name!r} has {bad.size} non-numeric value{'s' if bad.size > 1 else ''}: "
                f"{examples}{', ...' if bad.size > _SHOWN else ''}"
            )
        values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.flatnonzero(np.isinf(values))
    if infinite.size:
        raise OutcomeError(f"{name!r} has infinite values ({_row_label(design, int(infinite[0]))})")
    return values


@dataclass(frozen=True, eq=False)
class Observed:
    """All available values of one outcome, one per participant x time, with a known arm.

    ``y``, ``subject``, ``treated`` and ``post`` hold the pre and post rows only (``post`` is the
    time code, 0 or 1); ``pre_by_subject``, ``post_by_subject`` and ``followup_by_subject`` are
    indexed by participant code (NaN when absent; ``followup_by_subject`` is all NaN without
    follow-up values); ``subject_arm`` is the participant's arm code (-1 for participants without a
    value of this outcome).
    """

    name: str
    design: Design
    y: np.ndarray
    subject: np.ndarray
    treated: np.ndarray
    post: np.ndarray
    pre_by_subject: np.ndarray
    post_by_subject: np.ndarray
    subject_arm: np.ndarray
    notes: tuple[str, ...]
    followup_by_subject: np.ndarray

    def cell(self, arm: int, time: int) -> np.ndarray:
        """Available values in one arm (0 control, 1 treatment) at one time code (0, 1 or 2)."""
        if time == FOLLOWUP:
            values = self.followup_by_subject
            return values[(self.subject_arm == arm) & ~np.isnan(values)]
        return self.y[(self.treated == arm) & (self.post == time)]


def observe(frame: pd.DataFrame, design: Design, name: str) -> Observed:
    """Extract the available values of outcome ``name`` and check their structure.

    Rows without a value of this outcome are ignored (so a row with an unknown time label whose
    scores are empty does no harm). Rows with a value but no arm are left out with a note.

    Raises
    ------
    OutcomeError
        Non-numeric values, unknown time labels, empty participant codes, duplicate participant x
        time rows, or a participant recorded in both arms.
    """
    values = numeric_values(frame, design, name)
    rows = np.flatnonzero(~np.isnan(values))
    notes: list[str] = []

    time = design.time[rows]
    unknown = rows[time < 0]
    if unknown.size:
        labels = sorted({_label(design.time_labels[i]) for i in unknown})
        raise OutcomeError(
            f"time must be 'pre', 'post' or 'followup', but {unknown.size} "
            f"row{'s' if unknown.size > 1 else ''}"
            f" with a value of {name!r} {'have' if unknown.size > 1 else 'has'} "
            f"{_quote_list(labels, quote=False)}"
        )
    if (design.participant[rows] < 0).any():
        count = int((design.participant[rows] < 0).sum())
        raise OutcomeError(
            f"{count} row{'s' if count > 1 else ''} with a value of {name!r} "
            f"{'lack' if count > 1 else 'lacks'} a participant code"
        )
    no_arm = design.arm[rows] < 0
    if no_arm.any():
        count = int(no_arm.sum())
        notes.append(f"{count} row{'s' if count > 1 else ''} without an arm left out")
        rows = rows[~no_arm]

    subject = design.participant[rows]
    time = design.time[rows]
    arm = design.arm[rows]
    n_ids = len(design.participant_ids)
    n_times = len(ALL_TIMES)
    key = subject * n_times + time
    counts = np.bincount(key, minlength=n_times * n_ids)
    duplicated = np.flatnonzero(counts > 1)
    if duplicated.size:
        examples = ", ".join(
            f"{design.participant_ids[k // n_times]} at {ALL_TIMES[k % n_times]} ({counts[k]} rows)"
            for k in duplicated[:_SHOWN]
        )
        raise OutcomeError(
            f"{name!r} has more than one row per participant and time for {duplicated.size} "
            f"participant x time pair{'s' if duplicated.size > 1 else ''}: {examples}"
            f"{', ...' if duplicated.size > _SHOWN else ''}"
        )

    arm_at = np.full((n_times, n_ids), -1, dtype=np.int64)
    arm_at[time, subject] = arm
    known = arm_at >= 0
    lowest = np.where(known, arm_at, n_times).min(axis=0)
    both_arms = np.flatnonzero(known.any(axis=0) & (lowest != arm_at.max(axis=0)))
    if both_arms.size:
        raise OutcomeError(
            f"{both_arms.size} participant{'s are' if both_arms.size > 1 else ' is'} recorded in "
            f"both arms: {_quote_list([str(p) for p in design.participant_ids[both_arms]])}"
        )
    by_subject = np.full((n_times, n_ids), np.nan)
    y = values[rows]
    by_subject[time, subject] = y
    pre_post = time < FOLLOWUP
    return Observed(
        name=name,
        design=design,
        y=y[pre_post],
        subject=subject[pre_post],
        treated=arm[pre_post],
        post=time[pre_post],
        pre_by_subject=by_subject[0],
        post_by_subject=by_subject[1],
        subject_arm=arm_at.max(axis=0),
        notes=tuple(notes),
        followup_by_subject=by_subject[FOLLOWUP],
    )


@dataclass(frozen=True, eq=False)
class PrePost:
    """Complete cases (pre and post both present) of one outcome, split by arm."""

    pre_control: np.ndarray
    post_control: np.ndarray
    pre_treatment: np.ndarray
    post_treatment: np.ndarray

    @property
    def n_control(self) -> int:
        return len(self.pre_control)

    @property
    def n_treatment(self) -> int:
        return len(self.pre_treatment)


def complete_cases(observed: Observed) -> PrePost:
    """Pair pre and post values per participant and check that the outcome can be analysed.

    Raises
    ------
    OutcomeError
        An arm has no values, an arm has fewer than 2 complete cases, or every value is the same.
    """
    name, design = observed.name, observed.design
    for code, arm in enumerate(design.arms):
        if not (observed.treated == code).any():
            if arm is None:
                raise OutcomeError(
                    f"there is no treatment arm: every row is in the control arm {design.control!r}"
                )
            raise OutcomeError(f"arm {arm!r} has no values of {name!r}")
    if np.ptp(observed.y) == 0:
        raise OutcomeError(
            f"{name!r} is constant (every value is {observed.y[0]:g}): there is nothing to compare"
        )
    complete = ~np.isnan(observed.pre_by_subject) & ~np.isnan(observed.post_by_subject)
    arms = [complete & (observed.subject_arm == code) for code in (0, 1)]
    short = [
        f"{arm!r} has {int(mask.sum())}"
        for arm, mask in zip(design.arms, arms, strict=True)
        if mask.sum() < 2
    ]
    if short:
        raise OutcomeError(
            f"at least 2 complete cases (pre and post) per arm are needed for {name!r}; "
            + " and ".join(short)
        )
    return PrePost(
        pre_control=observed.pre_by_subject[arms[0]],
        post_control=observed.post_by_subject[arms[0]],
        pre_treatment=observed.pre_by_subject[arms[1]],
        post_treatment=observed.post_by_subject[arms[1]],
    )


def _text(column: pd.Series) -> pd.Series:
    """Column as stripped text with missing values (and empty strings) as NA."""
    text = column.astype("string").str.strip()
    return text.mask(text == "")


def _codes(text: pd.Series, levels: list[str | None]) -> np.ndarray:
    categories = pd.Index([level for level in levels if level is not None], dtype="string")
    return np.asarray(categories.get_indexer(text), dtype=np.int64)


def _label(value: object) -> str:
    return "an empty time" if value is None else repr(value)


def _row_label(design: Design, row: int) -> str:
    code = design.participant[row]
    who = design.participant_ids[code] if code >= 0 else "no participant code"
    time = design.time_labels[row]
    return f"participant {who}, {time if time is not None else 'no time'}"


def _quote_list(items: list[str], quote: bool = True) -> str:
    shown = [repr(item) if quote else item for item in items]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


# --- baseline covariates (DESIGN.md section 6, "Statistical analysis plan") ---------------------


@dataclass(frozen=True, eq=False)
class Covariate:
    """One baseline covariate with one value per participant (indexed by participant code).

    ``values`` is float64 with NaN for a missing value when the column is numeric, and an object
    array of stripped strings with None for a missing value when it is categorical (any column that
    is not numeric, and true/false columns).
    """

    name: str
    categorical: bool
    values: np.ndarray

    @property
    def present(self) -> np.ndarray:
        """True for participants with a value."""
        if self.categorical:
            return np.array([v is not None for v in self.values], dtype=bool)
        return ~np.isnan(self.values)


def read_covariates(frame: pd.DataFrame, design: Design, names: Sequence[str]
                    ) -> tuple[Covariate, ...]:
    """Each named column as one value per participant, checked to be constant within participant.

    A participant's value is the one on their rows that hold a value (rows with an empty cell are
    ignored); a participant with no value is missing and leaves the adjusted ANCOVA.

    Raises
    ------
    AnalysisInputError
        A participant has two different values of a covariate, or a numeric covariate holds an
        infinite value.
    """
    covariates = []
    n_ids = len(design.participant_ids)
    for name in names:
        column = frame[name]
        categorical = not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(
            column
        )
        values: np.ndarray
        if categorical:
            text = _text(column)
            present = text.notna().to_numpy(dtype=bool)
            values = text.to_numpy(dtype=object, na_value=None)
            by_subject = np.full(n_ids, None, dtype=object)
        else:
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isinf(values).any():
                raise AnalysisInputError(f"the covariate {name!r} has infinite values")
            present = ~np.isnan(values)
            by_subject = np.full(n_ids, np.nan)
        rows = np.flatnonzero(present & (design.participant >= 0))
        subject = design.participant[rows]
        codes, levels = pd.factorize(values[rows])
        pairs = np.unique(subject * (len(levels) + 1) + codes)
        varying = np.flatnonzero(np.bincount(pairs // (len(levels) + 1), minlength=n_ids) > 1)
        if varying.size:
            raise AnalysisInputError(
                f"the covariate {name!r} must be constant within each participant, but it "
                f"differs between the rows of {varying.size} participant"
                f"{'s' if varying.size > 1 else ''}: "
                f"{_quote_list([str(p) for p in design.participant_ids[varying[:_SHOWN]]])}"
                f"{', ...' if varying.size > _SHOWN else ''}"
            )
        by_subject[subject] = values[rows]
        covariates.append(Covariate(name=name, categorical=categorical, values=by_subject))
    return tuple(covariates)
