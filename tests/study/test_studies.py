"""Setting a study up and opening it: guarded status, frozen instruments, licensed wording."""

from __future__ import annotations

import dataclasses

import pytest

from study.errors import InvalidTransition, NotAllowed
from study.extensions import db
from study.models import StudyStatus
from study.services.studies import (
    StudySpec,
    close_recruitment,
    create_study,
    open_recruitment,
    recruitment_problems,
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
