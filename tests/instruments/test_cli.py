"""``flask instruments …`` on a bare app, so the tests do not depend on the app factory."""

from pathlib import Path

import pytest
import yaml
from flask import Flask

from instruments import load_library
from instruments.redcap import import_redcap
from study.cli_instruments import instruments_cli

DICTIONARY = Path(__file__).parent / "data" / "redcap_dictionary.csv"
CLINICAL = Path(__file__).parent / "data" / "redcap_clinical.csv"
OMS_KEYS = [f"omshc_{n:02d}" for n in (1, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 17, 18, 19, 20)]


@pytest.fixture
def app(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.cli.add_command(instruments_cli)
    return app


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=["instruments", *map(str, args)])

    return invoke


def oms_wording_csv(path, keys=OMS_KEYS):
    path.write_text("key,text\n" + "".join(f"{k},Licensed statement {k}\n" for k in keys))
    return path


def test_list(run):
    result = run("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 6
    oms = next(line for line in lines if line.startswith("oms-hc-15"))
    assert "15 items" in oms and "WORDING MISSING for 15 items" in oms
    assert "total, attitudes, disclosure, social_distance" in oms
    assert "rater" in next(line for line in lines if line.startswith("session-fidelity"))


def test_supply_wording_then_list_and_load(run, app, tmp_path):
    result = run("supply-wording", "oms-hc-15", oms_wording_csv(tmp_path / "oms.csv"))
    assert result.exit_code == 0, result.output
    stored = tmp_path / "instance" / "wording" / "oms-hc-15@1.0.csv"
    assert f"in {stored}" in result.output
    listed = run("list").output.splitlines()
    assert "(wording complete)" in next(line for line in listed if line.startswith("oms-hc-15"))
    merged = load_library(wording_dir=stored.parent).get("oms-hc-15")
    assert merged.has_wording
    # supplying again (to correct a typo) replaces the file
    assert run("supply-wording", "oms-hc-15", tmp_path / "oms.csv").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("supply-wording", "omshc", "{csv}"), "Error: no instrument 'omshc' in the library"),
        (("supply-wording", "oms-hc-15", "{csv}", "--version", "9"),
         "Error: instrument 'oms-hc-15' has no version '9' (versions: 1.0)"),
        (("supply-wording", "allport-stigma", "{csv}"),
         "Error: allport-stigma 1.0 ships with its wording; nothing to supply"),
        (("supply-wording", "oms-hc-15", "{short}"),
         "item 'omshc_20': wording for oms-hc-15 1.0 is missing"),
        (("export-redcap", "nope", "--out", "{tmp}/x.csv"), "Error: no instrument 'nope'"),
    ],
)  # fmt: skip
def test_misuse_gives_one_readable_line(run, tmp_path, args, message):
    csv_path = oms_wording_csv(tmp_path / "oms.csv")
    short = oms_wording_csv(tmp_path / "short.csv", OMS_KEYS[:-1])
    args = [a.format(csv=csv_path, short=short, tmp=tmp_path) for a in args]
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "instance" / "wording" / "oms-hc-15@1.0.csv").exists()


def test_usage_errors_exit_non_zero(run, tmp_path):
    result = run("supply-wording", "oms-hc-15", tmp_path / "absent.csv")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert run("export-redcap", "ribs").exit_code == 2  # --out is required


def test_check_valid_and_invalid_files(run, tmp_path):
    bundled = load_library().get("ribs").source
    result = run("check", bundled)
    assert result.exit_code == 0
    assert "valid: ribs 1.0, 8 items, total" in result.output
    broken = tmp_path / "broken.yaml"
    data = yaml.safe_load(Path(bundled).read_text())
    data["items"][5]["reverse"] = "yes"
    broken.write_text(yaml.safe_dump(data))
    result = run("check", broken)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {broken}: item 'ribs_6': reverse must be true or false, not 'yes'\n"
    )


def test_export_then_import_redcap(run, tmp_path):
    dictionary = tmp_path / "stigma.csv"
    result = run("export-redcap", "allport-stigma", "--out", dictionary)
    assert result.exit_code == 0, result.output
    assert import_redcap(dictionary).instrument == load_library().get("allport-stigma")
    definition = tmp_path / "allport-stigma@1.0.yaml"
    result = run("import-redcap", dictionary, "--out", definition)
    assert result.exit_code == 0, result.output
    assert run("check", definition).exit_code == 0
    assert yaml.safe_load(definition.read_text())["id"] == "allport-stigma"


def test_import_redcap_prints_yaml_and_warnings(run):
    result = run("import-redcap", DICTIONARY, "--form", "attitudes_survey", "--id", "local-att",
                 "--contact-field", "dob")
    assert result.exit_code == 0, result.output
    definition = yaml.safe_load(result.stdout)
    assert definition["id"] == "local-att"
    assert [item["key"] for item in definition["items"]][:2] == ["intro", "att_1"]
    assert "warning: att_total: calc field left out" in result.stderr


def test_import_redcap_refuses_an_identifier_unless_named_as_a_contact_field(run, tmp_path):
    result = run("import-redcap", DICTIONARY, "--form", "attitudes_survey")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {DICTIONARY}: item 'dob': marked as an identifier in REDCap (Identifier? = y), so"
        " its answers would reach de-identified research exports; leave it out of the form, or"
        " import it as contact data that is never exported with --contact-field dob\n")
    out = tmp_path / "attitudes-survey@1.0.yaml"
    result = run("import-redcap", DICTIONARY, "--form", "attitudes_survey", "--contact-field",
                 "dob", "--contact-field", "comments", "--out", out)
    assert result.exit_code == 0, result.output
    items = {item["key"]: item for item in yaml.safe_load(out.read_text())["items"]}
    assert items["dob"]["contact"] is True and items["comments"]["contact"] is True
    assert "contact" not in items["age"]


def test_import_redcap_with_several_forms_needs_a_folder_or_a_form(run):
    result = run("import-redcap", CLINICAL)
    assert result.exit_code == 1
    assert result.output == (
        "Error: the dictionary has 2 forms (screening, follow_up): give --out-dir DIR for one"
        " definition per form, or --form NAME\n")
    result = run("import-redcap", CLINICAL, "--out-dir", "x", "--id", "mine")
    assert result.exit_code == 1
    assert result.output.endswith(": --id names one; add --form NAME\n")


def test_import_redcap_writes_one_definition_per_form(run, tmp_path):
    folder = tmp_path / "definitions"
    result = run("import-redcap", CLINICAL, "--out-dir", folder, "--missing-codes", "99, -9",
                 "--page-per-section")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["follow-up@1.0.yaml", "screening@1.0.yaml"]
    for path in folder.iterdir():
        assert run("check", path).exit_code == 0
    screening = yaml.safe_load((folder / "screening@1.0.yaml").read_text())
    items = {item["key"]: item for item in screening["items"]}
    assert items["mood_2"]["show_if"] == "[smoker] <> '' or [age] <= '30' and not([weight] > '100')"
    assert items["mood_1"]["new_page"] is True
    choices = screening["response_scales"][items["mood_1"]["response"]]
    assert choices[-1] == {"value": 99, "label": "Inadequate information", "missing": True}
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert "warning: screening: scan: file field left out" in warnings
    assert len(warnings) == 6  # one line each
    assert f"Wrote screening 1.0 (15 items) to {folder / 'screening@1.0.yaml'}." in result.stdout


def test_import_redcap_with_form_picks_one(run):
    result = run("import-redcap", CLINICAL, "--form", "follow_up")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["id"] == "follow-up"


@pytest.mark.parametrize(("logic", "message"), [
    ("[a] = '1' and sum([a]) > 1", "item 'b': branching logic at character 15: "),
    ("[total] > 1", "item 'b': branching logic refers to [total], a calc field that was left out"),
])  # fmt: skip
def test_import_redcap_refuses_logic_on_one_line(run, tmp_path, logic, message):
    dictionary = tmp_path / "logic.csv"
    dictionary.write_text(
        "field_name,form_name,field_type,field_label,select_choices_or_calculations,"
        "branching_logic\n"
        "a,f,yesno,A,,\ntotal,f,calc,T,[a],\n"
        f'b,f,text,B,,"{logic}"\n')
    result = run("import-redcap", dictionary)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_import_redcap_refuses_an_empty_missing_code(run):
    result = run("import-redcap", CLINICAL, "--form", "screening", "--missing-codes", "99,,-9")
    assert result.exit_code == 2
    assert "give codes separated by commas, e.g. 99,-9" in result.output


def test_codebook(run, tmp_path):
    out = tmp_path / "codebook.csv"
    result = run("codebook", "ribs", "oms-hc-15", "--out", out)
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 1 + (8 + 1) + (15 + 4)
