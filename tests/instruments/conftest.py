"""Fixtures for the instrument tests."""

import sys
from pathlib import Path

import pytest

# The tests must run from a checkout whether or not the project is installed in the venv
# (`.venv/bin/pytest` does not put the working directory on sys.path).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from instruments import load_library  # noqa: E402


@pytest.fixture(scope="session")
def library():
    return load_library()
