"""``flask analyze`` analyses a CSV without building the app (issue 14 item 6)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner
from flask.cli import ScriptInfo

from analysis import analyze, load_long_csv
from study.cli_analyze import analyze_command

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "tests" / "analysis" / "data" / "balanced.csv"


def _no_app() -> None:
    raise AssertionError("the app was built for a CSV")


def test_a_csv_is_analysed_without_building_the_app(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = CliRunner().invoke(analyze_command, [str(CSV), "--json", str(out)],
                                obj=ScriptInfo(create_app=_no_app), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = analyze(load_long_csv(CSV), control_arm="education")
    assert json.loads(out.read_text()) == {**expected, "sap": None}
    assert result.output.startswith(f"Wrote {out} ({len(expected['outcomes'])} outcomes")


def test_bad_csv_input_is_one_line_without_the_app(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = CliRunner().invoke(analyze_command, [str(CSV), "--control", "placebo", "--json",
                                                  str(out)], obj=ScriptInfo(create_app=_no_app))
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1
    assert "placebo" in result.output
    assert not out.exists()


def test_the_command_module_imports_neither_the_app_nor_the_statistics() -> None:
    code = ("import sys, study.cli_analyze; "
            "print(sorted(m for m in ('flask_sqlalchemy_lite', 'sqlalchemy', 'study.web', "
            "'instruments', 'pandas', 'scipy', 'matplotlib') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    assert loaded == "[]"


def test_flask_finds_the_command_as_a_plugin() -> None:
    """The entry point that lets ``flask`` run the command before (and without) loading the app."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plugins = project["entry-points"]["flask.commands"]
    module, _, name = plugins["analyze"].partition(":")
    assert getattr(importlib.import_module(module), name) is analyze_command
