"""Fixtures for the analysis tests: the committed datasets and the R reference values.

Datasets come from ``r/make_datasets.py`` (seeded); ``data/reference.json`` from ``r/reference.R``.
Neither script runs during the tests, so R is not needed to run them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from analysis import load_long_csv

DATA = Path(__file__).parent / "data"
DATASETS = ("balanced", "unbalanced", "small", "null", "ties")


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads((DATA / "reference.json").read_text())


@pytest.fixture
def dataset() -> Callable[[str], pd.DataFrame]:
    """Load a committed dataset by name (a fresh frame each call, safe to modify)."""

    def load(name: str) -> pd.DataFrame:
        return load_long_csv(DATA / f"{name}.csv")

    return load
