"""REDCap data dictionaries: import one into definitions, export any instrument as one.

A REDCap data dictionary is a CSV with one row per field, each field belonging to a form. Import
turns a form into an instrument (:func:`import_redcap`; :func:`import_redcap_forms` turns every
form into one); export writes an instrument as a dictionary of one form (:func:`write_redcap`),
which imports back to the same definition. Each item kind says which REDCap field it becomes and
which fields it imports (:meth:`instruments.kinds.Kind.to_redcap` and
:meth:`~instruments.kinds.Kind.from_redcap`); this module reads and writes what is common to all
fields. What REDCap cannot express travels in the Field Annotation as one ``allport:{json}``
line per field and one ``allport-instrument:{json}`` line on the first (REDCap keeps both).

What becomes of each REDCap feature
-----------------------------------
Supported, as REDCap shows it:

- **radio** and **dropdown**: a ``scale`` when every code is an integer (negative codes too),
  otherwise a ``choice``; a dropdown keeps ``widget: dropdown``.
- **checkbox**: a ``checkbox`` item; the answer is the ticked codes, exported as one 0/1 variable
  per choice named ``field___code`` (REDCap's names).
- **yesno** and **truefalse**: stored 1/0 with REDCap's labels.
- **text** validated as ``integer`` (or the older ``int``): an ``integer`` item with its bounds.
- **text** validated as ``number``, ``float`` or ``decimal``: a ``number`` item with its bounds;
  ``number_1dp`` to ``number_4dp`` keep their decimal places (``decimals``: 2 takes 37.50 and
  refuses 37.5). The ``*_comma_decimal`` variants import the same way with a warning: a point is
  the decimal mark here.
- **text** validated as ``date_ymd``, ``date_mdy`` or ``date_dmy``: a ``date`` item (the order
  is REDCap's display; the date is kept as ``YYYY-MM-DD``) with its bounds as ``earliest`` and
  ``latest``; a bound that is not a date (REDCap's ``today``) is left out with a warning.
- **text** without validation, and **notes**: ``text`` items, notes on several lines.
- **slider**: a whole number from the Text Validation Min to Max (0 to 100 when blank); the
  labels ``left | middle | right`` of the Choices column sit at min, ``(min + max) // 2`` and
  max. The number is always shown (Show Slider Number is written ``number``).
- **descriptive**: text shown on its own, never answered, never required, never exported.
- **Section Header**: the item's ``section``, a heading shown above it; with ``page_per_section``
  (CLI ``--page-per-section``, like REDCap's survey option "one section per page") each section
  also starts a page (``new_page``).
- **Field Note**: the item's ``note``, a hint under the label.
- **Labels with HTML** (field label, section header, field note): the item is marked ``html``
  and its markup is cleaned against an allow-list when the definition loads
  (:mod:`instruments.labels`): ``<b>``, ``<i>``, lists and links stay; ``<script>``, ``style``,
  event handlers such as ``onclick`` and ``javascript:`` links are removed.
- **Branching Logic**: the item's ``show_if``, parsed by :mod:`instruments.branching` and kept
  in its canonical text: comparisons with ``= <> < > <= >=``, ``and``, ``or``, ``not``,
  parentheses, checkbox options ``[field(code)]``, empty values ``''``.
- **Matrix Group Name**: the item's ``matrix`` (one grid of items sharing their choices).
- **Required Field?**: ``required`` (a descriptive field is never required; an item whose
  branching logic hides it is not asked, so never required either: the web layer's business).
- **Identifier?**, and text validated as ``email`` or ``phone*``: refused, naming the field,
  unless the import names it as a contact field (``contact_fields``, CLI ``--contact-field``):
  it then becomes a contact item, which the trainee answers and no research export, analysis or
  report carries (DESIGN §8). Export marks contact items ``Identifier? = y``.
- **Missing-data codes**: a dictionary does not carry REDCap's project-level codes, so the import
  is told them (``missing_codes``, CLI ``--missing-codes 99,-9``); choices with those codes are
  marked ``missing``: stored as given, never scored. A radio whose other codes are integers is
  still a scale. Export writes them in the ``allport:`` annotation.
- **Variable names with capitals** (REDCap itself lowercases them now, older projects kept them):
  lowercased with a warning, also inside branching logic; refused only when two fields of a form
  become the same name.
- **Several forms**: each form is an instrument of its own (:func:`import_redcap_forms`, the CLI
  writes one definition per form); ``form`` picks one.
- **The file**: UTF-8 with or without a byte-order mark; lines ending in CR LF, LF or CR; the
  long column headers of the Designer or the API's short ones (``field_name``, ...).

Left out, with a warning naming the field:

- **calc** (Allport scores instruments with its own scales), **file** (and signatures: no file
  uploads), **sql** and any other field type: the field is not asked. A branching condition that
  refers to a field left out is refused, naming both (the condition could never be decided). Its
  section header heads the next field instead (with a warning), unless that field has its own.
- **The record ID**: the dictionary's first field, when it is a text field, is REDCap's record
  identifier, which REDCap fills in itself; Allport identifies trainees on its own.
- **Action tags** (``@HIDDEN``, ``@DEFAULT``, ``@READONLY``, ...) in the Field Annotation: they
  would need REDCap to act on them; other annotation text is ignored silently.
- **Matrix Ranking?**: ranking within a matrix is not enforced.
- **Text validations other than the above** (``time``, ``datetime_*``, ``zipcode``,
  ``alpha_only``, ...): the field is free text.
- **Integer or number bounds** that are not numbers (``[age_max]``, ``today``), and slider bounds
  that are not whole numbers.

Ignored silently, because they only place things on REDCap's own page: **Custom Alignment** and
**Question Number**.

Refused, with one line naming the field (and the character, for an expression):

- branching logic outside the language of :mod:`instruments.branching` (functions such as
  ``datediff()``, arithmetic, smart variables, event prefixes ``[baseline_arm_1][x]``, comparing
  two fields): a condition Allport cannot decide would show or hide items unlike REDCap;
- branching logic that refers to a field of another form, or to no field of the dictionary;
- choices that are not ``code, label`` pairs, fewer than two choices, a code twice, checkbox
  codes other than letters, digits and ``_`` (REDCap allows a leading ``-``);
- two variable names that are the same once lowercased;
- an identifying field not named as a contact field (above);
- labels that are empty once their markup is cleaned.

REDCap's record-level features (events, arms, repeating instruments, survey settings, data access
groups, project-level missing-data codes) and the images or videos attached to descriptive fields
are not in a data dictionary, so none of them is read.

Export writes all of the above back: types, choices, validation and bounds, slider labels,
branching logic as canonical text, section headers, field notes, matrix group names, HTML labels
as stored (already cleaned), ``Required Field?`` and ``Identifier?``; in the ``allport:``
annotation what REDCap cannot say (reverse keying, subscales, option scoring, missing-data codes,
``new_page``, the item's ``html`` flag where the text alone would not tell, slider anchors away
from the ends and the middle, missing licensed wording), and the instrument's title, version,
instructions and scales in the ``allport-instrument:`` annotation of the first field. That first
field is a record ID (``record_id``, a text field as REDCap requires of the first one, marked
``allport:{"record_id":true}``), so that the dictionary uploads to REDCap as it is; importing it
leaves that field out without a warning. A dictionary written before it had one (the annotation
on the first item) still imports.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from instruments.branching import (
    BranchingSyntaxError,
    Condition,
    fields,
    parse_condition,
    rename,
    to_text,
)
from instruments.csvfiles import read_table, write_table
from instruments.definition import SCHEMA, parse_definition, to_definition
from instruments.errors import DefinitionError
from instruments.kinds import KINDS, RedcapField, Spot, kind_of
from instruments.labels import looks_like_html
from instruments.model import Instrument

COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
# the API's short names, which some exports use, for the same columns
SHORT = [
    "field_name", "form_name", "section_header", "field_type", "field_label",
    "select_choices_or_calculations", "field_note", "text_validation_type_or_show_slider_number",
    "text_validation_min", "text_validation_max", "identifier", "branching_logic",
    "required_field", "custom_alignment", "question_number", "matrix_group_name",
    "matrix_ranking", "field_annotation",
]  # fmt: skip
NAMES = dict(zip(SHORT, COLUMNS, strict=True))
ITEM_TAG = "allport:"
RECORD_ID = "record_id"  # the exported dictionary's first field, unless an item has the name
INSTRUMENT_TAG = "allport-instrument:"
NO_WORDING = "[licensed wording not supplied]"
YES = ("y", "yes", "1")
# REDCap's validation types for contact details: email, phone and its national variants.
IDENTIFYING_VALIDATION = ("email", "phone")
ACTION_TAG = re.compile(r"@[A-Z][A-Z0-9_-]*")


@dataclass(frozen=True)
class RedcapImport:
    """The imported instrument and what was left out on the way, one line each."""

    instrument: Instrument
    warnings: list[str] = field(default_factory=list)


def form_name(instrument_id: str) -> str:
    """REDCap's form name for an instrument id (``oms-hc-15`` -> ``oms_hc_15``)."""
    return instrument_id.replace("-", "_")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _markup(label: str, section: str, note: str) -> bool:
    """Whether a field's label, section header or note reads differently as HTML."""
    return any(looks_like_html(text) for text in (label, section, note) if text)


def export_rows(instrument: Instrument) -> list[dict[str, str]]:
    """The data dictionary of ``instrument``, one dict per field keyed by :data:`COLUMNS`.

    Raises
    ------
    ValueError
        When an item cannot be a REDCap field (a choice label holding ``|``).
    """
    definition = to_definition(instrument)
    header = {k: v for k, v in definition.items() if k not in ("schema", "items")}
    keys = {item.key for item in instrument.items}
    record_id = next(name for name in (RECORD_ID, *(f"{RECORD_ID}_{n}" for n in range(2, 99)))
                     if name not in keys)
    rows = [{**dict.fromkeys(COLUMNS, ""), "Variable / Field Name": record_id,
             "Form Name": form_name(instrument.id), "Field Type": "text",
             "Field Label": "Record ID",
             "Field Annotation": "\n".join((ITEM_TAG + _json({"record_id": True}),
                                            INSTRUMENT_TAG + _json(header)))}]
    for item in instrument.items:
        row = dict.fromkeys(COLUMNS, "")
        row["Variable / Field Name"] = item.key
        row["Form Name"] = form_name(instrument.id)
        row["Field Label"] = item.text if item.text is not None else f"{NO_WORDING} {item.key}"
        row["Section Header"] = item.section or ""
        row["Field Note"] = item.note or ""
        row["Branching Logic (Show field only if...)"] = item.show_if or ""
        row["Matrix Group Name"] = item.matrix or ""
        spec = kind_of(item).to_redcap(item)
        row["Field Type"] = spec.field_type
        row["Choices, Calculations, OR Slider Labels"] = spec.choices
        row["Text Validation Type OR Show Slider Number"] = spec.validation
        row["Text Validation Min"] = spec.min
        row["Text Validation Max"] = spec.max
        row["Required Field?"] = "y" if item.required and kind_of(item).answered else ""
        row["Identifier?"] = "y" if item.contact else ""
        notes = []
        meta = dict(spec.annotation)
        if item.contact:
            meta["contact"] = True
        if item.text is None:
            meta["text"] = None
        if item.new_page:
            meta["new_page"] = True
        if item.html != _markup(row["Field Label"], row["Section Header"], row["Field Note"]):
            meta["html"] = item.html
        if item.required and not kind_of(item).answered:
            meta["required"] = True  # meaningless for text shown on its own, but kept as written
        if meta:
            notes.append(ITEM_TAG + _json(meta))
        row["Field Annotation"] = "\n".join(notes)
        rows.append(row)
    return rows


def write_redcap(instrument: Instrument, target: str | Path | IO[str]) -> None:
    """Write ``instrument`` as a REDCap data dictionary CSV (a path or an open text file)."""
    write_table(target, COLUMNS, export_rows(instrument),
                numeric=("Text Validation Min", "Text Validation Max"))


def redcap_csv(instrument: Instrument) -> str:
    """The data dictionary CSV of ``instrument`` as text."""
    buffer = io.StringIO(newline="")
    write_redcap(instrument, buffer)
    return buffer.getvalue()


def _normalize_header(name: str) -> str:
    name = name.strip().lstrip("\ufeff")
    if name in NAMES:
        return NAMES[name]
    for column in COLUMNS:
        if column.lower() == name.lower():
            return column
    return name


def read_rows(source: str | Path | IO[str], file: str | None = None) -> list[dict[str, str]]:
    """Rows of a data dictionary CSV, keyed by the long column names whatever the header used."""
    name = file or (str(source) if isinstance(source, str | Path) else "<data dictionary>")
    table = read_table(source, name)
    if not table:
        raise DefinitionError(name, "the data dictionary is empty")
    header = [_normalize_header(cell) for cell in table[0]]
    for needed in ("Variable / Field Name", "Form Name", "Field Type", "Field Label"):
        if needed not in header:
            raise DefinitionError(name, f"not a REDCap data dictionary: no column {needed!r}")
    rows = []
    for cells in table[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        row = dict.fromkeys(COLUMNS, "")
        row.update({h: c.strip() for h, c in zip(header, cells, strict=False) if h in row})
        rows.append(row)
    return rows


def _annotations(text: str, key: str, file: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    item: dict[str, Any] = {}
    instrument = None
    for line in text.splitlines():
        line = line.strip()
        for tag in (INSTRUMENT_TAG, ITEM_TAG):
            if line.startswith(tag):
                try:
                    value = json.loads(line[len(tag) :])
                except json.JSONDecodeError as error:
                    raise DefinitionError(
                        file, f"unreadable {tag} annotation: {error}", key
                    ) from None
                if not isinstance(value, dict):
                    raise DefinitionError(file, f"the {tag} annotation must be a JSON object", key)
                if tag == ITEM_TAG:
                    item = value
                else:
                    instrument = value
                break
    return item, instrument


def _action_tags(text: str) -> list[str]:
    """REDCap's action tags (``@HIDDEN``, ``@DEFAULT='1'``, ...) outside Allport's own lines."""
    ours = (ITEM_TAG, INSTRUMENT_TAG)
    plain = "\n".join(line for line in text.splitlines() if not line.strip().startswith(ours))
    return list(dict.fromkeys(ACTION_TAG.findall(plain)))


def _lowercase_names(rows: list[dict[str, str]], form: str, file: str) -> dict[str, str]:
    """Lowercase every variable name in place, refusing two of the form that become the same.

    Returns the form's names that changed, lowercased name -> name as written.
    """
    seen: dict[str, str] = {}
    for row in rows:
        name = row["Variable / Field Name"]
        lower = name.lower()
        if row["Form Name"] == form:
            if lower in seen:
                raise DefinitionError(
                    file, f"fields {seen[lower]!r} and {name!r} of form {form!r} are the same"
                          " name once lowercased; rename one")
            seen[lower] = name
        row["Variable / Field Name"] = lower
    return {lower: name for lower, name in seen.items() if lower != name}


def _forms(rows: list[dict[str, str]]) -> list[str]:
    return list(dict.fromkeys(row["Form Name"] for row in rows))


def import_rows(
    rows: Iterable[Mapping[str, str]],
    *,
    file: str = "<data dictionary>",
    form: str | None = None,
    instrument_id: str | None = None,
    version: str | None = None,
    title: str | None = None,
    contact_fields: Collection[str] = (),
    missing_codes: Collection[str] = (),
    page_per_section: bool = False,
) -> RedcapImport:
    """Build an instrument from one form of data dictionary rows (see :func:`import_redcap`)."""
    table = [dict(row) for row in rows]
    forms = _forms(table)
    if form is None:
        if len(forms) != 1:
            raise DefinitionError(
                file, f"the dictionary has {len(forms)} forms ({', '.join(forms)}); choose one"
            )
        form = forms[0]
    elif form not in forms:
        raise DefinitionError(file, f"has no form {form!r} (forms: {', '.join(forms)})")
    names = {row["Variable / Field Name"].lower() for row in table if row["Form Name"] == form}
    for name in contact_fields:
        if name.lower() not in names:
            raise DefinitionError(file, f"--contact-field {name}: form {form!r} has no field "
                                        f"{name!r}")
    return _import_form(
        table, form, file=file, instrument_id=instrument_id, version=version, title=title,
        contact_fields=contact_fields, missing_codes=missing_codes,
        page_per_section=page_per_section,
    )


def import_forms(
    rows: Iterable[Mapping[str, str]],
    *,
    file: str = "<data dictionary>",
    contact_fields: Collection[str] = (),
    missing_codes: Collection[str] = (),
    page_per_section: bool = False,
) -> list[RedcapImport]:
    """Every form of data dictionary rows as an instrument of its own, in the dictionary's order."""
    table = [dict(row) for row in rows]
    names = {row["Variable / Field Name"].lower() for row in table}
    for name in contact_fields:
        if name.lower() not in names:
            raise DefinitionError(file, f"--contact-field {name}: the dictionary has no field "
                                        f"{name!r}")
    return [
        _import_form(
            table, form, file=file, contact_fields=contact_fields, missing_codes=missing_codes,
            page_per_section=page_per_section,
        )
        for form in _forms(table)
    ]


def _import_form(
    table: list[dict[str, str]],
    form: str,
    *,
    file: str,
    instrument_id: str | None = None,
    version: str | None = None,
    title: str | None = None,
    contact_fields: Collection[str] = (),
    missing_codes: Collection[str] = (),
    page_per_section: bool = False,
) -> RedcapImport:
    """One form as an instrument: its fields as items, then their branching logic checked."""
    warnings: list[str] = []
    rows = [dict(row) for row in table]
    renamed = _lowercase_names(rows, form, file)
    contact_names = {name.lower() for name in contact_fields}
    form_of = {row["Variable / Field Name"]: row["Form Name"] for row in rows}
    kept = list(dict.fromkeys(name for kind in KINDS.values() for name in kind.redcap_types))
    left_out: dict[str, str] = {}  # field -> what it was, for branching logic that needs it
    items: list[dict[str, Any]] = []
    conditions: dict[str, Condition] = {}
    meta: dict[str, Any] = {}
    heading: tuple[str, str] | None = None  # a section header whose field was left out
    for number, row in enumerate(rows):
        if row["Form Name"] != form:
            continue
        key = row["Variable / Field Name"]
        field_type = row["Field Type"].lower()
        if key in renamed:
            warnings.append(f"{renamed[key]}: variable name lowercased to {key}")
        if number == 0 and field_type == "text":
            # The record ID: Allport's own export marks its own, which carries the instrument's
            # annotation; a first item that carries it (exports before that) is no record ID.
            annotation, instrument_meta = _annotations(row["Field Annotation"], key, file)
            if annotation.get("record_id") is True:
                meta = instrument_meta or {}
                left_out[key] = "record ID"
            elif instrument_meta is None:
                warnings.append(f"{key}: the record ID (the dictionary's first field) left out:"
                                " REDCap fills it in itself and Allport identifies trainees on"
                                " its own")
                left_out[key] = "record ID"
        elif field_type not in kept:
            warnings.append(f"{key}: {field_type or 'untyped'} field left out")
            left_out[key] = f"{field_type or 'untyped'} field"
        if key in left_out:
            if row["Section Header"]:
                heading = _moved_heading(heading, (key, row["Section Header"]), warnings)
            continue
        if heading is not None:
            if row["Section Header"]:
                _moved_heading(heading, None, warnings)
            else:
                row["Section Header"] = heading[1]
                warnings.append(f"{heading[0]}: its section header now heads {key}")
            heading = None
        annotation, instrument_meta = _annotations(row["Field Annotation"], key, file)
        if instrument_meta is not None:
            meta = instrument_meta
        if missing_codes:
            annotation = {**annotation,
                          "missing": [*annotation.get("missing", ()), *missing_codes]}
        spot = Spot(file, key)
        entry = _item(row, annotation, spot, warnings,
                      contact=key in contact_names or annotation.get("contact") is True)
        entry |= _layout(row, annotation, spot, warnings, page_per_section=page_per_section)
        logic = row["Branching Logic (Show field only if...)"]
        if logic:
            conditions[key] = _condition(logic, spot)
        items.append(entry)
    if not items:
        raise DefinitionError(file, f"form {form!r} has no {_or(kept)} field")
    if heading is not None:
        _moved_heading(heading, None, warnings)
    for entry in items:
        if entry["key"] in conditions:
            spot = Spot(file, entry["key"])
            entry["show_if"] = to_text(
                _referable(conditions[entry["key"]], form, form_of, left_out, spot))
    definition: dict[str, Any] = {
        "schema": SCHEMA,
        "id": form.replace("_", "-"),
        "version": "1.0",
        "title": form.replace("_", " ").capitalize(),
        "instructions": None,
        "completed_by": "trainee",
    }
    definition |= {k: v for k, v in meta.items() if k not in ("schema", "items")}
    for name, value in (("id", instrument_id), ("version", version), ("title", title)):
        if value is not None:
            definition[name] = value
    definition["items"] = items
    if "scales" in definition:
        present = {entry["key"] for entry in items}
        for scale in definition["scales"]:
            lost = [key for key in scale.get("items", []) if key not in present]
            if lost:
                raise DefinitionError(
                    file, f"scale {scale.get('name')!r} needs {lost[0]!r}, which was left out"
                )
    return RedcapImport(parse_definition(definition, file), warnings)


def _moved_heading(waiting: tuple[str, str] | None, new: tuple[str, str] | None,
                   warnings: list[str]) -> tuple[str, str] | None:
    """A left-out field's section header waits for the next field; one it cannot head is lost."""
    if waiting is not None:
        warnings.append(f"{waiting[0]}: section header left out")
    return new


def _item(row: Mapping[str, str], annotation: Mapping[str, Any], spot: Spot,
          warnings: list[str], *, contact: bool) -> dict[str, Any]:
    """Key, text, kind and its fields, required and contact of a kept field."""
    key = spot.item or ""
    why = _identifying(row)
    if why and not contact:
        raise spot.fail(
            f"{why}, so its answers would reach de-identified research exports; leave it out of"
            f" the form, or import it as contact data that is never exported with"
            f" --contact-field {key}")
    entry: dict[str, Any] = {"key": key}
    no_text = "text" in annotation and annotation["text"] is None
    entry["text"] = None if no_text else row["Field Label"]
    entry |= _import_field(row, annotation, spot, warnings)
    if KINDS[entry["kind"]].answered:
        if row["Required Field?"].lower() not in YES:
            entry["required"] = False
    else:  # REDCap cannot require text shown on its own
        entry["required"] = annotation.get("required", False) is True
    if contact:
        entry["contact"] = True
    return entry


def _layout(row: Mapping[str, str], annotation: Mapping[str, Any], spot: Spot,
            warnings: list[str], *, page_per_section: bool) -> dict[str, Any]:
    """Where and how a field is shown: section, page, note, HTML, matrix group; what is not."""
    entry: dict[str, Any] = {}
    section, note = row["Section Header"], row["Field Note"]
    if section:
        entry["section"] = section
    if (section and page_per_section) or annotation.get("new_page") is True:
        entry["new_page"] = True
    if note:
        entry["note"] = note
    if annotation.get("html", _markup(row["Field Label"], section, note)):
        entry["html"] = True
    if row["Matrix Group Name"]:
        entry["matrix"] = row["Matrix Group Name"].lower()
    if row["Matrix Ranking?"].lower() in YES:
        warnings.append(f"{spot.item}: matrix ranking left out")
    tags = _action_tags(row["Field Annotation"])
    if tags:
        warnings.append(f"{spot.item}: action tags left out: {' '.join(tags)}")
    return entry


def _condition(logic: str, spot: Spot) -> Condition:
    """Branching logic as a tree with lowercased field names, or one line saying where it fails."""
    try:
        return rename(parse_condition(logic), str.lower)
    except BranchingSyntaxError as error:
        raise spot.fail(f"branching logic {error}: {logic!r}") from None


def _referable(condition: Condition, form: str, form_of: Mapping[str, str],
               left_out: Mapping[str, str], spot: Spot) -> Condition:
    """``condition``, if every field it refers to is an item of this form."""
    for name in sorted(fields(condition)):
        if name in left_out:
            raise spot.fail(f"branching logic refers to [{name}], a {left_out[name]} that was left"
                            " out, so the condition could never be decided")
        if name not in form_of:
            raise spot.fail(f"branching logic refers to [{name}], which is not a field of the"
                            " dictionary")
        if form_of[name] != form:
            raise spot.fail(f"branching logic refers to [{name}], a field of form"
                            f" {form_of[name]!r}: each form is an instrument of its own, so the"
                            " condition could never be decided")
    return condition


def _identifying(row: Mapping[str, str]) -> str | None:
    """Why a field identifies a person (REDCap's identifier flag, email or phone), or None."""
    if row["Identifier?"].lower() in YES:
        return "marked as an identifier in REDCap (Identifier? = y)"
    validation = row["Text Validation Type OR Show Slider Number"].lower()
    if validation.startswith(IDENTIFYING_VALIDATION):
        return f"validated as {validation} in REDCap: it holds contact details"
    return None


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _import_field(
    row: Mapping[str, str], annotation: Mapping[str, Any], spot: Spot, warnings: list[str]
) -> dict[str, Any]:
    """The kind and kind-specific fields of a kept field: the first kind that takes it."""
    spec = RedcapField(
        row["Field Type"].lower(),
        choices=row["Choices, Calculations, OR Slider Labels"],
        validation=row["Text Validation Type OR Show Slider Number"].lower(),
        min=row["Text Validation Min"],
        max=row["Text Validation Max"],
        annotation=annotation,
    )

    def warn(problem: str) -> None:
        warnings.append(f"{spot.item}: {problem}")

    for kind in KINDS.values():
        if spec.field_type in kind.redcap_types:
            fields = kind.from_redcap(spec, spot, warn)
            if fields is not None:
                return {"kind": kind.name, **fields}
    raise spot.fail(f"kind must be one of {', '.join(KINDS)}, not {annotation.get('kind')!r}")


def _source_name(source: str | Path | IO[str]) -> str:
    return str(source) if isinstance(source, str | Path) else "<data dictionary>"


def import_redcap(
    source: str | Path | IO[str],
    *,
    form: str | None = None,
    instrument_id: str | None = None,
    version: str | None = None,
    title: str | None = None,
    contact_fields: Collection[str] = (),
    missing_codes: Collection[str] = (),
    page_per_section: bool = False,
) -> RedcapImport:
    """Import one form of a REDCap data dictionary CSV as an instrument.

    Parameters
    ----------
    source
        A path or an open text file.
    form
        The form to import; needed when the dictionary has several.
    instrument_id, version, title
        Override what the dictionary says (by default the id is the form name with ``-`` for ``_``,
        the version ``"1.0"``, unless the file carries Allport's own annotation).
    contact_fields
        Fields that identify a person and are kept as contact items (module docstring); any
        other identifying field is refused.
    missing_codes
        Choice codes that are missing-data codes (``["99", "-9"]``): stored, never scored.
    page_per_section
        Start a page at every section header, as REDCap's survey option "one section per page".

    Returns
    -------
    RedcapImport
        The instrument and a warning per thing left out (module docstring).

    Raises
    ------
    DefinitionError
        On one line, when the dictionary cannot become a valid definition.
    """
    file = _source_name(source)
    return import_rows(
        read_rows(source, file),
        file=file,
        form=form,
        instrument_id=instrument_id,
        version=version,
        title=title,
        contact_fields=contact_fields,
        missing_codes=missing_codes,
        page_per_section=page_per_section,
    )


def import_redcap_forms(
    source: str | Path | IO[str],
    *,
    contact_fields: Collection[str] = (),
    missing_codes: Collection[str] = (),
    page_per_section: bool = False,
) -> list[RedcapImport]:
    """Import every form of a REDCap data dictionary CSV, each as an instrument of its own.

    The parameters are those of :func:`import_redcap`; a contact field may be in any form.

    Raises
    ------
    DefinitionError
        On one line, when a form cannot become a valid definition.
    """
    file = _source_name(source)
    return import_forms(
        read_rows(source, file),
        file=file,
        contact_fields=contact_fields,
        missing_codes=missing_codes,
        page_per_section=page_per_section,
    )


__all__ = [
    "COLUMNS",
    "RedcapImport",
    "export_rows",
    "form_name",
    "import_forms",
    "import_redcap",
    "import_redcap_forms",
    "import_rows",
    "redcap_csv",
    "write_redcap",
]
