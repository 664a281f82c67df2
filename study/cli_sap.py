"""``flask --app app sap show|set``: a study's statistical analysis plan from the command line.

``show`` prints the current plan with its version, hash and freezing time, and every version;
``set`` reads a JSON or YAML document and sets the draft (before recruitment opens) or adds a
frozen version with a reason (after). Misuse ends in one readable line and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml
from flask.cli import AppGroup

from study.cli import commit_or_explain, database_command, explained, fail
from study.extensions import db
from study.extensions import instrument_library as library
from study.services import sap
from study.services.studies import get_study

sap_cli = AppGroup("sap", help="The statistical analysis plan of a study (DESIGN §6).")


def read_plan_file(path: Path) -> Any:
    """The document in ``path``: JSON for ``.json``, else YAML (a superset of JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        fail(f"Cannot read {path}: {error.strerror}.")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text.")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as error:
        fail(f"{path} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).")
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        fail(f"{path} is not valid YAML{line}: {getattr(error, 'problem', None) or error}.")


@sap_cli.command("show")
@database_command
@click.argument("study_slug")
def show_command(study_slug: str) -> None:
    """Print STUDY's current plan and its versions as JSON."""
    with explained():
        study = get_study(db.session, study_slug)
    history = sap.plan_history(db.session, study)
    current = history[-1] if history else None
    click.echo(json.dumps({
        "study": study.slug,
        "current": None if current is None else {
            **sap.summary(current).as_dict(), "plan": current.plan},
        "versions": [{**sap.summary(v).as_dict(), "reason": v.reason,
                      "created_at": v.created_at.isoformat(), "created_by": v.created_by}
                     for v in history],
    }, indent=2, ensure_ascii=False))


@sap_cli.command("set")
@database_command
@click.argument("study_slug")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reason", default="",
              help="Why the plan changes (required once recruitment has opened).")
def set_command(study_slug: str, plan_file: Path, reason: str) -> None:
    """Set STUDY's plan from a JSON or YAML file: the draft, or a new version once open."""
    with explained():
        study = get_study(db.session, study_slug)
    plan = read_plan_file(plan_file)
    with commit_or_explain():
        version = sap.set_plan(db.session, study, library(), plan, reason=reason, actor="cli")
    state = (f"frozen {version.frozen_at.isoformat()}" if version.frozen_at is not None
             else "a draft until recruitment opens")
    click.echo(f"Analysis plan of {study.slug}: version {version.version} ({state}), "
               f"SHA-256 {version.sha256}.")
