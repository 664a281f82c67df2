"""Research data files for statistics packages: wide CSV, codebook, SPSS ``.sav``, Stata ``.dta``.

All of them are built from the same de-identified rows as the CSV tables of
:mod:`study.services.exports` (pseudonymous codes, blinded arm codes, withdrawn data left out),
and every download is recorded in the audit trail.

Two shapes:

``wide``
    one row per participant: ``participant``, ``arm``, ``cohort``, ``per_protocol``, then for each
    instrument its scale scores and item answers at each time it was given, named
    ``<instrument>.<scale or item>_<time>`` (``intergroup-anxiety.total_pre``).
``long``
    one row per participant × time, with ``time`` and the same variables without the suffix.

In ``.sav`` and ``.dta`` files variables get names both packages accept (letters, digits and
``_``, at most 32 characters, e.g. ``intergroup_anxiety_total_pre``), a variable label saying what
each is, and value labels for the arm, the time, ``per_protocol`` and every item with response
options. Options that are stored as text (``medicine``) are numbered 1, 2, … in the order of the
instrument, with their label; the codebook and the value labels give the mapping.

An item that takes several answers (a checkbox) is one 0/1 variable per choice,
``<item>___<code>``, labelled Checked/Unchecked. Text shown on its own (descriptive) and contact
data are never exported.

Empty is not always "not answered". An item whose branching logic left it out is *not applicable*:
an empty cell in the CSV (the codebook's ``missing`` column says when), the user-missing value
-98 labelled "not applicable" in SPSS (empty for a text variable), the extended missing value
``.n`` in Stata. Where -98 is an answer of the item (an option, a value within its bounds or one
given), SPSS gets the first of -998, -9998, ... that is none; the codebook says which. A
missing-data code (99 "inadequate information") is kept as given, labelled, and declared
user-missing in SPSS; Stata has no user-missing numbers, so there it is a labelled
value that the codebook marks. Neither is ever scored.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from instruments import Instrument, Library
from instruments.codebook import COLUMNS as CODEBOOK_COLUMNS
from instruments.codebook import codebook_rows, item_label
from instruments.csvfiles import table_text
from instruments.kinds import kind_of
from instruments.labels import plain_label
from study import audit
from study.errors import NotFound
from study.models import Study
from study.services import exports, sap
from study.services.adherence import DEFAULT_RULE, per_protocol_codes
from study.services.blinding import arm_labels

if TYPE_CHECKING:
    import pandas as pd

TIME_ORDER = ("pre", "post", "followup")
TIME_TEXT = {"pre": "before the intervention (baseline)", "post": "after the intervention",
             "followup": "at follow-up"}
STAT_NAME_LIMIT = 32  # Stata's limit; SPSS allows 64, one name serves both
STATA_LABEL_LIMIT = 80
SPSS_LABEL_BYTES = 256
# Not applicable (branching logic false): SPSS user-missing value, Stata extended missing value.
# -98, or the first of the others that is not an answer of the variable (spss_not_applicable).
SPSS_NOT_APPLICABLE = -98
SPSS_NOT_APPLICABLE_OTHERS = tuple(-(10 ** digits - 2) for digits in range(3, 11))
STATA_NOT_APPLICABLE = "n"
NOT_APPLICABLE_LABEL = "not applicable"
RESERVED = {
    # Stata
    "_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long", "_n",
    "_pi", "_pred", "_rc", "_skip", "strl", "using", "with",
    # SPSS
    "all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to",
}


class UnknownExport(NotFound):
    """No export of that name."""


@dataclass
class Variable:
    """One column of a research data file and what the codebook and labels say about it."""

    name: str
    stat_name: str
    label: str
    role: str
    storage: str = "numeric"  # "numeric" or "string"
    time: str = ""
    instrument: str = ""
    version: str = ""
    source: str = ""
    measure: str = "scale"  # SPSS measurement level: nominal, ordinal, scale
    # Text value -> number, for variables stored as text in the CSV (arm, time, choice items).
    codes: dict[str, int] | None = None
    value_labels: dict[int, str] = field(default_factory=dict)
    # May be not applicable: the item's branching logic (REDCap text), or None.
    show_if: str | None = None
    # Missing-data codes as the variable holds them (a text option's number), with their labels.
    missing_codes: dict[int, str] = field(default_factory=dict)
    # The item's bounds (min, max), either open; and SPSS's not-applicable code for it.
    bounds: tuple[float | None, float | None] = (None, None)
    spss_not_applicable: float = SPSS_NOT_APPLICABLE


@dataclass
class Dataset:
    """The values (``""`` where empty) and, for each cell, whether it is not applicable."""

    shape: str
    frame: pd.DataFrame
    variables: list[Variable]
    not_applicable: pd.DataFrame | None = None  # booleans shaped as ``frame``; None: none


@dataclass(frozen=True)
class ExportFile:
    filename: str
    mimetype: str
    body: bytes
    rows: int


# --- names ------------------------------------------------------------------------------------


def _safe(text: str) -> str:
    # A run of other characters becomes one "_"; underscores typed stay, so a checkbox choice
    # keeps REDCap's name (contact___2), which syntax files written for REDCap data refer to.
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    if not name or not (name[0].isalpha() or name[0] == "_"):
        name = "v_" + name
    return name


def _initials(instrument: str) -> str:
    return "".join(part[0] for part in re.split(r"[^A-Za-z0-9]+", instrument) if part)


class _Names:
    """Hands out SPSS/Stata variable names, unique and at most 32 characters."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def __call__(self, stems: list[str], suffix: str = "") -> str:
        room = STAT_NAME_LIMIT - len(suffix)
        for stem in stems:
            stem = _safe(stem)
            name = stem + suffix
            if (len(stem) <= room and name.lower() not in self.taken
                    and name.lower() not in RESERVED):
                return self._take(name)
        stem = _safe(stems[0])
        digest = hashlib.sha1(stem.encode()).hexdigest()
        for length in range(4, 41):
            name = f"{stem[:room - length - 1].rstrip('_')}_{digest[:length]}{suffix}"
            if name.lower() not in self.taken:
                return self._take(name)
        raise AssertionError("a SHA-1 prefix always becomes unique")  # pragma: no cover

    def _take(self, name: str) -> str:
        self.taken.add(name.lower())
        return name


# --- building the dataset ----------------------------------------------------------------------


def instruments_with_times(study: Study, library: Library) -> list[tuple[Instrument, list[str]]]:
    """Each instrument the study gives (first pinned version) with the times it is given at."""
    found: dict[str, tuple[Instrument, list[str]]] = {}
    for timepoint in study.timepoints:
        time = exports.TIME_LABELS.get(timepoint.name, timepoint.name)
        for pinned in timepoint.instruments:
            if pinned.instrument_id not in found:
                found[pinned.instrument_id] = (
                    library.get(pinned.instrument_id, pinned.instrument_version), [])
            found[pinned.instrument_id][1].append(time)
    return list(found.values())


def _instrument_variables(instrument: Instrument) -> list[Variable]:
    """Scale scores, then items, of one instrument (names without a time suffix yet)."""
    out = []
    for scale in instrument.scales:
        out.append(Variable(
            name=f"{instrument.id}.{scale.name}", stat_name="", role="scale",
            label=scale.label, instrument=instrument.id, version=instrument.version,
            source=scale.name))
    # Contact data (DESIGN §8) and descriptive text are never exported.
    for item in instrument.research_items:
        kind = kind_of(item)
        held = kind.statistics(item)
        if kind.multiple:  # a 0/1 variable per choice, as the kind's statistics describe
            for column, choice in zip(kind.columns(item), item.choices, strict=True):
                out.append(Variable(
                    name=f"{instrument.id}.{column}", stat_name="", role="item",
                    label=f"{item_label(item)}: {plain_label(choice.label)}",
                    instrument=instrument.id, version=instrument.version, source=column,
                    storage=held.storage, measure=held.measure,
                    value_labels=dict(held.value_labels), show_if=item.show_if))
            continue
        missing_codes = {}
        for choice in item.choices:
            number = (choice.value if held.codes is None
                      else held.codes.get(str(choice.value)))
            if choice.missing and isinstance(number, int):
                missing_codes[number] = plain_label(choice.label)
        out.append(Variable(
            name=f"{instrument.id}.{item.key}", stat_name="", role="item",
            label=item_label(item), instrument=instrument.id,
            version=instrument.version, source=item.key, storage=held.storage,
            measure=held.measure, codes=held.codes, value_labels=held.value_labels,
            show_if=item.show_if, missing_codes=missing_codes, bounds=(item.min, item.max)))
    return out


def _key_variables(study: Study, shape: str, names: _Names) -> list[Variable]:
    labels = arm_labels(study)
    arm_codes = {code: i for i, code in enumerate(labels, start=1)}
    blinded = " (blinded: Arm A/Arm B)" if study.blinded else ""
    variables = [
        Variable("participant", names(["participant"]), "Pseudonymous participant code",
                 "key", storage="string", measure="nominal"),
        Variable("arm", names(["arm"]), f"Arm allocated{blinded}", "key", measure="nominal",
                 codes=arm_codes,
                 value_labels={arm_codes[code]: label for code, label in labels.items()}),
        Variable("cohort", names(["cohort"]), "Cohort", "key", storage="string", measure="nominal"),
        Variable("per_protocol", names(["per_protocol"]),
                 "Received the intervention of the arm allocated (per-protocol population)",
                 "key", measure="nominal", value_labels={0: "No", 1: "Yes"}),
    ]
    if shape == "long":
        time_codes = {time: i for i, time in enumerate(TIME_ORDER, start=1)}
        variables.append(Variable(
            "time", names(["time"]), "Time of measurement", "key", measure="nominal",
            codes=time_codes,
            value_labels={i: f"{time}: {TIME_TEXT[time]}" for time, i in time_codes.items()}))
    return variables


def build_dataset(session: Session, study: Study, library: Library, shape: str) -> Dataset:
    """The study's de-identified scores and answers, ``wide`` or ``long`` (module docstring)."""
    import pandas as pd  # here, not at import: only downloads need it

    if shape not in ("wide", "long"):
        raise ValueError(f"unknown shape {shape!r}")
    names = _Names()
    variables = _key_variables(study, shape, names)
    measured: list[Variable] = []
    for instrument, times in instruments_with_times(study, library):
        initials = _initials(instrument.id)
        for variable in _instrument_variables(instrument):
            stems = ([f"{instrument.id}_{variable.source}", f"{initials}_{variable.source}"]
                     if variable.role == "scale"
                     else [variable.source, f"{initials}_{variable.source}",
                           f"{instrument.id}_{variable.source}"])
            if shape == "long":
                variable.stat_name = names(stems)
                measured.append(variable)
                continue
            for time in times:
                timed = replace(variable, name=f"{variable.name}_{time}", time=time,
                                stat_name=names(stems, f"_{time}"))
                measured.append(timed)
    variables += measured

    _, participants = exports.rows_for(session, study, "participants", library)
    cohort_of = {row["participant"]: row["cohort"] for row in participants}
    arm_of = {row["participant"]: row["arm"] for row in participants}
    # The plan's rule, as the per-protocol analysis applies it (a minutes or fidelity minimum too).
    plan = sap.current_plan(session, study)
    on_protocol = per_protocol_codes(
        session, study, plan.plan["populations"]["per_protocol"] if plan else DEFAULT_RULE)

    values: dict[tuple[str, str], dict[str, Any]] = {}  # (participant, time) -> name -> value
    not_applicable: dict[tuple[str, str], dict[str, bool]] = {}
    _, scores = exports.rows_for(session, study, "scores", library)
    for row in scores:
        values.setdefault((row["participant"], row["time"]), {})[
            f"{row['instrument']}.{row['scale']}"] = row["score"]
    _, answers = exports.rows_for(session, study, "responses", library)
    for row in answers:
        at, name = (row["participant"], row["time"]), f"{row['instrument']}.{row['item']}"
        values.setdefault(at, {})[name] = row["value"]
        if row["status"] == exports.NOT_APPLICABLE:
            not_applicable.setdefault(at, {})[name] = True

    def key_values(code: str) -> dict[str, Any]:
        arm = arm_of.get(code, "")
        return {"participant": code, "arm": arm, "cohort": cohort_of.get(code, ""),
                "per_protocol": (int(code in on_protocol) if arm else "")}

    records: list[dict[str, Any]] = []
    flags: list[dict[str, bool]] = []
    if shape == "long":
        order = {time: i for i, time in enumerate(TIME_ORDER)}
        for (code, time), found in sorted(values.items(),
                                          key=lambda kv: (kv[0][0], order.get(kv[0][1], 9))):
            records.append({**key_values(code), "time": time, **found})
            flags.append(not_applicable.get((code, time), {}))
    else:
        by_participant: dict[str, dict[str, Any]] = {}
        flagged: dict[str, dict[str, bool]] = {}
        for (code, time), found in values.items():
            row = by_participant.setdefault(code, key_values(code))
            row.update({f"{name}_{time}": value for name, value in found.items()})
            flagged.setdefault(code, {}).update(
                {f"{name}_{time}": True for name in not_applicable.get((code, time), {})})
        records = [by_participant[code] for code in sorted(by_participant)]
        flags = [flagged[code] for code in sorted(by_participant)]
    columns = [variable.name for variable in variables]
    # Objects throughout: a column of whole numbers with gaps must not become floats (4 -> 4.0).
    frame = pd.DataFrame(records, columns=columns, dtype=object)
    frame = frame.where(frame.notna(), "")
    mask = pd.DataFrame(flags, columns=columns, index=frame.index, dtype=object)
    mask = mask.where(mask.notna(), False).astype(bool)
    dataset = Dataset(shape=shape, frame=frame, variables=variables, not_applicable=mask)
    _choose_spss_not_applicable(dataset)
    return dataset


def _choose_spss_not_applicable(dataset: Dataset) -> None:
    """Give each item that may be not applicable its SPSS code: -98 unless that is an answer.

    An answer is an option or a missing-data code, a value within the item's bounds, or a value
    given at any time (so an item has one code in every column it has).
    """
    import numpy as np
    import pandas as pd

    items: dict[tuple[str, str], list[Variable]] = {}
    for variable in _may_be_not_applicable(dataset):
        items.setdefault((variable.instrument, variable.source), []).append(variable)
    for columns in items.values():
        first = columns[0]
        given = pd.concat([dataset.frame[v.name] for v in columns]).replace("", np.nan)
        taken = ({float(number) for number in first.value_labels}
                 | {float(number) for number in first.missing_codes}
                 | set(pd.to_numeric(given, errors="coerce").dropna().astype(float)))
        low, high = first.bounds
        free = [code for code in (SPSS_NOT_APPLICABLE, *SPSS_NOT_APPLICABLE_OTHERS)
                if code not in taken]
        # Outside the bounds when it can be; an item open below can only avoid what was given.
        code = next((code for code in free if (low is not None and code < low)
                     or (high is not None and code > high)), free[0])
        for variable in columns:
            variable.spss_not_applicable = float(code)


# --- writers -----------------------------------------------------------------------------------


def wide_csv(dataset: Dataset) -> bytes:
    """The wide data set as UTF-8 CSV.

    Scores and the answers to numeric items are numbers; text (free-text answers, cohort names,
    option codes) is neutralised where a spreadsheet would run it (DESIGN §9).
    """
    numeric = {v.name for v in dataset.variables if v.storage == "numeric" and v.codes is None}
    return table_text(list(dataset.frame.columns), dataset.frame.to_dict("records"),
                      numeric=numeric).encode("utf-8")


def codebook(dataset: Dataset, instruments: list[Instrument]) -> bytes:
    """One row per column of the data file, with the instrument codebook's description of it."""
    described = {(row["instrument"], row["role"], row["variable"]): row
                 for row in codebook_rows(instruments)}
    header = (["variable", "spss_stata_name", "time"] + CODEBOOK_COLUMNS[1:]
              + ["spss_stata_values"])
    rows = []
    for variable in dataset.variables:
        row = {column: "" for column in header}
        source = described.get((variable.instrument, variable.role, variable.source))
        if source is not None:
            row.update(source)
        else:
            row.update({"role": variable.role, "label": variable.label,
                        "kind": "text" if variable.storage == "string" else "code",
                        "values": "; ".join(
                            f"{text} = {variable.value_labels.get(number, text)}"
                            for text, number in (variable.codes or {}).items())
                        or "; ".join(f"{k} = {v}" for k, v in variable.value_labels.items())})
        row.update({"variable": variable.name, "spss_stata_name": variable.stat_name,
                    "time": variable.time})
        row["spss_stata_values"] = "; ".join(_stat_values(variable))
        rows.append(row)
    return table_text(header, rows).encode("utf-8")


def _stat_values(variable: Variable) -> list[str]:
    """The codebook's ``spss_stata_values``: numbers of text options, and the missing values."""
    values = [f"{number} = {text} ({variable.value_labels.get(number, text)})"
              for text, number in (variable.codes or {}).items()]
    if variable.show_if and variable.storage == "numeric":
        values.append(f"{variable.spss_not_applicable:g} in SPSS, .{STATA_NOT_APPLICABLE} in"
                      f" Stata = {NOT_APPLICABLE_LABEL} (user-missing)")
    values += [f"{number} = {label} (missing-data code: user-missing in SPSS)"
               for number, label in variable.missing_codes.items()]
    return values


def _not_applicable(dataset: Dataset, variable: Variable) -> pd.Series | None:
    """Which rows of the variable are not applicable (None when none can be)."""
    if dataset.not_applicable is None:
        return None
    flags = dataset.not_applicable[variable.name]
    return flags if variable.show_if or flags.any() else None


def _stat_frame(dataset: Dataset, *, stata: bool) -> pd.DataFrame:
    """Values as SPSS/Stata hold them: numbers (codes for text options) or text ("" = missing).

    A numeric variable's not-applicable cells hold its SPSS code (-98, mostly) or Stata's
    ``"n"``, which pyreadstat writes as the extended missing value ``.n``.
    """
    import numpy as np
    import pandas as pd

    columns: dict[str, pd.Series] = {}
    for variable in dataset.variables:
        column = dataset.frame[variable.name]
        if variable.storage == "string":
            columns[variable.stat_name] = column.astype(str).astype(object)
            continue
        if variable.codes is not None:
            numbers = pd.to_numeric(
                column.map(lambda v, c=variable.codes: c.get(str(v), np.nan)), errors="coerce"
            ).astype(np.float64)
        else:
            numbers = pd.to_numeric(
                column.replace("", np.nan), errors="coerce").astype(np.float64)
        flags = _not_applicable(dataset, variable)
        if flags is not None and flags.any():
            numbers = numbers.astype(object).where(~flags.to_numpy(), _not_applicable_value(
                variable, stata=stata))
        columns[variable.stat_name] = numbers
    return pd.DataFrame(columns, index=dataset.frame.index)


def _stat_label(variable: Variable) -> str:
    """The label in .sav/.dta: a measured variable's CSV name (it carries the time) and text."""
    return variable.label if variable.role == "key" else f"{variable.name}: {variable.label}"


def _truncate_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit - 3].decode("utf-8", errors="ignore") + "..."


def _write(frame: pd.DataFrame, writer: Callable[..., None], suffix: str,
           **options: Any) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"data{suffix}"
        writer(frame, str(path), **options)
        return path.read_bytes()


def _may_be_not_applicable(dataset: Dataset) -> list[Variable]:
    """The numeric variables that are, or may be, not applicable somewhere."""
    return [v for v in dataset.variables
            if v.storage == "numeric" and _not_applicable(dataset, v) is not None]


def _not_applicable_value(variable: Variable, *, stata: bool) -> float | str:
    return STATA_NOT_APPLICABLE if stata else variable.spss_not_applicable


def _value_labels(dataset: Dataset, *, stata: bool) -> dict[str, dict[float | str, str]]:
    """Value labels of numeric variables, with not applicable labelled where it can occur."""
    labels: dict[str, dict[float | str, str]] = {
        v.stat_name: {float(k): label for k, label in v.value_labels.items()}
        for v in dataset.variables if v.value_labels and v.storage == "numeric"}
    for variable in _may_be_not_applicable(dataset):
        labels.setdefault(variable.stat_name, {})[
            _not_applicable_value(variable, stata=stata)] = NOT_APPLICABLE_LABEL
    return labels


def spss_missing_ranges(variable: Variable, not_applicable: bool) -> list[Any]:
    """SPSS user-missing values of a variable: not applicable when it may be, and its codes.

    SPSS takes three discrete values, or one range and one value. With more, the codes are
    declared as a range when one holds them all without a valid value; else the first three
    are declared (the codebook lists every code).
    """
    missing = ([variable.spss_not_applicable] if not_applicable else []) + sorted(
        float(number) for number in variable.missing_codes)
    if len(missing) <= 3:
        return missing
    valid = [float(k) for k in variable.value_labels if k not in variable.missing_codes]
    for single in missing:
        rest = [value for value in missing if value != single]
        low, high = min(rest), max(rest)
        if not any(low <= value <= high for value in valid):
            return [{"lo": low, "hi": high}, single]
    return missing[:3]


def spss(dataset: Dataset, study: Study) -> bytes:
    """The data set as an SPSS ``.sav`` file with variable and value labels.

    Not applicable is a user-missing value (-98 unless that is an answer of the variable),
    labelled "not applicable"; missing-data codes are user-missing values with their labels.
    """
    import pyreadstat

    frame = _stat_frame(dataset, stata=False)
    may_be = {v.stat_name for v in _may_be_not_applicable(dataset)}
    ranges = {v.stat_name: spss_missing_ranges(v, v.stat_name in may_be)
              for v in dataset.variables if v.stat_name in may_be or v.missing_codes}
    return _write(
        frame, pyreadstat.write_sav, ".sav",
        file_label=_truncate_bytes(f"Allport study {study.slug}: {dataset.shape} data", 64),
        column_labels={v.stat_name: _truncate_bytes(_stat_label(v), SPSS_LABEL_BYTES)
                       for v in dataset.variables},
        variable_value_labels=_value_labels(dataset, stata=False),
        variable_measure={v.stat_name: v.measure for v in dataset.variables},
        missing_ranges=ranges,
    )


def stata(dataset: Dataset, study: Study) -> bytes:
    """The data set as a Stata 15 ``.dta`` file with variable and value labels.

    Not applicable is the extended missing value ``.n``, labelled "not applicable".
    """
    import pyreadstat

    def short(label: str) -> str:
        return label if len(label) <= STATA_LABEL_LIMIT else label[:STATA_LABEL_LIMIT - 3] + "..."

    return _write(
        _stat_frame(dataset, stata=True), pyreadstat.write_dta, ".dta", version=15,
        file_label=short(f"Allport study {study.slug}: {dataset.shape} data"),
        column_labels={v.stat_name: short(_stat_label(v)) for v in dataset.variables},
        variable_value_labels=_value_labels(dataset, stata=True),
        missing_user_values={v.stat_name: [STATA_NOT_APPLICABLE]
                             for v in _may_be_not_applicable(dataset)},
    )


# --- the registry of downloads -----------------------------------------------------------------

CSV = "text/csv"
FORMATS: dict[str, tuple[str, str]] = {
    # name -> (shape, mimetype)
    "wide.csv": ("wide", CSV),
    "codebook.csv": ("wide", CSV),
    "wide.sav": ("wide", "application/x-spss-sav"),
    "long.sav": ("long", "application/x-spss-sav"),
    "wide.dta": ("wide", "application/x-stata-dta"),
    "long.dta": ("long", "application/x-stata-dta"),
}
# Every download, in the order pages offer them: the long CSV tables first.
EXPORTS = tuple(f"{table}.csv" for table in exports.TABLES) + tuple(FORMATS)
DESCRIPTIONS = {
    "allocations.csv": "Allocations (CSV)",
    "scores.csv": "Scale scores, long (CSV)",
    "responses.csv": "Item answers, long (CSV)",
    "participants.csv": "Participants (CSV)",
    "wide.csv": "Scores and answers, wide (CSV)",
    "codebook.csv": "Codebook for the wide CSV",
    "wide.sav": "SPSS, wide (.sav)",
    "long.sav": "SPSS, long (.sav)",
    "wide.dta": "Stata, wide (.dta)",
    "long.dta": "Stata, long (.dta)",
}


def export_file(session: Session, study: Study, library: Library, name: str, *,
                actor: str) -> ExportFile:
    """Build one download and record it in the audit trail (the caller commits)."""
    if name not in EXPORTS:
        raise UnknownExport(f"No export called {name!r}; choose one of {', '.join(EXPORTS)}.")
    filename = f"{study.slug}-{name}"
    table, _, extension = name.rpartition(".")
    if table in exports.TABLES:
        text = exports.export_csv(session, study, table, library, actor=actor)
        return ExportFile(filename, CSV, text.encode("utf-8"), max(text.count("\n") - 1, 0))
    shape, mimetype = FORMATS[name]
    dataset = build_dataset(session, study, library, shape)
    if name == "codebook.csv":
        body = codebook(dataset, [i for i, _ in instruments_with_times(study, library)])
        rows = len(dataset.variables)
    else:
        writer = {"csv": lambda d: wide_csv(d), "sav": lambda d: spss(d, study),
                  "dta": lambda d: stata(d, study)}[extension]
        body = writer(dataset)
        rows = len(dataset.frame)
    audit.record(session, "export", actor=actor, study=study, table=table, format=extension,
                 rows=rows)
    return ExportFile(filename, mimetype, body, rows)
