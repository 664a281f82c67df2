"""Licensed wording: supplied by a site, validated, merged by the loader."""

import io

import pytest

from instruments import (
    DefinitionError,
    load_library,
    missing_wording,
    read_wording_csv,
    write_wording,
)

OMS_KEYS = [f"omshc_{n:02d}" for n in (1, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 17, 18, 19, 20)]


def csv_text(rows):
    return "key,text\n" + "".join(f'{key},"{text}"\n' for key, text in rows)


def full_wording():
    # placeholders: the real wording is licensed and never stored in this repository
    return {key: f"Statement {key[-2:]}, as licensed." for key in OMS_KEYS}


def test_licensed_keys_ship_without_wording(library):
    assert missing_wording(library.get("oms-hc-15")) == OMS_KEYS
    assert missing_wording(library.get("ribs")) == [f"ribs_{n}" for n in range(1, 9)]
    assert not library.get("oms-hc-15").has_wording
    for instrument_id in ("intergroup-anxiety", "allport-stigma", "background", "session-fidelity"):
        assert missing_wording(library.get(instrument_id)) == []
        assert library.get(instrument_id).has_wording


def test_supplied_wording_is_stored_and_merged(library, tmp_path):
    oms = library.get("oms-hc-15")
    wording = full_wording() | {"_instructions": "Please rate each statement."}
    path = write_wording(oms, wording, tmp_path / "wording")
    assert path.name == "oms-hc-15@1.0.csv"
    site = load_library(wording_dir=tmp_path / "wording")
    merged = site.get("oms-hc-15")
    assert merged.has_wording and missing_wording(merged) == []
    assert merged.item("omshc_03").text == "Statement 03, as licensed."
    assert merged.instructions == "Please rate each statement."
    assert merged.fingerprint == oms.fingerprint  # the definition itself is unchanged
    assert merged.item("omshc_03").reverse  # scoring key untouched
    assert not site.get("ribs").has_wording


def test_a_missing_wording_folder_is_fine(tmp_path):
    assert not load_library(wording_dir=tmp_path / "nowhere").get("oms-hc-15").has_wording


def test_reading_the_csv_accepts_excel_bom_and_any_column_order(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes("\ufeffText,Key\nFirst,omshc_01\n\n".encode())
    assert read_wording_csv(path) == {"omshc_01": "First"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: w.pop("omshc_19"), "item 'omshc_19': wording for oms-hc-15 1.0 is missing"),
        (lambda w: [w.pop("omshc_19"), w.pop("omshc_20")],
         "item 'omshc_19': wording for oms-hc-15 1.0 is missing and 1 more"),
        (lambda w: w.update(omshc_02="Dropped item"),
         "item 'omshc_02': is not an item of oms-hc-15 1.0"),
    ],
)  # fmt: skip
def test_supplied_wording_must_fit_the_version_exactly(library, tmp_path, change, message):
    wording = full_wording()
    change(wording)
    with pytest.raises(DefinitionError) as caught:
        write_wording(library.get("oms-hc-15"), wording, tmp_path)
    assert str(caught.value) == f"{tmp_path / 'oms-hc-15@1.0.csv'}: {message}"
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_bundled_wording_cannot_be_overridden(library, tmp_path):
    stigma = library.get("allport-stigma")
    with pytest.raises(DefinitionError, match="has bundled wording.*needs a new version"):
        write_wording(stigma, {"ats_01": "Something else"}, tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the CSV is empty"),
        ("item,wording\nomshc_01,x\n", "the header must name columns key and text"),
        ("key,text\nomshc_01,\n", "item 'omshc_01': line 2: the text is empty"),
        ("key,text\n,Some text\n", "line 2: the key is empty"),
        ("key,text\nomshc_01,a\nomshc_01,b\n", "item 'omshc_01': appears twice"),
    ],
)
def test_malformed_csv(text, message):
    with pytest.raises(DefinitionError, match=message):
        read_wording_csv(io.StringIO(text), "w.csv")


def test_the_loader_rejects_a_stale_or_hand_edited_wording_file(library, tmp_path):
    (tmp_path / "oms-hc-15@9.0.csv").write_text(csv_text([("omshc_01", "x")]))
    with pytest.raises(DefinitionError, match="not in the library"):
        load_library(wording_dir=tmp_path)
    (tmp_path / "oms-hc-15@9.0.csv").unlink()
    (tmp_path / "ribs@1.0.csv").write_text(csv_text([("ribs_1", "x")]))
    with pytest.raises(DefinitionError, match="item 'ribs_2': wording for ribs 1.0 is missing"):
        load_library(wording_dir=tmp_path)
