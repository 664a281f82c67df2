"""Wide CSV, codebook, SPSS and Stata files: content, labels, de-identification, audit."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from sqlalchemy import select

from study.extensions import db
from study.models import AuditEvent, Participant, ParticipantContact
from study.services import statistical_exports
from study.services.exports import rows_for
from tests.helpers import Demo

pytestmark = pytest.mark.usefixtures("app_context")


def export(demo: Demo, name: str) -> statistical_exports.ExportFile:
    exported = statistical_exports.export_file(db.session, demo.study(), demo.library, name,
                                               actor="user:1")
    db.session.commit()
    return exported


def read_csv(exported: statistical_exports.ExportFile) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(exported.body.decode("utf-8"))))


def read_stat(exported: statistical_exports.ExportFile, tmp_path: Path) -> tuple[pd.DataFrame, Any]:
    path = tmp_path / exported.filename
    path.write_bytes(exported.body)
    reader = pyreadstat.read_sav if path.suffix == ".sav" else pyreadstat.read_dta
    return reader(str(path))


def test_wide_csv_has_one_row_per_participant_with_pre_and_post_columns(
        simulated_demo: Demo) -> None:
    rows = read_csv(export(simulated_demo, "wide.csv"))
    assert len(rows) == simulated_demo.trainees
    assert len({row["participant"] for row in rows}) == simulated_demo.trainees
    header = list(rows[0])
    assert header[:4] == ["participant", "arm", "cohort", "per_protocol"]
    for column in ("intergroup-anxiety.total_pre", "intergroup-anxiety.total_post",
                   "allport-stigma.social_distance_pre", "allport-stigma.ats_01_post",
                   "background.profession_pre"):
        assert column in header
    assert "background.profession_post" not in header  # given at baseline only
    # The same numbers as the long scores export.
    _, scores = rows_for(db.session, simulated_demo.study(), "scores", simulated_demo.library)
    by_key = {(row["participant"], row["time"], f"{row['instrument']}.{row['scale']}"):
              row["score"] for row in scores}
    for row in rows:
        for time in ("pre", "post"):
            value = row[f"allport-stigma.total_{time}"]
            expected = by_key.get((row["participant"], time, "allport-stigma.total"), "")
            assert value == ("" if expected == "" else str(expected))
    assert {row["arm"] for row in rows} == {"arm_a", "arm_b"}


def test_exports_carry_codes_only_and_keep_the_blind(simulated_demo: Demo) -> None:
    participant = db.session.scalars(select(Participant)).first()
    assert participant is not None
    db.session.merge(ParticipantContact(participant_id=participant.id,
                                        email="trainee@example.org"))
    db.session.commit()
    for name in statistical_exports.FORMATS:
        body = export(simulated_demo, name).body
        assert b"trainee@example.org" not in body and b"example.org" not in body, name
        # Neither arm's name appears anywhere while the study is blinded.
        assert b"education" not in body.lower() and b"peer specialist" not in body.lower(), name


def test_the_codebook_describes_every_column_of_the_wide_csv(simulated_demo: Demo) -> None:
    header = list(read_csv(export(simulated_demo, "wide.csv"))[0])
    book = {row["variable"]: row for row in read_csv(export(simulated_demo, "codebook.csv"))}
    assert list(book) == header
    scale = book["allport-stigma.total_post"]
    assert scale["role"] == "scale" and scale["time"] == "post" and scale["version"] == "1.0"
    assert scale["direction"] == "higher = more stigma" and scale["range"] == "15-75"
    assert "sum of 15 items" in scale["scoring"]
    item = book["allport-stigma.ats_02_pre"]
    assert item["reverse"] == "yes" and "1 = Strongly disagree" in item["values"]
    profession = book["background.profession_pre"]
    assert profession["spss_stata_values"].startswith("1 = medicine (Medicine)")
    assert book["arm"]["values"] == "arm_a = Arm A; arm_b = Arm B"
    assert all(len(row["spss_stata_name"]) <= 32 for row in book.values())
    assert len({row["spss_stata_name"].lower() for row in book.values()}) == len(book)


@pytest.mark.parametrize("name", ["wide.sav", "wide.dta"])
def test_wide_spss_and_stata_files_round_trip_with_labels(simulated_demo: Demo, tmp_path: Path,
                                                          name: str) -> None:
    wide = read_csv(export(simulated_demo, "wide.csv"))
    data, meta = read_stat(export(simulated_demo, name), tmp_path)
    assert len(data) == simulated_demo.trainees
    labels = meta.column_names_to_labels
    assert labels["arm"].startswith("Arm allocated")
    assert labels["intergroup_anxiety_total_pre"] == (
        "intergroup-anxiety.total_pre: Intergroup anxiety (mean of 12 items)")
    assert labels["ats_01_post"].startswith("allport-stigma.ats_01_post: People with a mental")
    values = meta.variable_value_labels
    assert values["arm"] == {1: "Arm A", 2: "Arm B"}
    assert values["per_protocol"] == {0: "No", 1: "Yes"}
    assert values["ats_01_pre"][1] == "Strongly disagree"
    assert values["ats_01_pre"][5] == "Strongly agree"
    assert values["profession_pre"][1] == "Medicine"
    # Values survive the trip: text options become their codes, scores stay numbers.
    by_code = {row["participant"]: row for row in wide}
    professions = ["medicine", "nursing", "social_work", "pharmacy", "psychology", "other"]
    for _, row in data.iterrows():
        source = by_code[row["participant"]]
        assert row["arm"] == {"arm_a": 1, "arm_b": 2}[source["arm"]]
        assert row["profession_pre"] == professions.index(source["background.profession_pre"]) + 1
        post = source["intergroup-anxiety.total_post"]
        if post:
            assert row["intergroup_anxiety_total_post"] == pytest.approx(float(post), rel=1e-12)
        else:
            assert row["intergroup_anxiety_total_post"] != row["intergroup_anxiety_total_post"]


@pytest.mark.parametrize("name", ["long.sav", "long.dta"])
def test_long_files_have_one_row_per_participant_and_time(simulated_demo: Demo, tmp_path: Path,
                                                          name: str) -> None:
    data, meta = read_stat(export(simulated_demo, name), tmp_path)
    assert not data.duplicated(["participant", "time"]).any()
    assert set(data["time"]) == {1, 2}
    assert meta.variable_value_labels["time"][1].startswith("pre")
    assert meta.variable_value_labels["time"][2].startswith("post")
    assert meta.column_names_to_labels["allport_stigma_total"] == (
        "allport-stigma.total: Trainee stigma (sum of 15 items)")
    assert set(data.columns) >= {"participant", "arm", "time", "ia_apprehensive", "ats_15"}
    if name.endswith(".sav"):
        assert meta.variable_measure["arm"] == "nominal"
        assert meta.variable_measure["ats_01"] == "ordinal"
        assert meta.variable_measure["allport_stigma_total"] == "scale"


def test_names_fit_stata_and_spss() -> None:
    names = statistical_exports._Names()
    made = [names(["allport-stigma_social_distance", "as_social_distance"], "_post"),
            names(["allport-stigma_social_distance", "as_social_distance"], "_post"),
            names(["a" * 40], "_pre"), names(["in"]), names(["1st"])]
    # Too long in full, so the instrument's initials; taken, so a shortened name with a hash.
    assert made[0] == "as_social_distance_post"
    assert made[1].startswith("allport_stigma_social_") and made[1].endswith("_post")
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", name) for name in made)
    assert len(set(made)) == len(made)
    assert made[3] != "in" and made[4].startswith("v_")


def test_withdrawn_data_stay_out_of_every_file(simulated_demo: Demo, tmp_path: Path) -> None:
    gone = db.session.scalars(select(Participant).order_by(Participant.code)).first()
    assert gone is not None
    gone.data_withdrawn = True
    db.session.commit()
    for name in statistical_exports.FORMATS:
        if name != "codebook.csv":
            assert gone.code.encode() not in export(simulated_demo, name).body, name


def test_every_download_is_audited(simulated_demo: Demo) -> None:
    for name in statistical_exports.EXPORTS:
        exported = export(simulated_demo, name)
        assert exported.filename == f"demo-{name}"
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")))
    assert len(events) == len(statistical_exports.EXPORTS)
    assert {(e.details["table"], e.details.get("format", "csv")) for e in events} == {
        tuple(name.split(".")) for name in statistical_exports.EXPORTS}
    assert all(e.actor == "user:1" for e in events)


def test_an_unknown_export_is_not_found(simulated_demo: Demo) -> None:
    with pytest.raises(statistical_exports.UnknownExport):
        export(simulated_demo, "emails.csv")


def test_unblinded_files_name_the_arms(simulated_demo: Demo, tmp_path: Path) -> None:
    simulated_demo.study().blinded = False
    db.session.commit()
    wide = read_csv(export(simulated_demo, "wide.csv"))
    assert {row["arm"] for row in wide} == {"contact", "education"}
    _, meta = read_stat(export(simulated_demo, "wide.sav"), tmp_path)
    assert set(meta.variable_value_labels["arm"].values()) == {
        "Contact session with a peer specialist", "Education module"}
