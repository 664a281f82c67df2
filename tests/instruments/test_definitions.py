"""Definition files: the bundled library, the schema's one-line errors, versions."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from instruments import DefinitionError, load_definition, load_library, parse_definition
from instruments.definition import dump_definition, to_definition

DATA = Path(__file__).parent / "data"


def test_bundled_library(library):
    assert [i.id for i in library.all()] == [
        "allport-stigma", "background", "intergroup-anxiety", "oms-hc-15", "ribs",
        "session-fidelity",
    ]  # fmt: skip
    assert library.versions("oms-hc-15") == ["1.0"]
    assert library.get("ribs", "1.0") is library.get("ribs")


def test_unknown_instrument_or_version_is_a_readable_lookup_error(library):
    with pytest.raises(LookupError, match="no instrument 'omshc' in the library"):
        library.get("omshc")
    with pytest.raises(LookupError, match=r"'ribs' has no version '2.0' \(versions: 1.0\)"):
        library.get("ribs", "2.0")


def test_oms_hc_key_matches_the_published_15_item_structure(library):
    """Modgill et al. 2014, BMC Psychiatry 14:120: items keyed by their 20-item numbers."""
    oms = library.get("oms-hc-15")
    published = {
        "attitudes": [1, 12, 13, 14, 18, 20],
        "disclosure": [4, 6, 7, 10],
        "social_distance": [3, 8, 9, 17, 19],
    }
    reverse = {3, 8, 9, 10, 19}
    numbers = sorted(n for ns in published.values() for n in ns)
    assert [item.key for item in oms.items] == [f"omshc_{n:02d}" for n in numbers]
    assert len(oms.items) == 15
    for name, members in published.items():
        assert oms.scale(name).items == tuple(f"omshc_{n:02d}" for n in members)
        assert oms.scale(name).rule == "sum"
    for number in numbers:
        item = oms.item(f"omshc_{number:02d}")
        assert item.reverse is (number in reverse), number
        assert [(c.value, c.label) for c in item.choices] == [
            (1, "Strongly disagree"), (2, "Disagree"), (3, "Neither agree nor disagree"),
            (4, "Agree"), (5, "Strongly agree"),
        ]  # fmt: skip
        assert item.text is None  # licensed: wording is supplied by a site
    total = oms.scale("total")
    assert (total.rule, total.range, len(total.items)) == ("sum", (15, 75), 15)
    assert total.direction == "higher = more stigma"


def test_ribs_key(library):
    ribs = library.get("ribs")
    assert len(ribs.items) == 8
    assert [item.scored for item in ribs.items] == [False] * 4 + [True] * 4
    assert [item.kind for item in ribs.items] == ["choice"] * 4 + ["scale"] * 4
    assert ribs.scale("total").items == ("ribs_5", "ribs_6", "ribs_7", "ribs_8")
    dont_know = ribs.item("ribs_5").choice(9)
    assert (dont_know.label, dont_know.score) == ("Don't know", 3)
    assert (ribs.item("ribs_5").min, ribs.item("ribs_5").max) == (1, 5)


def test_stigma_scale_is_labelled_not_validated(library):
    stigma = library.get("allport-stigma")
    assert "not validated" in stigma.title
    assert stigma.note.startswith("NOT VALIDATED")
    assert 12 <= len(stigma.items) <= 15
    assert sum(item.reverse for item in stigma.items) >= 4


def test_background_is_not_scored_and_offers_the_professions(library):
    background = library.get("background")
    assert background.scales == ()
    assert [c.value for c in background.item("profession").choices] == [
        "medicine", "nursing", "social_work", "pharmacy", "psychology", "other",
    ]  # fmt: skip
    year = background.item("training_year")
    assert (year.kind, year.min, year.max) == ("integer", 1, 10)


def test_published_versions_never_change():
    """Editing a bundled definition (wording included) needs a new version file.

    When you add ``<id>@<version>.yaml``, add its fingerprint to data/fingerprints.json.
    """
    locked = json.loads((DATA / "fingerprints.json").read_text())
    current = {f"{i.id}@{i.version}": i.fingerprint for i in load_library()}
    for name, fingerprint in locked.items():
        assert name in current, f"{name} was removed; published versions stay in the library"
        assert current[name] == fingerprint, (
            f"{name} changed; copy it to a new version instead of editing it"
        )
    assert set(current) == set(locked), "record the new version's fingerprint"


def test_a_definition_round_trips_through_yaml(library):
    for instrument in library:
        again = parse_definition(yaml.safe_load(dump_definition(instrument)), "again.yaml")
        assert again == instrument
        assert again.fingerprint == instrument.fingerprint
        assert to_definition(again) == to_definition(instrument)


# --- one-line errors ---------------------------------------------------------------------------

VALID = {
    "schema": "allport.instrument/1",
    "id": "demo",
    "version": "1.0",
    "title": "Demo",
    "completed_by": "trainee",
    "response_scales": {
        "agree": [{"value": v, "label": label} for v, label in enumerate("ABCDE", start=1)]
    },
    "items": [
        {"key": "d_1", "text": "One", "subscale": "first"},
        {"key": "d_2", "text": "Two", "subscale": "first", "reverse": True},
        {"key": "d_3", "text": "Three", "subscale": "second"},
    ],
    "scales": [
        {"name": "total", "label": "T", "rule": "sum", "min_answered": 0.8,
         "direction": "higher = more", "range": [3, 15]},
        {"name": "first", "label": "F", "rule": "mean", "min_answered": 1, "direction": "up"},
        {"name": "second", "label": "S", "rule": "sum", "min_answered": 1, "direction": "up"},
    ],
}  # fmt: skip


def mutate(change):
    data = copy.deepcopy(VALID)
    change(data)
    return data


def test_the_valid_example_loads():
    demo = parse_definition(VALID, "demo.yaml")
    assert demo.scale("first").items == ("d_1", "d_2")
    assert demo.scale("first").range == (1, 5)


CASES = [
    (lambda d: d.pop("version"), "demo.yaml: version is required"),
    (lambda d: d.update(version=1.0), 'demo.yaml: version must be a quoted string such as "1.0"'),
    (lambda d: d.update(colour="red"), "demo.yaml: unknown field 'colour'"),
    (lambda d: d.update(schema="other/2"), "demo.yaml: schema must be 'allport.instrument/1'"),
    (lambda d: d.update(id="Demo Scale"), "demo.yaml: id must be lowercase letters"),
    (lambda d: d.update(completed_by="staff"), "demo.yaml: completed_by must be trainee or rater"),
    (lambda d: d["items"][1].update(revers=True), "demo.yaml: item 'd_2': unknown field 'revers'"),
    (lambda d: d["items"][1].update(reverse="yes"),
     "demo.yaml: item 'd_2': reverse must be true or false, not 'yes'"),
    (lambda d: d["items"][0].pop("text"), "demo.yaml: item 'd_1': text is missing"),
    (lambda d: d["items"][0].update(text=""), "demo.yaml: item 'd_1': text must be non-empty"),
    (lambda d: d["items"][2].update(key="d_1"), "demo.yaml: item 'd_1': key appears twice"),
    (lambda d: d["items"][2].update(key="3rd"),
     "demo.yaml: item '#3': key must be a variable name"),
    (lambda d: d["items"][0].update(kind="likert"), "demo.yaml: item 'd_1': kind must be one of"),
    (lambda d: d["items"][0].update(response="freq"),
     "demo.yaml: item 'd_1': response 'freq' is not one of response_scales"),
    (lambda d: d["items"][0].update(subscale="third"),
     "demo.yaml: item 'd_1': subscale 'third' is not one of the scales"),
    (lambda d: d["response_scales"]["agree"][1].update(value=1),
     "demo.yaml: item 'd_1': choice value 1 appears twice"),
    (lambda d: d["response_scales"]["agree"][1].update(value="two"),
     "demo.yaml: item 'd_1': choice values of a scale item must be integers, not 'two'"),
    (lambda d: d["scales"][0].update(range=[3, 16]),
     "demo.yaml: scale 'total': range [3, 16] does not match its items, which give [3, 15]"),
    (lambda d: d["scales"][0].update(rule="median"),
     "demo.yaml: scale 'total': rule must be sum or mean, not 'median'"),
    (lambda d: d["scales"][0].update(min_answered=80),
     "demo.yaml: scale 'total': min_answered must be a fraction above 0 and at most 1"),
    (lambda d: d["scales"][0].pop("direction"), "demo.yaml: scale 'total': direction is required"),
    (lambda d: d["scales"][0].update(items=["d_1", "d_9"]),
     "demo.yaml: scale 'total': lists 'd_9', which is not an item"),
    (lambda d: d["scales"][1].update(items=["d_1", "d_3"]),
     "demo.yaml: item 'd_2': subscale and the items of scale 'first' disagree"),
    (lambda d: d["items"].append({"key": "d_4", "text": "Notes", "kind": "text", "reverse": True}),
     "demo.yaml: item 'd_4': unknown field 'reverse' for a text item"),
    (lambda d: d["items"].append({"key": "d_4", "text": "Where", "kind": "choice",
                                  "choices": [{"value": 1, "label": "A"},
                                              {"value": 2, "label": "B"}]}),
     "demo.yaml: item 'd_4': choice values must be text codes"),
    (lambda d: d["items"][0].update(scored=False),
     "demo.yaml: item 'd_1': an unscored item cannot belong to a subscale"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), CASES)
def test_invalid_definitions_fail_with_one_line(change, message):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(mutate(change), "demo.yaml")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_yaml_syntax_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "broken@1.0.yaml"
    path.write_text("id: broken\nitems: [\n  - key: a\n")
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    assert str(caught.value).startswith(f"{path}: invalid YAML: line ")
    assert "\n" not in str(caught.value)


def test_file_names_must_match_id_and_version(tmp_path):
    (tmp_path / "demo@2.0.yaml").write_text(yaml.safe_dump(VALID))
    with pytest.raises(DefinitionError, match=r"file name must be demo@1.0.yaml"):
        load_library(tmp_path)


def test_versions_sit_side_by_side_and_the_newest_is_the_default(tmp_path):
    for version, title in [("1.0", "First"), ("1.10", "Tenth"), ("1.9", "Ninth")]:
        data = mutate(lambda d, v=version, t=title: d.update(version=v, title=t))
        (tmp_path / f"demo@{version}.yaml").write_text(yaml.safe_dump(data))
    library = load_library(tmp_path)
    assert library.versions("demo") == ["1.0", "1.9", "1.10"]
    assert library.get("demo").title == "Tenth"
    assert library.get("demo", "1.0").title == "First"
    assert library.get("demo", "1.0").fingerprint != library.get("demo").fingerprint
