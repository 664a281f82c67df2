"""How arms are shown, blinded and unblinded: one module decides (no database, no HTTP)."""

from __future__ import annotations

import pytest

from study.models import Arm, ArmKind, Study
from study.services.blinding import (
    arm_code,
    arm_label,
    arm_labels,
    blinded_order,
    display_arms,
    reference_arm,
)

# Which arm is A follows from the seed: sorted keys are (contact, education), and the
# seed's HMAC reverses them or not.
CONTACT_IS_A = "seed-1"
EDUCATION_IS_A = "seed-0"


def two_arm_study(seed: str, *, blinded: bool = True) -> Study:
    """A study configured education (the control) first, contact second, as the demo is."""
    study = Study(slug="s", title="S", allocation_seed=seed, blinded=blinded)
    study.arms = [
        Arm(key="education", name="Education module", kind=ArmKind.EDUCATION, is_control=True,
            position=0),
        Arm(key="contact", name="Contact with a peer", kind=ArmKind.CONTACT, is_control=False,
            position=1),
    ]
    return study


@pytest.mark.parametrize(("seed", "arm_a", "arm_b"), [
    (CONTACT_IS_A, "contact", "education"),
    (EDUCATION_IS_A, "education", "contact"),
])
def test_a_blinded_study_shows_each_arm_by_the_letter_its_seed_draws(
        seed: str, arm_a: str, arm_b: str) -> None:
    study = two_arm_study(seed)
    assert blinded_order(study) == [arm_a, arm_b]
    assert (arm_code(study, arm_a), arm_label(study, arm_a)) == ("arm_a", "Arm A")
    assert (arm_code(study, arm_b), arm_label(study, arm_b)) == ("arm_b", "Arm B")
    assert [arm.key for arm in display_arms(study)] == [arm_a, arm_b]
    assert arm_labels(study) == {"arm_a": "Arm A", "arm_b": "Arm B"}


@pytest.mark.parametrize("seed", [CONTACT_IS_A, EDUCATION_IS_A])
def test_a_blinded_reference_is_arm_a_whichever_arm_is_the_control(seed: str) -> None:
    assert reference_arm(two_arm_study(seed)) == "arm_a"


def test_an_unblinded_study_shows_real_keys_and_names_in_configured_order() -> None:
    study = two_arm_study(CONTACT_IS_A, blinded=False)
    assert arm_code(study, "contact") == "contact"
    assert arm_label(study, "contact") == "Contact with a peer"
    assert [arm.key for arm in display_arms(study)] == ["education", "contact"]
    assert arm_labels(study) == {"education": "Education module",
                                 "contact": "Contact with a peer"}
    assert reference_arm(study) == "education"  # the control arm


def test_a_participant_without_an_arm_has_an_empty_code() -> None:
    assert arm_code(two_arm_study(CONTACT_IS_A), None) == ""
