"""The study file: a whole draft study written by hand in YAML, and written back from one.

``docs/study-file.example.yaml`` is the documented example. :func:`parse` reads a file with
``yaml.safe_load`` and checks every field, naming each problem by its path in the file
(``arms[1].ratio: must be a whole number from 1``); a key the format does not have is refused, so
a misspelt one is never silently ignored. :func:`create` makes the draft study through
:func:`~study.services.studies.create_study` (with its module pages and analysis plan) and
:func:`dump` writes a study back in the same format, so that ``dump → create → dump`` gives the
same file apart from the slug.

Nothing here commits: on a :class:`StudyFileError` (or any other refusal) the caller rolls back
and nothing of the study is kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from instruments import Library
from study.errors import DomainError
from study.models import ArmKind, Study
from study.models.study import is_web_link
from study.services import sap
from study.services.sequence import parse_block_sizes, validate_block_sizes
from study.services.studies import (
    SLUG_RE,
    SLUG_RULE,
    ArmSpec,
    CohortSpec,
    StudySpec,
    create_study,
    spec_of,
)

TIMEPOINTS = ("baseline", "post", "followup")
TOP_KEYS = ("slug", "title", "description", "protocol_number", "ethics_approval_number", "arms",
            "cohorts", "instruments", "block_sizes", "strata_factors", "planned_sample_size",
            "schedule", "consent", "module_pages", "analysis_plan")
REQUIRED_TOP = ("arms", "instruments", "consent")  # slug and title: see parse
ARM_KEYS = ("key", "name", "kind", "control", "ratio", "description")
COHORT_KEYS = ("name", "site", "starts_on", "ends_on")
INSTRUMENT_KEYS = ("id", "version")
SCHEDULE_KEYS = ("intervention_period_days", "post_window_days", "followup_offset_days",
                 "followup_window_days", "reminder_interval_days")
# Days that a study always has (the others may be left out: no limit, or no follow-up window).
SCHEDULE_DEFAULTS = {"intervention_period_days": 14, "followup_offset_days": 28,
                     "reminder_interval_days": 3}
CONSENT_KEYS = ("text", "data_kept_on_withdrawal")
PAGE_KEYS = ("title", "body", "video")
# The lengths of the database columns these fields go to.
LENGTHS = {"title": 200, "protocol_number": 100, "ethics_approval_number": 100, "arm.key": 32,
           "arm.name": 100, "cohort.name": 100, "cohort.site": 200, "page.title": 200,
           "page.video": 500, "strata_factors": 200}
ARM_KEY_RULE = "lowercase letters, digits and underscores, starting with a letter"


class StudyFileError(DomainError):
    """A study file that cannot make a study: ``problems`` holds one ``path: message`` each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = "one problem" if len(self.problems) == 1 else f"{len(self.problems)} problems"
        super().__init__(f"The study file has {count}: {'; '.join(self.problems)}")


class _Checker:
    """Collects ``path: message`` problems while reading a document."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path or 'the file'}: {message}")

    def mapping(self, value: Any, path: str, allowed: Sequence[str],
                required: Sequence[str] = ()) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping of {', '.join(allowed)}")
            return None
        for key in value:
            if key not in allowed:
                self.fail(_join(path, str(key)),
                          f"unknown key (allowed here: {', '.join(allowed)})")
        for key in required:
            if value.get(key) is None:
                self.fail(_join(path, key), "is required")
        return value

    def text(self, value: Any, path: str, *, required: bool = False,
             max_length: int | None = None) -> str:
        if value is None:
            if required:
                self.fail(path, "is required")
            return ""
        if not isinstance(value, str):
            self.fail(path, f"must be text, not {_kind(value)}")
            return ""
        if required and not value.strip():
            self.fail(path, "must not be empty")
        if max_length is not None and len(value) > max_length:
            self.fail(path, f"must be at most {max_length} characters (it has {len(value)})")
        if "\x00" in value:
            self.fail(path, "must not contain a NUL character")
        return value

    def whole(self, value: Any, path: str, *, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(path, f"must be a whole number from 1, not {_shown(value)}")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, not {_shown(value)}")
            return None
        return value

    def day(self, value: Any, path: str) -> date | None:
        if value is None:
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(path, f"must be a date written YYYY-MM-DD, not {_shown(value)}")
        return None

    def items(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"must be a list, not {_kind(value)}")
            return []
        return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, (str, int, float, bool)) or value is None \
        else _kind(value)


# --- reading ------------------------------------------------------------------------------


def parse(text: str, library: Library) -> StudySpec:
    """The :class:`StudySpec` a study file describes.

    Raises :class:`StudyFileError` listing every problem by its path. The analysis plan is
    checked against the study by :func:`create`, once the study it names outcomes of exists.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "the file"
        problem = getattr(error, "problem", None) or str(error)
        raise StudyFileError([f"{where}: not valid YAML ({problem})"]) from None
    check = _Checker()
    top = check.mapping(document, "", TOP_KEYS, REQUIRED_TOP) if document is not None else None
    if document is None:
        check.fail("the file", "is empty")
    if top is None:
        raise StudyFileError(check.problems)
    # Read in the order of the format, so that the problems come in the order of the file.
    slug = check.text(top.get("slug"), "slug", required=True)
    if slug and not SLUG_RE.fullmatch(slug):
        check.fail("slug", f"must be {SLUG_RULE}, not {slug!r}")
    title = check.text(top.get("title"), "title", required=True, max_length=LENGTHS["title"])
    description = check.text(top.get("description"), "description")
    protocol_number = check.text(top.get("protocol_number"), "protocol_number",
                                 max_length=LENGTHS["protocol_number"])
    ethics_number = check.text(top.get("ethics_approval_number"), "ethics_approval_number",
                               max_length=LENGTHS["ethics_approval_number"])
    arms = _arms(check, top.get("arms"))
    cohorts = _cohorts(check, top.get("cohorts"))
    instruments = _instruments(check, top.get("instruments"), library)
    block_sizes = _block_sizes(check, top.get("block_sizes"), arms)
    strata = _strata(check, top.get("strata_factors"), instruments.get("baseline", []), library)
    planned = check.whole(top.get("planned_sample_size"), "planned_sample_size", optional=True)
    schedule = _schedule(check, top.get("schedule"))
    consent = check.mapping(top.get("consent"), "consent", CONSENT_KEYS) \
        if top.get("consent") is not None else None
    consent_text = check.text((consent or {}).get("text"), "consent.text",
                              required=consent is not None)
    kept = (consent or {}).get("data_kept_on_withdrawal", True)
    check.boolean(kept, "consent.data_kept_on_withdrawal")
    pages = _pages(check, top.get("module_pages"))
    plan = top.get("analysis_plan")
    if plan is not None and not isinstance(plan, dict):
        check.fail("analysis_plan", f"must be a mapping (the plan document), not {_kind(plan)}")
    spec = StudySpec(
        slug=slug, title=title, description=description, protocol_number=protocol_number,
        ethics_approval_number=ethics_number, consent_text=consent_text,
        data_kept_on_withdrawal=bool(kept), arms=arms, cohorts=cohorts,
        # An empty follow-up list means no follow-up time point at all.
        instruments={name: list(chosen) for name, chosen in instruments.items() if chosen},
        block_sizes=block_sizes, strata_factors=",".join(strata), planned_sample_size=planned,
        module_pages=pages, analysis_plan=plan if isinstance(plan, dict) else None,
        analysis_plan_reason="Set from the study file.", **schedule)
    if check.problems:
        raise StudyFileError(check.problems)
    return spec


def _arms(check: _Checker, value: Any) -> list[ArmSpec]:
    arms: list[ArmSpec] = []
    raw = check.items(value, "arms")
    if isinstance(value, list) and len(raw) != 2:
        check.fail("arms", f"a study has exactly two arms, not {len(raw)}")
    kinds = [kind.value for kind in ArmKind]
    for number, entry in enumerate(raw):
        path = f"arms[{number}]"
        arm = check.mapping(entry, path, ARM_KEYS, ("key", "name", "kind"))
        if arm is None:
            continue
        key = check.text(arm.get("key"), f"{path}.key", max_length=LENGTHS["arm.key"])
        if key and not _is_arm_key(key):
            check.fail(f"{path}.key", f"must be {ARM_KEY_RULE}, not {key!r}")
        kind = arm.get("kind")
        if kind is not None and kind not in kinds:
            check.fail(f"{path}.kind", f"must be {' or '.join(kinds)}, not {_shown(kind)}")
        control = arm.get("control", False)
        check.boolean(control, f"{path}.control")
        ratio = check.whole(arm.get("ratio", 1), f"{path}.ratio")
        arms.append(ArmSpec(
            key=key,
            name=check.text(arm.get("name"), f"{path}.name", max_length=LENGTHS["arm.name"]),
            kind=ArmKind(kind) if kind in kinds else ArmKind.EDUCATION,
            is_control=control is True,
            description=check.text(arm.get("description"), f"{path}.description"),
            ratio=ratio or 1))
    if len(arms) == 2:
        if sum(arm.is_control for arm in arms) != 1:
            check.fail("arms", "exactly one arm must have control: true")
        if arms[0].key and arms[0].key == arms[1].key:
            check.fail("arms[1].key", f"{arms[1].key!r} is the key of arms[0] already")
        if {arm.kind for arm in arms} != set(ArmKind) and all(
                isinstance(a, dict) and a.get("kind") in kinds for a in raw):
            check.fail("arms", "one arm must be of kind education and the other of kind contact")
    return arms


def _is_arm_key(key: str) -> bool:
    return key[:1].isascii() and key[:1].isalpha() and key[:1].islower() and all(
        c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in key)


def _cohorts(check: _Checker, value: Any) -> list[CohortSpec]:
    cohorts: list[CohortSpec] = []
    seen: set[str] = set()
    for number, entry in enumerate(check.items(value, "cohorts")):
        path = f"cohorts[{number}]"
        cohort = check.mapping(entry, path, COHORT_KEYS, ("name",))
        if cohort is None:
            continue
        name = check.text(cohort.get("name"), f"{path}.name", max_length=LENGTHS["cohort.name"])
        if name and name in seen:
            check.fail(f"{path}.name", f"{name!r} names another cohort already")
        seen.add(name)
        starts = check.day(cohort.get("starts_on"), f"{path}.starts_on")
        ends = check.day(cohort.get("ends_on"), f"{path}.ends_on")
        if starts and ends and ends < starts:
            check.fail(f"{path}.ends_on", f"{ends} is before starts_on {starts}")
        cohorts.append(CohortSpec(
            name=name, site=check.text(cohort.get("site"), f"{path}.site",
                                       max_length=LENGTHS["cohort.site"]),
            starts_on=starts, ends_on=ends))
    return cohorts


def _instruments(check: _Checker, value: Any, library: Library
                 ) -> dict[str, list[tuple[str, str]]]:
    """Time point -> (id, version) pinned, each checked against the library."""
    chosen: dict[str, list[tuple[str, str]]] = {}
    if value is None:
        return chosen  # reported as required
    timepoints = check.mapping(value, "instruments", TIMEPOINTS, ("baseline", "post"))
    if timepoints is None:
        return chosen
    for name in TIMEPOINTS:
        if name not in timepoints:
            continue
        entries = check.items(timepoints[name], f"instruments.{name}")
        if not entries and timepoints[name] is not None and name != "followup":
            check.fail(f"instruments.{name}", "names no questionnaire")
        pinned: list[tuple[str, str]] = []
        for number, entry in enumerate(entries):
            path = f"instruments.{name}[{number}]"
            if isinstance(entry, str):
                instrument_id, version = entry, None
            else:
                choice = check.mapping(entry, path, INSTRUMENT_KEYS, ("id",))
                if choice is None:
                    continue
                instrument_id = check.text(choice.get("id"), f"{path}.id")
                raw_version = choice.get("version")
                if raw_version is not None and not isinstance(raw_version, (str, int, float)):
                    check.fail(f"{path}.version", f"must be a version such as \"1.0\", not "
                                                  f"{_kind(raw_version)}")
                    continue
                version = None if raw_version is None else str(raw_version)
            if not instrument_id:
                continue
            try:
                instrument = library.get(instrument_id, version)
            except LookupError as error:
                check.fail(path, str(error))
                continue
            if instrument.completed_by != "trainee":
                check.fail(path, f"{instrument.id} is completed by a {instrument.completed_by}, "
                                 "not by trainees")
            elif instrument.id in {i for i, _ in pinned}:
                check.fail(path, f"{instrument.id} is given at {name} already")
            else:
                pinned.append((instrument.id, instrument.version))
        chosen[name] = pinned
    return chosen


def _block_sizes(check: _Checker, value: Any, arms: list[ArmSpec]) -> str:
    if value is None:
        return "2,4,6"
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                       for v in value):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value)
    else:
        check.fail("block_sizes", f"must be a list of whole numbers such as [2, 4, 6], not "
                                  f"{_shown(value)}")
        return ""
    try:
        sizes = parse_block_sizes(text)
        if len(arms) == 2 and len({arm.key for arm in arms}) == 2:
            validate_block_sizes({arm.key: arm.ratio for arm in arms}, sizes)
    except ValueError as error:
        check.fail("block_sizes", str(error))
    return text


def _strata(check: _Checker, value: Any, baseline: list[tuple[str, str]],
            library: Library) -> list[str]:
    """Each factor a choice item of a baseline questionnaire (DESIGN §4)."""
    factors = check.items(value, "strata_factors")
    pinned = dict(baseline)
    names: list[str] = []
    for number, factor in enumerate(factors):
        path = f"strata_factors[{number}]"
        if not isinstance(factor, str) or not factor.strip():
            check.fail(path, "must be a baseline item written as questionnaire.item")
            continue
        instrument_id, _, item_key = factor.partition(".")
        if not item_key:
            check.fail(path, f"{factor!r} must be written as questionnaire.item, e.g. "
                             "background.profession")
        elif instrument_id not in pinned:
            check.fail(path, f"{instrument_id!r} is not a baseline questionnaire of this study")
        else:
            try:
                item = library.get(instrument_id, pinned[instrument_id]).item(item_key)
            except LookupError:
                check.fail(path, f"the questionnaire {instrument_id} has no item {item_key!r}")
                continue
            if item.contact or item.kind != "choice":
                check.fail(path, f"only a choice item can stratify allocation, and {item_key} "
                                 f"is {'contact data' if item.contact else 'of kind ' + item.kind}")
        if factor in names:
            check.fail(path, f"{factor!r} is named twice")
        names.append(factor)
    if len(",".join(names)) > LENGTHS["strata_factors"]:
        check.fail("strata_factors", f"must be at most {LENGTHS['strata_factors']} characters "
                                     "together")
    return names


def _schedule(check: _Checker, value: Any) -> dict[str, Any]:
    schedule = dict(SCHEDULE_DEFAULTS, post_window_days=None, followup_window_days=None)
    if value is None:
        return schedule
    given = check.mapping(value, "schedule", SCHEDULE_KEYS)
    for key in SCHEDULE_KEYS:
        if given is not None and key in given:
            schedule[key] = check.whole(given[key], f"schedule.{key}",
                                        optional=key not in SCHEDULE_DEFAULTS)
    return schedule


def _pages(check: _Checker, value: Any) -> list[tuple[str, str, str | None]]:
    pages: list[tuple[str, str, str | None]] = []
    for number, entry in enumerate(check.items(value, "module_pages")):
        path = f"module_pages[{number}]"
        page = check.mapping(entry, path, PAGE_KEYS)
        if page is None:
            continue
        video = page.get("video")
        if video is not None:
            video = check.text(video, f"{path}.video", max_length=LENGTHS["page.video"])
            if video and not is_web_link(video):
                check.fail(f"{path}.video", f"must be a web address starting with http:// or "
                                            f"https://, not {video!r}")
        pages.append((check.text(page.get("title"), f"{path}.title", required=True,
                                 max_length=LENGTHS["page.title"]),
                      check.text(page.get("body"), f"{path}.body", required=True),
                      video or None))
    return pages


def create(session: Session, text: str, library: Library, *, actor: str) -> Study:
    """The draft study ``text`` describes, with its module pages and analysis plan; audited.

    Raises :class:`StudyFileError` with every problem (the plan's as ``analysis_plan: …``); the
    caller then rolls back, so nothing of the study is kept.
    """
    spec = parse(text, library)
    if session.scalars(select(Study.id).where(Study.slug == spec.slug)).first() is not None:
        raise StudyFileError([f"slug: a study with the slug {spec.slug!r} exists already"])
    try:
        study = create_study(session, spec, library, actor=actor)
    except sap.PlanError as error:
        raise StudyFileError([f"analysis_plan: {problem}" for problem in error.problems]
                             ) from None
    except DomainError as error:
        raise StudyFileError([f"the file: {error}"]) from None
    return study


# --- writing ------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style throughout; text of several lines as a literal block, as a person writes it."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    # Numbers and short names on one line ([2, 4, 6]); anything longer one entry a line.
    flow = bool(value) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(list, _list)


def _ordered_plan(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's keys in the order DESIGN §6 lists them, nested mappings sorted (stable output)."""
    def tidy(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: tidy(value[key]) for key in sorted(value)}
        return value

    known = [key for key in sap.PLAN_KEYS if key in plan]
    return {key: tidy(plan[key]) for key in [*known, *sorted(set(plan) - set(known))]}


def document(session: Session, study: Study) -> dict[str, Any]:
    """The study file of ``study`` as a mapping (what :func:`dump` writes)."""
    spec = spec_of(session, study)
    result: dict[str, Any] = {
        "slug": spec.slug, "title": spec.title, "description": spec.description,
        "protocol_number": spec.protocol_number,
        "ethics_approval_number": spec.ethics_approval_number,
        "arms": [{"key": a.key, "name": a.name, "kind": a.kind.value, "control": a.is_control,
                  "ratio": a.ratio, "description": a.description} for a in spec.arm_specs()],
        "cohorts": [_without_none({"name": c.name, "site": c.site or None,
                                   "starts_on": c.starts_on, "ends_on": c.ends_on})
                    for c in spec.cohort_specs()],
        "instruments": {name: [{"id": i, "version": v} for i, v in _pairs(choices)]
                        for name, choices in spec.instruments.items()},
        "block_sizes": list(parse_block_sizes(spec.block_sizes)) if _parses(spec.block_sizes)
        else spec.block_sizes,
        "strata_factors": [f for f in spec.strata_factors.split(",") if f.strip()],
        "planned_sample_size": spec.planned_sample_size,
        "schedule": {key: getattr(spec, key) for key in SCHEDULE_KEYS},
        "consent": {"text": spec.consent_text,
                    "data_kept_on_withdrawal": spec.data_kept_on_withdrawal},
        "module_pages": [_without_none({"title": t, "body": b, "video": v})
                         for t, b, v in spec.module_pages],
    }
    if spec.analysis_plan is not None:
        result["analysis_plan"] = _ordered_plan(spec.analysis_plan)
    return result


def dump(study: Study) -> str:
    """``study`` as a study file (YAML) that :func:`create` reads back into the same design."""
    session = object_session(study)
    assert session is not None, "a study read from the database"
    header = (f"# Allport study file of {study.slug!r} (docs/study-file.example.yaml explains "
              "every field).\n# Change the slug, then: flask --app app study create FILE\n")
    return header + yaml.dump(document(session, study), Dumper=_Dumper, sort_keys=False,
                              allow_unicode=True, default_flow_style=False, width=100)


def _without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _pairs(choices: Sequence[Any]) -> list[tuple[str, str]]:
    return [choice for choice in choices if isinstance(choice, tuple)]


def _parses(block_sizes: str) -> bool:
    try:
        parse_block_sizes(block_sizes)
    except ValueError:
        return False
    return True

