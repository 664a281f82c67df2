"""The instrument layer's imports: no web layer, and no cycle hidden behind a deferred import."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_instruments_import_nothing_from_flask_wtforms_or_the_web_layer():
    for path in sorted((ROOT / "instruments").glob("*.py")):
        roots = {name.split(".")[0] for name in _imported_modules(path)}
        assert not roots & {"flask", "flask_wtf", "wtforms", "study"}, path.name


def test_the_model_depends_on_no_other_instrument_module():
    imported = _imported_modules(ROOT / "instruments" / "model.py")
    assert not {name for name in imported if name.startswith("instruments")}


def test_every_instrument_module_imports_on_its_own():
    for path in sorted((ROOT / "instruments").glob("*.py")):
        module = f"instruments.{path.stem}".removesuffix(".__init__")
        subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, check=True)
