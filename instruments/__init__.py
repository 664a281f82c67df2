"""Instruments: versioned definitions, scoring, reliability, REDCap data dictionaries, codebooks.

Pure Python: nothing here imports Flask or the web layer. The web layer and the CLI load a
:class:`Library` once and pass :class:`Instrument` objects around as plain data.
"""

from instruments.definition import dump_definition, load_definition, parse_definition
from instruments.errors import AnswerError, DefinitionError
from instruments.library import (
    Library,
    bundled_dir,
    load_library,
    load_site_library,
    site_wording_dir,
)
from instruments.model import Choice, Instrument, Item, ScaleDef
from instruments.scoring import ScaleScore, check_answers, parse_answers, score
from instruments.wording import apply_wording, missing_wording, read_wording_csv, write_wording

__all__ = [
    "AnswerError",
    "Choice",
    "DefinitionError",
    "Instrument",
    "Item",
    "Library",
    "ScaleDef",
    "ScaleScore",
    "apply_wording",
    "bundled_dir",
    "check_answers",
    "dump_definition",
    "load_definition",
    "load_library",
    "load_site_library",
    "missing_wording",
    "parse_answers",
    "parse_definition",
    "read_wording_csv",
    "score",
    "site_wording_dir",
    "write_wording",
]
