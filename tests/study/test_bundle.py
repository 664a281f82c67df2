"""The reproducibility bundle (DESIGN §12): its files, its CSV, and R recomputing the figures."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy import select

import analysis
from study.extensions import db
from study.models import AuditEvent, Cohort, Participant
from study.services import bundle, sap
from study.services.analysis_service import run_analysis
from tests.helpers import Demo, StaffClient
from tests.study.test_analysis_followup import add_followup


def files(data: bytes) -> dict[str, bytes]:
    """The zip's files by name, without the ``<slug>-bundle/`` folder."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """A nested JSON value as ``{"a.b": leaf}``, so that ``pytest.approx`` compares it."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items()
                for k, v in leaves(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for index, item in enumerate(value)
                for k, v in leaves(item, f"{path}.{index}").items()}
    return {path: value}


@pytest.fixture
def demo_bundle(simulated_demo: Demo) -> dict[str, bytes]:
    with simulated_demo.app.app_context():
        data = bundle.build_bundle(db.session, simulated_demo.study(), simulated_demo.library,
                                   actor="test")
        db.session.commit()
    return files(data)


def test_the_bundle_holds_every_file_and_records_the_download(
        simulated_demo: Demo, demo_bundle: dict[str, bytes]) -> None:
    assert sorted(demo_bundle) == sorted(bundle.FILES)
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        result = run_analysis(db.session, study, simulated_demo.library).result
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "export", AuditEvent.study_id == study.id)).all()
    assert json.loads(demo_bundle["analysis.json"])["outcomes"] == json.loads(
        json.dumps(result["outcomes"], default=str))
    plan = json.loads(demo_bundle["plan.json"])
    assert plan["version"] == result["sap"]["version"]
    assert plan["sha256"] == result["sap"]["sha256"] and plan["plan"]["primary_outcome"]
    assert demo_bundle["reproduce.R"].startswith(b"# Recompute")
    assert demo_bundle["codebook.csv"] and demo_bundle["wide.csv"].count(b"\n") > 1
    readme = demo_bundle["README.txt"].decode()
    assert all(name in readme for name in bundle.FILES if name != "README.txt")
    assert {event.details.get("table") for event in events} >= {"bundle", "wide", "codebook"}


def read_long(contents: dict[str, bytes]) -> pd.DataFrame:
    """long.csv with the classes of long_codebook.csv, as the README tells R users to read it."""
    codebook = pd.read_csv(io.BytesIO(contents["long_codebook.csv"]), dtype=str)
    dtypes = {row.variable: "float64" if row["class"] == "numeric" else "object"
              for _, row in codebook.iterrows()}
    return pd.read_csv(io.BytesIO(contents["long.csv"]), dtype=dtypes, keep_default_na=False,
                       na_values=[""])


def test_the_long_csv_gives_the_same_figures_through_analyze(
        simulated_demo: Demo, demo_bundle: dict[str, bytes]) -> None:
    result = json.loads(demo_bundle["analysis.json"])
    frame = read_long(demo_bundle)
    assert list(frame.columns[:3]) == ["participant", "arm", "time"]
    assert set(result["outcomes"]) <= set(frame.columns)
    again = analysis.analyze(frame, outcomes=list(result["outcomes"]),
                             control_arm=result["control_arm"],
                             primary=result["primary_outcome"],
                             holm_family=result["multiplicity"]["family"],
                             covariates=result["outcomes"][result["primary_outcome"]]["ancova"][
                                 "covariates"],
                             mi=None, primary_time=result["primary_time"])
    for name, entry in result["outcomes"].items():
        for key in ("mixed_anova", "ancova", "hedges_g_post", "lmm", "change_welch"):
            expected = leaves(entry[key])
            got = leaves(json.loads(json.dumps(again["outcomes"][name][key], default=str)))
            assert got == pytest.approx(expected, rel=1e-9), (name, key)


def test_the_blinded_bundle_names_no_real_arm(
        simulated_demo: Demo, demo_bundle: dict[str, bytes]) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        assert study.blinded
        arm_names = [(arm.key, arm.name) for arm in study.arms]
    # The codebook and the wide CSV carry the questionnaires' wording ("the closest contact you
    # have had…"): there, the arm column is what could name an arm.
    text = " ".join(demo_bundle[name].decode()
                    for name in ("README.txt", "long.csv", "analysis.json", "plan.json"))
    assert "arm_a" in text and "arm_b" in text
    # "Prior contact" is a background item (contact with people with lived experience), not an arm.
    unrelated = re.sub(r"prior[\s_]+contact", "", text, flags=re.IGNORECASE)
    wide = pd.read_csv(io.BytesIO(demo_bundle["wide.csv"]))
    codebook = pd.read_csv(io.BytesIO(demo_bundle["codebook.csv"]), dtype=str).fillna("")
    arm_rows = " ".join(" ".join(row) for row in codebook.values if row[0] == "arm")
    assert set(wide["arm"].dropna()) <= {"arm_a", "arm_b"} and "arm_a" in arm_rows
    for key, name in arm_names:
        assert key not in unrelated.lower() and name not in unrelated
        assert key not in arm_rows.lower() and name not in arm_rows


def reproduce(contents: dict[str, bytes], folder: Path) -> subprocess.CompletedProcess[str]:
    """``Rscript reproduce.R`` run in ``folder`` holding the bundle's files."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript is not installed (.ci/run installs R from Debian)")
    for name, body in contents.items():
        (folder / name).write_bytes(body)
    return subprocess.run([rscript, "reproduce.R"], cwd=folder, capture_output=True, text=True,
                          timeout=300, check=False)


# The figures reproduce.R compares per outcome: pre/post n_complete 2, mixed ANOVA 3 x 6,
# ANCOVA n 2 + arm 5 + adjusted difference 4, Hedges' g 3, mixed model 5 + 4;
PRE_POST_FIGURES = 2 + 18 + 11 + 3 + 9
# follow-up: n_complete 2, mixed ANOVA 6 + 8 + 8 (GG epsilon and p), ANCOVA 11, mixed model
# 5 + 5 + 4.
FOLLOWUP_FIGURES = 2 + 22 + 11 + 14


def agreement(done: subprocess.CompletedProcess[str], result: dict[str, Any]) -> int:
    """How many figures R compared, after checking that it compared every outcome and agreed."""
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.search(r"Compared (\d+) figures of (\d+) outcomes.*: (\d+) disagreement",
                        done.stdout)
    assert summary, done.stdout
    figures, outcomes, disagreements = map(int, summary.groups())
    assert outcomes == len({result["primary_outcome"], *result["multiplicity"]["family"]})
    assert disagreements == 0 and "not compared" not in done.stdout, done.stdout
    return figures // outcomes


def test_reproduce_r_recomputes_the_figures_of_the_json(
        demo_bundle: dict[str, bytes], tmp_path: Path) -> None:
    done = reproduce(demo_bundle, tmp_path)
    assert agreement(done, json.loads(demo_bundle["analysis.json"])) == PRE_POST_FIGURES
    assert "with follow-up" not in done.stdout and " followup." not in done.stdout
    for figure in ("mixed_anova.interaction.F", "ancova.arm.F", "hedges_g_post.estimate",
                   "lmm.interaction.estimate"):
        assert f" {figure} " in done.stdout


def test_reproduce_r_recomputes_the_followup_figures(
        simulated_demo: Demo, tmp_path: Path) -> None:
    """With follow-up rows: the 2 x 3 mixed ANOVA with GG, the follow-up ANCOVA, the LMM terms."""
    with simulated_demo.app.app_context():
        add_followup(simulated_demo)
        contents = files(bundle.build_bundle(db.session, simulated_demo.study(),
                                             simulated_demo.library, actor="test"))
        db.session.rollback()
    result = json.loads(contents["analysis.json"])
    primary = result["outcomes"][result["primary_outcome"]]["followup"]
    assert "error" not in primary and "p_gg" in primary["mixed_anova"]["interaction"]
    done = reproduce(contents, tmp_path)
    assert "(with follow-up)" in done.stdout
    assert agreement(done, result) == PRE_POST_FIGURES + FOLLOWUP_FIGURES
    for figure in ("followup.mixed_anova.interaction.p_gg", "followup.mixed_anova.time.gg_epsilon",
                   "followup.ancova.adjusted_difference.ci_low", "followup.ancova.arm.F",
                   "followup.lmm.interaction_post.estimate",
                   "followup.lmm.interaction_followup.p"):
        assert f" {figure} " in done.stdout


def test_reproduce_r_reads_codes_that_look_like_numbers_as_categories(
        simulated_demo: Demo, tmp_path: Path) -> None:
    """Cohorts named "1", "2", "3" are three levels in the engine, so in R too (not a slope)."""
    with simulated_demo.app.app_context():
        study, library = simulated_demo.study(), simulated_demo.library
        first = study.cohorts[0]
        first.name = "1"
        cohorts = [first] + [Cohort(study_id=study.id, name=name) for name in ("2", "3")]
        db.session.add_all(cohorts[1:])
        db.session.flush()
        participants = db.session.scalars(select(Participant).where(
            Participant.study_id == study.id).order_by(Participant.code)).all()
        for index, participant in enumerate(participants):
            participant.cohort_id = cohorts[index % 3].id
        plan = sap.current_plan(db.session, study)
        assert plan is not None
        covariates = ["cohort", "background.training_year"]
        sap.set_plan(db.session, study, library, {**plan.plan, "covariates": covariates},
                     reason="adjust for cohort", actor="test")
        db.session.commit()
        add_followup(simulated_demo)
        contents = files(bundle.build_bundle(db.session, study, library, actor="test"))
        db.session.rollback()
    classes = pd.read_csv(io.BytesIO(contents["long_codebook.csv"]), dtype=str).set_index(
        "variable")["class"]
    assert classes["cohort"] == "character"
    assert classes["background.training_year"] == "numeric"
    assert classes["participant"] == "character"
    assert set(read_long(contents)["cohort"].dropna()) == {"1", "2", "3"}
    result = json.loads(contents["analysis.json"])
    entry = result["outcomes"][result["primary_outcome"]]
    assert entry["ancova"]["covariates"] == covariates
    assert entry["followup"]["ancova"]["covariates"] == covariates
    done = reproduce(contents, tmp_path)
    assert agreement(done, result) == PRE_POST_FIGURES + FOLLOWUP_FIGURES


def test_a_disagreement_makes_reproduce_r_fail(
        demo_bundle: dict[str, bytes], tmp_path: Path) -> None:
    result = json.loads(demo_bundle["analysis.json"])
    result["outcomes"][result["primary_outcome"]]["ancova"]["arm"]["F"] *= 1.001
    done = reproduce({**demo_bundle, "analysis.json": json.dumps(result).encode()}, tmp_path)
    assert done.returncode == 1 and ": 1 disagreement" in done.stdout, done.stdout + done.stderr


def test_reproduce_r_adjusts_for_the_plan_covariates(
        simulated_demo: Demo, tmp_path: Path) -> None:
    """A categorical (profession) and a numeric (training year) covariate in every ANCOVA."""
    covariates = ["background.profession", "background.training_year"]
    with simulated_demo.app.app_context():
        study, library = simulated_demo.study(), simulated_demo.library
        plan = sap.current_plan(db.session, study)
        assert plan is not None
        sap.set_plan(db.session, study, library, {**plan.plan, "covariates": covariates},
                     reason="adjust", actor="test")
        contents = files(bundle.build_bundle(db.session, study, library, actor="test"))
        db.session.rollback()
    result = json.loads(contents["analysis.json"])
    assert result["outcomes"][result["primary_outcome"]]["ancova"]["covariates"] == covariates
    assert covariates == pd.read_csv(io.BytesIO(contents["long.csv"])).columns[-2:].tolist()
    done = reproduce(contents, tmp_path)
    assert agreement(done, result) == PRE_POST_FIGURES


def test_report_command_writes_the_bundle_beside_the_pdf(
        simulated_demo: Demo, tmp_path: Path) -> None:
    runner = simulated_demo.app.test_cli_runner()
    out, zipped = tmp_path / "report.pdf", tmp_path / "bundle.zip"
    done = runner.invoke(args=["report", "demo", "--out", str(out), "--bundle", str(zipped)])
    assert done.exit_code == 0, done.output
    assert out.read_bytes().startswith(b"%PDF")
    assert sorted(files(zipped.read_bytes())) == sorted(bundle.FILES)
    assert str(zipped) in done.output


def test_researchers_download_the_bundle_coordinators_do_not(
        app: Flask, simulated_demo: Demo, staff_client: StaffClient) -> None:
    researcher = staff_client("researcher")
    overview = researcher.get("/researcher/demo/").get_data(as_text=True)
    assert "/researcher/demo/bundle.zip" in overview
    token = re.search(r'name="csrf_token" value="([^"]+)"', overview)
    assert token
    response = researcher.post("/researcher/demo/bundle.zip",
                               data={"csrf_token": token.group(1)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/zip"
    assert sorted(files(response.data)) == sorted(bundle.FILES)
    assert staff_client("coordinator").post("/researcher/demo/bundle.zip").status_code in (
        400, 403)
