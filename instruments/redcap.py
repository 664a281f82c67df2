"""REDCap data dictionaries: import one into a definition, export any instrument as one.

A REDCap data dictionary is a CSV with one row per field. Each item kind says which REDCap field
it becomes and which fields it imports (:meth:`instruments.kinds.Kind.to_redcap` and
:meth:`~instruments.kinds.Kind.from_redcap`). With the kinds there are, ``radio`` and ``dropdown``
fields whose codes are all integers become ``scale`` items and others ``choice`` items, ``text``
fields become ``integer`` items when validated as integers and ``text`` items otherwise, and
``notes`` become multi-line ``text``. Import keeps those fields, in order, and leaves every other
field type out with a warning (``calc``, ``descriptive``, ``checkbox``, ``yesno``, ``slider``,
``file``, ...).

A field that identifies a person (``Identifier? = y``, or a text field validated as an email or
a phone number) is refused, naming it, unless the import names it as a contact field
(``contact_fields``, the CLI's ``--contact-field NAME``): it then becomes a contact item
(``contact: true``), whose answers the trainee gives but no research export, analysis or report
ever carries (DESIGN §8). Export marks contact items ``Identifier? = y``.

What REDCap cannot express (reverse keying, subscales, option scoring, missing licensed wording,
and the instrument's scales and metadata) is written in the Field Annotation as ``allport:{json}``
lines, which REDCap keeps, so an exported dictionary imports back to the same definition. The
instructions travel as the first field's Section Header.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from instruments.csvfiles import read_table, write_table
from instruments.definition import SCHEMA, parse_definition, to_definition
from instruments.errors import DefinitionError
from instruments.kinds import KINDS, RedcapField, Spot, kind_of
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
INSTRUMENT_TAG = "allport-instrument:"
NO_WORDING = "[licensed wording not supplied]"
YES = ("y", "yes", "1")
# REDCap's validation types for contact details: email, phone and its national variants.
IDENTIFYING_VALIDATION = ("email", "phone")


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


def export_rows(instrument: Instrument) -> list[dict[str, str]]:
    """The data dictionary of ``instrument``, one dict per field keyed by :data:`COLUMNS`."""
    definition = to_definition(instrument)
    header = {k: v for k, v in definition.items() if k not in ("schema", "items", "instructions")}
    rows = []
    for number, item in enumerate(instrument.items):
        row = dict.fromkeys(COLUMNS, "")
        row["Variable / Field Name"] = item.key
        row["Form Name"] = form_name(instrument.id)
        row["Field Label"] = item.text if item.text is not None else f"{NO_WORDING} {item.key}"
        spec = kind_of(item).to_redcap(item)
        row["Field Type"] = spec.field_type
        row["Choices, Calculations, OR Slider Labels"] = spec.choices
        row["Text Validation Type OR Show Slider Number"] = spec.validation
        row["Text Validation Min"] = spec.min
        row["Text Validation Max"] = spec.max
        row["Required Field?"] = "y" if item.required else ""
        row["Identifier?"] = "y" if item.contact else ""
        notes = []
        meta = dict(spec.annotation)
        if item.contact:
            meta["contact"] = True
        if item.text is None:
            meta["text"] = None
        if meta:
            notes.append(ITEM_TAG + _json(meta))
        if number == 0:
            row["Section Header"] = instrument.instructions or ""
            notes.append(INSTRUMENT_TAG + _json(header))
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


def import_rows(
    rows: Iterable[Mapping[str, str]],
    *,
    file: str = "<data dictionary>",
    form: str | None = None,
    instrument_id: str | None = None,
    version: str | None = None,
    title: str | None = None,
    contact_fields: Collection[str] = (),
) -> RedcapImport:
    """Build an instrument from data dictionary rows (see :func:`import_redcap`)."""
    rows = list(rows)
    forms = list(dict.fromkeys(row["Form Name"] for row in rows))
    if form is None:
        if len(forms) != 1:
            raise DefinitionError(
                file, f"the dictionary has {len(forms)} forms ({', '.join(forms)}); choose one"
            )
        form = forms[0]
    elif form not in forms:
        raise DefinitionError(file, f"has no form {form!r} (forms: {', '.join(forms)})")
    fields = {row["Variable / Field Name"] for row in rows if row["Form Name"] == form}
    for name in contact_fields:
        if name not in fields:
            raise DefinitionError(file, f"--contact-field {name}: form {form!r} has no field "
                                        f"{name!r}")
    kept = list(dict.fromkeys(name for kind in KINDS.values() for name in kind.redcap_types))
    warnings: list[str] = []
    items: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    instructions: str | None = None
    for row in (r for r in rows if r["Form Name"] == form):
        key = row["Variable / Field Name"]
        field_type = row["Field Type"].lower()
        if field_type not in kept:
            warnings.append(f"{key}: {field_type or 'untyped'} field left out")
            continue
        annotation, instrument_meta = _annotations(row["Field Annotation"], key, file)
        if instrument_meta is not None:
            meta = instrument_meta
        if row["Section Header"]:
            if not items and instructions is None:
                instructions = row["Section Header"]
            else:
                warnings.append(f"{key}: section header left out")
        contact = (key in contact_fields or annotation.get("contact") is True)
        why = _identifying(row)
        if why and not contact:
            raise DefinitionError(
                file, f"{why}, so its answers would reach de-identified research exports; leave"
                      f" it out of the form, or import it as contact data that is never exported"
                      f" with --contact-field {key}", key)
        if row["Branching Logic (Show field only if...)"]:
            warnings.append(f"{key}: branching logic left out")
        entry: dict[str, Any] = {"key": key}
        label = row["Field Label"]
        entry["text"] = None if "text" in annotation and annotation["text"] is None else label
        entry |= _import_field(row, annotation, Spot(file, key), warnings)
        if row["Required Field?"].lower() not in YES:
            entry["required"] = False
        if contact:
            entry["contact"] = True
        items.append(entry)
    if not items:
        raise DefinitionError(file, f"form {form!r} has no {_or(kept)} field")
    definition: dict[str, Any] = {
        "schema": SCHEMA,
        "id": form.replace("_", "-"),
        "version": "1.0",
        "title": form.replace("_", " ").capitalize(),
        "completed_by": "trainee",
    }
    definition |= {k: v for k, v in meta.items() if k not in ("schema", "items", "instructions")}
    definition["instructions"] = instructions
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


def import_redcap(
    source: str | Path | IO[str],
    *,
    form: str | None = None,
    instrument_id: str | None = None,
    version: str | None = None,
    title: str | None = None,
    contact_fields: Collection[str] = (),
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

    Raises
    ------
    DefinitionError
        On one line, when the dictionary cannot become a valid definition.
    """
    file = str(source) if isinstance(source, str | Path) else "<data dictionary>"
    return import_rows(
        read_rows(source, file),
        file=file,
        form=form,
        instrument_id=instrument_id,
        version=version,
        title=title,
        contact_fields=contact_fields,
    )


__all__ = [
    "COLUMNS",
    "RedcapImport",
    "export_rows",
    "form_name",
    "import_redcap",
    "import_rows",
    "redcap_csv",
    "write_redcap",
]
