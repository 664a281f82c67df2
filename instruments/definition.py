"""Instrument definition files: the schema, the loader and the writer.

A definition is a YAML mapping::

    schema: allport.instrument/1
    id: oms-hc-15                 # lowercase letters, digits and -
    version: "1.0"                # quoted; dotted integers; editing wording means a new version
    title: ...
    instructions: ...             # or null when licensed wording is supplied by a site
    completed_by: trainee         # or rater
    citation: ...
    licence: ...
    note: ...                     # optional, e.g. "not validated"
    page_size: 8                  # optional, items per page
    response_scales:              # optional, named and shared by items
      agree5:
        - {value: 1, label: Strongly disagree}
        ...
      ten: {range: [1, 10], anchors: {1: Not at all, 10: Extremely}}
    items:
      - key: omshc_03             # the variable name in every export
        text: null                # explicit: null only for licensed wording
        kind: scale               # scale (default) | choice | integer | text
        contact: true             # optional: contact data (email, phone), never exported
        show_if: "[omshc_02] = '1'"  # optional: REDCap branching logic (instruments.branching)
        section: Past month       # optional: a heading above the item
        new_page: true            # optional: the item starts a page
        note: ...                 # optional: a hint under the label
        matrix: agree_grid        # optional: consecutive items sharing choices shown as one grid
        html: true                # optional: text, section and note are HTML (sanitized on load)
        response: agree5
        reverse: true
        subscale: social_distance
    scales:
      - name: total
        label: ...
        rule: sum                 # or mean
        min_answered: 0.8         # prorate with at least 80% answered, else missing
        direction: higher = more stigma
        range: [15, 75]           # optional; checked against the items when given

Unknown fields are errors (a misspelt ``revers: true`` must never pass silently). Bundled files are
named ``<id>@<version>.yaml`` so that versions sit side by side.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from instruments.branching import (
    BranchingSyntaxError,
    Comparison,
    Condition,
    Not,
    parse_condition,
    to_text,
)
from instruments.errors import DefinitionError
from instruments.kinds import KINDS, NAME, Spot, dump_choices, is_int, kind_of
from instruments.labels import clean_label
from instruments.model import Instrument, Item, ScaleDef

SCHEMA = "allport.instrument/1"
ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
VERSION = re.compile(r"^\d+(\.\d+)*$")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,99}$")

TOP_FIELDS = {
    "schema", "id", "version", "title", "instructions", "completed_by", "citation", "licence",
    "note", "page_size", "response_scales", "items", "scales",
}  # fmt: skip
REQUIRED_TOP = ("schema", "id", "version", "title", "completed_by", "items")
ITEM_FIELDS = {
    "key", "text", "kind", "required", "contact", "show_if", "section", "note", "matrix",
    "new_page", "html",
}  # fmt: skip
SCALE_FIELDS = {"name", "label", "items", "rule", "min_answered", "direction", "range"}


def version_key(version: str) -> tuple[int, ...]:
    """Sort key for dotted versions: ``"1.10"`` is newer than ``"1.9"``."""
    return tuple(int(part) for part in version.split("."))


def definition_filename(instrument_id: str, version: str) -> str:
    """The library file of one version of an instrument: ``<id>@<version>.yaml``."""
    return f"{instrument_id}@{version}.yaml"


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, reporting syntax errors on one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DefinitionError(str(path), f"cannot read: {error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DefinitionError(str(path), f"invalid YAML: {where}{problem}") from None


def load_definition(path: str | Path) -> Instrument:
    """Read and validate one definition file.

    Raises
    ------
    DefinitionError
        With one line naming the file, the item and the problem.
    """
    path = Path(path)
    return parse_definition(read_yaml(path), str(path))


def _text(raw: Mapping[str, Any], name: str, spot: Spot, *, required: bool) -> str | None:
    value = raw.get(name)
    if value is None:
        if required:
            raise spot.fail(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise spot.fail(f"{name} must be text, not {value!r}")
    value = value.strip()
    if required and not value:
        raise spot.fail(f"{name} must not be empty")
    return value or None


def parse_definition(data: Any, file: str = "<definition>") -> Instrument:
    """Validate a parsed definition mapping and build the :class:`Instrument`."""
    top = Spot(file)
    if not isinstance(data, Mapping):
        raise top.fail("a definition must be a mapping of fields (schema, id, version, ...)")
    unknown = sorted(set(data) - TOP_FIELDS)
    if unknown:
        raise top.fail(f"unknown field {unknown[0]!r}")
    for name in REQUIRED_TOP:
        if data.get(name) is None:
            raise top.fail(f"{name} is required")
    if data["schema"] != SCHEMA:
        raise top.fail(f"schema must be {SCHEMA!r}, not {data['schema']!r}")
    instrument_id = data["id"]
    if not (isinstance(instrument_id, str) and ID.match(instrument_id)):
        raise top.fail(f"id must be lowercase letters, digits and -, not {instrument_id!r}")
    version = data["version"]
    if not isinstance(version, str):
        raise top.fail(f'version must be a quoted string such as "1.0", not {version!r}')
    if not VERSION.match(version):
        raise top.fail(f'version must be dotted numbers such as "1.0", not {version!r}')
    completed_by = data["completed_by"]
    if completed_by not in ("trainee", "rater"):
        raise top.fail(f"completed_by must be trainee or rater, not {completed_by!r}")
    page_size = data.get("page_size")
    if page_size is not None and (not is_int(page_size) or page_size < 1):
        raise top.fail(f"page_size must be a positive integer, not {page_size!r}")

    responses = data.get("response_scales") or {}
    if not isinstance(responses, Mapping):
        raise top.fail("response_scales must map names to choices")
    for name in responses:
        if not (isinstance(name, str) and NAME.match(name)):
            raise top.fail(f"response scale name {name!r} must be lowercase letters, digits and _")

    raw_items = data["items"]
    if not isinstance(raw_items, list) or not raw_items:
        raise top.fail("items must be a non-empty list")
    items: list[Item] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_items, start=1):
        item = _parse_item(raw, number, top, responses)
        if item.key in seen:
            raise top.at(item.key).fail("key appears twice")
        seen.add(item.key)
        items.append(item)
    _check_conditions(items, top)
    _check_matrix_groups(items, top)

    scales = _parse_scales(data.get("scales") or [], items, top)
    instrument = Instrument(
        id=instrument_id,
        version=version,
        title=_text(data, "title", top, required=True) or "",
        instructions=_text(data, "instructions", top, required=False),
        items=tuple(items),
        scales=scales,
        completed_by=completed_by,
        citation=_text(data, "citation", top, required=False) or "",
        licence=_text(data, "licence", top, required=False) or "",
        page_size=None if page_size is None else int(page_size),
        note=_text(data, "note", top, required=False),
        source=file,
    )
    return replace(instrument, fingerprint=fingerprint(instrument))


def fingerprint(instrument: Instrument) -> str:
    """SHA-256 of the canonical definition of ``instrument``.

    The loader stamps it on the instrument built from a file, before a site's licensed wording is
    merged; merging keeps it (``dataclasses.replace`` passes it on), so a version has the same
    fingerprint at every site. A study stores it when its instruments are frozen and refuses to
    score with a definition that has changed under the same version.
    """
    canonical = json.dumps(to_definition(instrument), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _parse_item(raw: Any, number: int, top: Spot, responses: Mapping[str, Any]) -> Item:
    if not isinstance(raw, Mapping):
        raise top.at(f"#{number}").fail("an item must be a mapping with key, text, kind, ...")
    key = raw.get("key")
    if not (isinstance(key, str) and KEY.match(key)):
        raise top.at(f"#{number}").fail(
            f"key must be a variable name (lowercase letters, digits, _; starting with a letter),"
            f" not {key!r}"
        )
    spot = top.at(key)
    kind_name = raw.get("kind", "scale")
    kind = KINDS.get(kind_name)
    if kind is None:
        raise spot.fail(f"kind must be one of {', '.join(KINDS)}, not {kind_name!r}")
    unknown = sorted(set(raw) - ITEM_FIELDS - kind.fields)
    if unknown:
        raise spot.fail(f"unknown field {unknown[0]!r} for a {kind_name} item")
    if "text" not in raw:
        raise spot.fail("text is missing (write text: null for licensed wording a site supplies)")
    text = raw["text"]
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise spot.fail(f"text must be non-empty text or null, not {text!r}")
    required = raw.get("required", kind.answered)
    if not isinstance(required, bool):
        raise spot.fail(f"required must be true or false, not {required!r}")
    if required and not kind.answered:
        raise spot.fail(f"a {kind_name} item shows text and is never answered, so it cannot be"
                        " required")
    contact = raw.get("contact", False)
    if not isinstance(contact, bool):
        raise spot.fail(f"contact must be true or false, not {contact!r}")
    markup = _flag(raw, "html", spot)
    if text is not None:
        text = _label(text.strip(), markup, "text", spot)
    item = Item(
        key=key,
        text=text,
        kind=kind_name,
        required=required,
        contact=contact,
        show_if=_condition(raw.get("show_if"), spot),
        section=_optional_label(raw, "section", markup, spot),
        note=_optional_label(raw, "note", markup, spot),
        matrix=_matrix_name(raw.get("matrix"), spot),
        new_page=_flag(raw, "new_page", spot),
        html=markup,
        **kind.build(raw, spot, responses),
    )
    if item.contact and item.scored:
        raise spot.fail("a contact item holds contact data and cannot be scored; make it a text,"
                        " integer or choice item")
    return item


def _flag(raw: Mapping[str, Any], name: str, spot: Spot) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise spot.fail(f"{name} must be true or false, not {value!r}")
    return value


def _label(text: str, markup: bool, name: str, spot: Spot) -> str:
    """Plain text as it is; markup cleaned against the allow-list, which must leave some text."""
    if markup:
        text = clean_label(text)
        if not text:
            raise spot.fail(f"{name} is empty once its markup is cleaned")
    return text


def _optional_label(raw: Mapping[str, Any], name: str, markup: bool, spot: Spot) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise spot.fail(f"{name} must be non-empty text, not {value!r}")
    return _label(value.strip(), markup, name, spot)


def _condition(value: Any, spot: Spot) -> str | None:
    """Branching logic in its canonical text, or a one-line error naming where it fails."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise spot.fail(f"show_if must be a condition such as \"[q1] = '1'\", not {value!r}")
    try:
        return to_text(parse_condition(value))
    except BranchingSyntaxError as error:
        raise spot.fail(f"show_if {value!r}: {error}") from None


def _matrix_name(value: Any, spot: Spot) -> str | None:
    if value is None:
        return None
    if not (isinstance(value, str) and NAME.match(value)):
        raise spot.fail(f"matrix must be a group name of lowercase letters, digits and _, not"
                        f" {value!r}")
    return value


def _check_conditions(items: list[Item], top: Spot) -> None:
    """Every branching condition refers to answered items of this instrument, not to itself.

    A checkbox item is referred to one choice at a time (``[field(code)] = '1'``), any other item
    as a whole; the item may come earlier or later (REDCap allows both; a later one is unanswered
    until it is reached).
    """
    by_key = {item.key: item for item in items}
    for item in items:
        if item.show_if is None:
            continue
        spot = top.at(item.key)
        for name, code in sorted(_references(parse_condition(item.show_if)),
                                 key=lambda ref: (ref[0], ref[1] or "")):
            reference = f"[{name}]" if code is None else f"[{name}({code})]"
            target = by_key.get(name)
            if target is None:
                raise spot.fail(f"show_if refers to {reference}, which is not an item of this"
                                " instrument")
            if target is item:
                raise spot.fail("show_if refers to the item itself")
            kind = kind_of(target)
            if not kind.answered:
                raise spot.fail(f"show_if refers to {reference}, which shows text and has no"
                                " answer")
            if code is None and kind.multiple:
                raise spot.fail(f"show_if compares {reference}, a checkbox item, as a whole;"
                                f" refer to one of its choices as [{name}(code)] = '1'")
            if code is not None and not kind.multiple:
                raise spot.fail(f"show_if refers to {reference}, but {name} is not a checkbox"
                                " item")
            if code is not None and not any(str(c.value) == code for c in target.choices):
                raise spot.fail(f"show_if refers to {reference}, but {name} has no choice"
                                f" {code!r}")


def _references(condition: Condition) -> set[tuple[str, str | None]]:
    """Every ``(field, checkbox code or None)`` that a condition compares."""
    if isinstance(condition, Comparison):
        return {(condition.field, condition.code)}
    if isinstance(condition, Not):
        return _references(condition.part)
    return set().union(*(_references(part) for part in condition.parts))


def _check_matrix_groups(items: list[Item], top: Spot) -> None:
    """A matrix group is consecutive items of one kind with the same choices, as in REDCap."""
    closed: set[str] = set()
    previous: Item | None = None
    for item in items:
        group = item.matrix
        if group is not None:
            spot = top.at(item.key)
            if group in closed:
                raise spot.fail(f"matrix group {group!r} is split by other items; its items must"
                                " follow one another")
            if previous is not None and previous.matrix == group and (
                previous.kind != item.kind or previous.choices != item.choices
            ):
                raise spot.fail(f"the items of matrix group {group!r} must share their kind and"
                                " choices")
            if not item.choices:
                raise spot.fail("only items answered by choosing an option can be in a matrix"
                                " group")
        if previous is not None and previous.matrix is not None and previous.matrix != group:
            closed.add(previous.matrix)
        previous = item


def _item_range(item: Item) -> tuple[int | float, int | float]:
    assert item.min is not None and item.max is not None
    return item.min, item.max


def _parse_scales(raw_scales: Any, items: list[Item], top: Spot) -> tuple[ScaleDef, ...]:
    if not isinstance(raw_scales, list):
        raise top.fail("scales must be a list")
    by_key = {item.key: item for item in items}
    names = [raw.get("name") for raw in raw_scales if isinstance(raw, Mapping)]
    for item in items:
        if item.subscale and item.subscale not in names:
            raise top.at(item.key).fail(f"subscale {item.subscale!r} is not one of the scales")
        if item.subscale and not item.scored:
            raise top.at(item.key).fail("an unscored item cannot belong to a subscale")
        if item.reverse and not item.scored:
            raise top.at(item.key).fail("an unscored item cannot be reverse-keyed")
    scales: list[ScaleDef] = []
    for raw in raw_scales:
        if not isinstance(raw, Mapping):
            raise top.fail("each scale must be a mapping with name, label, rule, ...")
        name = raw.get("name")
        if not (isinstance(name, str) and NAME.match(name)):
            raise top.fail(f"scale name must be lowercase letters, digits and _, not {name!r}")
        where = f"scale {name!r}"
        unknown = sorted(set(raw) - SCALE_FIELDS)
        if unknown:
            raise top.fail(f"{where}: unknown field {unknown[0]!r}")
        if names.count(name) > 1:
            raise top.fail(f"{where} appears twice")
        for field_name in ("label", "rule", "min_answered", "direction"):
            if raw.get(field_name) is None:
                raise top.fail(f"{where}: {field_name} is required")
        rule = raw["rule"]
        if rule not in ("sum", "mean"):
            raise top.fail(f"{where}: rule must be sum or mean, not {rule!r}")
        min_answered = raw["min_answered"]
        if (
            isinstance(min_answered, bool)
            or not isinstance(min_answered, int | float)
            or not 0 < min_answered <= 1
        ):
            raise top.fail(
                f"{where}: min_answered must be a fraction above 0 and at most 1, not"
                f" {min_answered!r}"
            )
        members = [i.key for i in items if i.subscale == name]
        if name == "total":
            default = [i.key for i in items if i.scored]
        else:
            default = members
        keys = raw.get("items", default)
        if not isinstance(keys, list) or not keys:
            raise top.fail(f"{where}: has no items (list them, or set subscale on items)")
        for key in keys:
            member = by_key.get(key) if isinstance(key, str) else None
            if member is None:
                raise top.fail(f"{where}: lists {key!r}, which is not an item")
            if not member.scored:
                raise top.at(key).fail(f"is in {where} but is not a scored scale item")
        if len(set(keys)) != len(keys):
            raise top.fail(f"{where}: lists an item twice")
        if "items" in raw and members and set(keys) != set(members):
            stray = sorted(set(keys) ^ set(members))[0]
            raise top.at(stray).fail(f"subscale and the items of {where} disagree")
        ranges = [_item_range(by_key[key]) for key in keys]
        low, high = sum(r[0] for r in ranges), sum(r[1] for r in ranges)
        computed = (
            (float(low), float(high)) if rule == "sum" else (low / len(keys), high / len(keys))
        )
        declared = raw.get("range")
        if declared is not None:
            if (
                not isinstance(declared, list)
                or len(declared) != 2
                or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in declared)
            ):
                raise top.fail(f"{where}: range must be [lowest, highest], not {declared!r}")
            if abs(declared[0] - computed[0]) > 1e-9 or abs(declared[1] - computed[1]) > 1e-9:
                raise top.fail(
                    f"{where}: range {declared} does not match its items, which give"
                    f" [{_num(computed[0])}, {_num(computed[1])}]"
                )
        scales.append(
            ScaleDef(
                name=name,
                label=_text(raw, "label", top, required=True) or "",
                items=tuple(keys),
                rule=rule,
                min_answered=float(min_answered),
                direction=_text(raw, "direction", top, required=True) or "",
                range=computed,
            )
        )
    return tuple(scales)


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def to_definition(instrument: Instrument, *, shared_responses: bool = False) -> dict[str, Any]:
    """The definition mapping of ``instrument``, in schema order; ``parse_definition`` inverts it.

    With ``shared_responses`` identical choice lists of scale items are written once under
    ``response_scales`` (the readable form for files people edit).
    """
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "id": instrument.id,
        "version": instrument.version,
        "title": instrument.title,
        "instructions": instrument.instructions,
        "completed_by": instrument.completed_by,
        "citation": instrument.citation,
        "licence": instrument.licence,
    }
    if instrument.note:
        out["note"] = instrument.note
    if instrument.page_size is not None:
        out["page_size"] = instrument.page_size
    items: list[dict[str, Any]] = []
    shared: dict[str, Any] = {}
    for item in instrument.items:
        kind = kind_of(item)
        entry: dict[str, Any] = {"key": item.key, "text": item.text, "kind": item.kind}
        if item.required != kind.answered:  # text shown on its own is never required
            entry["required"] = item.required
        if item.contact:
            entry["contact"] = True
        for placement in ("show_if", "section", "note", "matrix"):
            if getattr(item, placement) is not None:
                entry[placement] = getattr(item, placement)
        for flag in ("new_page", "html"):
            if getattr(item, flag):
                entry[flag] = True
        entry.update(kind.dump(item))
        if shared_responses and "choices" in entry:
            choices = entry.pop("choices")
            name = next((n for n, c in shared.items() if c == choices), None)
            if name is None:
                name = f"{kind.response_prefix}_{len(shared) + 1}"
                shared[name] = choices
            entry["response"] = name
        items.append(entry)
    if shared:
        out["response_scales"] = shared
    out["items"] = items
    if instrument.scales:
        out["scales"] = [
            {
                "name": s.name,
                "label": s.label,
                "items": list(s.items),
                "rule": s.rule,
                "min_answered": s.min_answered,
                "direction": s.direction,
                "range": [_num(s.range[0]), _num(s.range[1])],
            }
            for s in instrument.scales
        ]
    return out


def dump_definition(instrument: Instrument) -> str:
    """YAML text of ``instrument``'s definition, ready to save as ``<id>@<version>.yaml``."""
    return yaml.safe_dump(
        to_definition(instrument, shared_responses=True),
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


__all__ = [
    "SCHEMA",
    "definition_filename",
    "dump_choices",
    "dump_definition",
    "load_definition",
    "parse_definition",
    "to_definition",
    "version_key",
]
