"""Setting a study up and opening it: guarded status, frozen instruments, licensed wording."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from study.errors import InvalidTransition, NotAllowed
from study.extensions import db
from study.models import StudyStatus
from study.services.studies import (
    StudySpec,
    close_recruitment,
    create_study,
    open_recruitment,
    recruitment_problems,
    recruitment_warnings,
    set_instruments,
    set_module_pages,
)

PAGES = [("One", "Text", None)]


def new_study(app, baseline=("background", "intergroup-anxiety"), post=("intergroup-anxiety",)):
    library = app.extensions["allport.instruments"]
    study = create_study(db.session, StudySpec(
        slug="s1", title="Study one", consent_text="Consent text.",
        instruments={"baseline": list(baseline), "post": list(post)}), library, actor="test")
    set_module_pages(db.session, study, PAGES)
    return study, library


def test_a_complete_draft_opens_and_freezes_its_instruments(app) -> None:
    with app.app_context():
        study, library = new_study(app)
        assert recruitment_problems(study, library) == []
        open_recruitment(db.session, study, library, actor="test")
        assert study.status is StudyStatus.RECRUITING
        assert study.allocation_seed and len(study.allocation_seed) == 64
        pinned = study.timepoint("baseline").instruments[1]
        assert pinned.fingerprint == library.get("intergroup-anxiety").fingerprint
        with pytest.raises(NotAllowed, match="frozen"):
            set_instruments(db.session, study, "post", ["allport-stigma"], library, actor="t")


def test_an_instrument_without_wording_blocks_recruitment(app) -> None:
    with app.app_context():
        study, library = new_study(app, baseline=("background", "oms-hc-15"),
                                   post=("oms-hc-15",))
        problems = " ".join(recruitment_problems(study, library))
        assert "oms-hc-15" in problems and "supply it first" in problems
        with pytest.raises(NotAllowed, match="licence"):
            open_recruitment(db.session, study, library, actor="test")
        assert study.status is StudyStatus.DRAFT


def test_missing_parts_are_all_named(app) -> None:
    with app.app_context():
        library = app.extensions["allport.instruments"]
        study = create_study(db.session, StudySpec(slug="bare", title="Bare", consent_text="x",
                                                   block_sizes="3"), library, actor="test")
        problems = " ".join(recruitment_problems(study, library))
        for expected in ("baseline time point", "post time point", "module pages",
                         "Block sizes"):
            assert expected in problems


def test_study_status_moves_one_way(app) -> None:
    with app.app_context():
        study, library = new_study(app)
        with pytest.raises(InvalidTransition):
            close_recruitment(db.session, study, actor="test")  # draft -> closed skips a step
        open_recruitment(db.session, study, library, actor="test")
        close_recruitment(db.session, study, actor="test")
        with pytest.raises(InvalidTransition):
            study.move_to(StudyStatus.RECRUITING)


def test_a_changed_definition_under_the_same_version_is_refused(app) -> None:
    from study.services import invitations, journey
    from study.services.allocation import lock_participant

    with app.app_context():
        study, library = new_study(app)
        open_recruitment(db.session, study, library, actor="test")
        participant = invitations.invite(db.session, study, study.cohorts[0], 1,
                                         actor="test")[0].participant
        participant = lock_participant(db.session, participant.id)
        journey.record_consent(db.session, participant, study.current_consent, agree=True)
        original = library.get("background")
        tampered = dataclasses.replace(original, title="Changed", fingerprint="0" * 64)
        with pytest.raises(NotAllowed, match="has changed since recruitment opened"):
            journey.save_answers(db.session, participant, study.timepoint("baseline"), tampered,
                                 {"profession": "nursing"}, final=False)


def test_opening_records_the_seed_hash_and_the_latest_scheme(app) -> None:
    import hashlib

    from study.models import AuditEvent

    with app.app_context():
        study, library = new_study(app)
        study.sequence_scheme = 1  # a draft made before scheme 2 existed
        open_recruitment(db.session, study, library, actor="test")
        assert study.sequence_scheme == 2
        digest = hashlib.sha256(study.allocation_seed.encode()).hexdigest()
        assert study.allocation_seed_sha256 == digest
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "recruitment_opened")).one()
        assert event.details["allocation_seed_sha256"] == digest
        assert "allocation_seed" not in event.details


@pytest.mark.parametrize(("factors", "message"), [
    ("background.professoin", "Strata factor 'background.professoin': the baseline "
                              "questionnaire background has no item 'professoin'."),
    ("allport-stigma.as1", "Strata factor 'allport-stigma.as1': 'allport-stigma' is not a "
                           "baseline questionnaire of this study."),
    ("background.training_year", "Strata factor 'background.training_year': only a choice "
                                 "item can stratify allocation, and training_year is of "
                                 "kind integer."),
    ("profession", "Strata factor 'profession': write it as questionnaire.item"),
])
def test_a_strata_factor_must_name_a_baseline_choice_item(app, factors, message) -> None:
    with app.app_context():
        study, library = new_study(app)
        study.strata_factors = f"background.profession, {factors}"
        problems = recruitment_problems(study, library)
        assert len(problems) == 1 and problems[0].startswith(message)
        with pytest.raises(NotAllowed, match="Strata factor"):
            open_recruitment(db.session, study, library, actor="test")
        assert study.status is StudyStatus.DRAFT


def test_too_many_strata_for_the_planned_sample_warn_but_do_not_stop(app) -> None:
    with app.app_context():
        study, library = new_study(app)
        study.strata_factors = "background.profession,background.prior_contact"
        assert recruitment_warnings(study, library) == []  # no planned sample size: no warning
        study.planned_sample_size = 100
        warnings = recruitment_warnings(study, library)
        assert warnings == [
            "100 planned trainees over 36 strata (1 cohort(s) × 6 profession × 6 prior_contact) "
            "make about 2.8 per stratum, fewer than twice the largest block (6): the arms may end "
            "unbalanced. Stratify by fewer factors, or use smaller blocks."]
        assert recruitment_problems(study, library) == []
        assert open_recruitment(db.session, study, library, actor="test") == warnings
        assert study.status is StudyStatus.RECRUITING


def test_enough_trainees_per_stratum_give_no_warning(app) -> None:
    with app.app_context():
        study, library = new_study(app)
        study.strata_factors = "background.profession"
        study.planned_sample_size = 72  # 6 strata of 12 = twice the largest block
        assert recruitment_warnings(study, library) == []
        study.planned_sample_size = 71
        assert len(recruitment_warnings(study, library)) == 1


def test_a_study_carries_its_follow_up_schedule_and_planned_size(app) -> None:
    library = app.extensions["allport.instruments"]
    with app.app_context():
        study = create_study(db.session, StudySpec(
            slug="s2", title="Study two", consent_text="Consent.", intervention_period_days=21,
            followup_offset_days=90, followup_window_days=30, planned_sample_size=120),
            library, actor="test")
        assert (study.intervention_period_days, study.followup_offset_days,
                study.followup_window_days, study.planned_sample_size) == (21, 90, 30, 120)


@pytest.mark.parametrize(("setting", "value"), [
    ("intervention_period_days", 0), ("followup_offset_days", -3),
    ("followup_window_days", 0), ("planned_sample_size", 2.5), ("post_window_days", True),
])
def test_a_schedule_that_cannot_be_meant_is_refused(app, setting, value) -> None:
    library = app.extensions["allport.instruments"]
    spec = dataclasses.replace(StudySpec(slug="s3", title="Study three", consent_text="C."),
                               **{setting: value})
    with app.app_context(), pytest.raises(NotAllowed, match=setting):
        create_study(db.session, spec, library, actor="test")


def test_an_item_not_asked_of_everyone_cannot_stratify() -> None:
    """A branching or optional item would leave some trainees without a stratum."""
    from types import SimpleNamespace

    from instruments import Library, load_library
    from study.services.studies import _strata_items

    library = load_library()
    background = library.get("background")
    profession = background.item("profession")
    baseline = SimpleNamespace(instruments=[SimpleNamespace(
        instrument_id="background", instrument_version=background.version)])
    study = SimpleNamespace(strata_factors="background.profession",
                            timepoint=lambda name: baseline if name == "baseline" else None)
    assert _strata_items(study, library) == ([profession], [])  # type: ignore[arg-type]
    for changed in ({"show_if": "[training_year] > '1'"}, {"required": False}):
        branching = dataclasses.replace(background, items=tuple(
            dataclasses.replace(item, **changed) if item.key == "profession" else item
            for item in background.items))
        items, problems = _strata_items(study, Library([branching]))  # type: ignore[arg-type]
        assert items == []
        assert problems == ["Strata factor 'background.profession': profession is not asked of "
                            "every trainee (it is optional or has branching logic), so some "
                            "would have no stratum."]
