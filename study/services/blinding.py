"""How a study's arms are shown (DESIGN §4): Arm A/B while blinded, the real arms once unblinded.

Every page, export, API answer and analysis that names an arm asks this module, so blinding is
decided here and nowhere else; when an admin unblinds a study (``study.blinded`` becomes False)
everything switches to the real arm keys and names at once.

While blinded an arm has a **code** (``arm_a``, the value in exports, the API and the analysis
frame) and a **label** (``Arm A``, what people read). Which arm is A is drawn from the study's
secret seed, so it cannot be worked out from the arm keys (sorting them would always make
"contact" Arm A). Once unblinded the code is the arm's key and the label its name.
"""

from __future__ import annotations

import hashlib
import hmac

from study.models import Arm, Study


def blinded_order(study: Study) -> list[str]:
    """Arm keys in the order they are called A, B while the study is blinded."""
    keys = sorted(arm.key for arm in study.arms)
    if study.allocation_seed:
        digest = hmac.new(study.allocation_seed.encode(), b"blinded-arm-order",
                          hashlib.sha256).digest()
        if digest[0] & 1:
            keys.reverse()
    return keys


def _letter(study: Study, arm_key: str) -> str | None:
    """The arm's blinded letter; None once the study is unblinded (or for an unknown key)."""
    if not study.blinded:
        return None
    order = blinded_order(study)
    return "AB"[order.index(arm_key)] if arm_key in order else None


def arm_code(study: Study, arm_key: str | None) -> str:
    """The arm as data carry it: ``arm_a``/``arm_b`` while blinded, its key once unblinded."""
    if arm_key is None:
        return ""
    letter = _letter(study, arm_key)
    return f"arm_{letter.lower()}" if letter else arm_key


def arm_label(study: Study, arm_key: str) -> str:
    """The arm as people read it: "Arm A"/"Arm B" while blinded, its name once unblinded."""
    letter = _letter(study, arm_key)
    if letter:
        return f"Arm {letter}"
    arm = study.arm_by_key(arm_key)
    return arm.name if arm is not None else arm_key


def display_arms(study: Study) -> list[Arm]:
    """The arms in the order pages list them: A then B while blinded, else as configured."""
    if not study.blinded:
        return list(study.arms)
    order = blinded_order(study)
    return sorted(study.arms, key=lambda arm: order.index(arm.key))


def arm_labels(study: Study) -> dict[str, str]:
    """Arm code -> label, in display order (the analysis result's and the API's ``arm_labels``)."""
    return {arm_code(study, arm.key): arm_label(study, arm.key) for arm in display_arms(study)}


def reference_arm(study: Study) -> str:
    """The code of the arm differences are taken against: Arm A while blinded, else the control.

    A blinded analysis must not tell which arm is the control, yet needs a reference; Arm A is
    that reference, a direction for the comparison and not a statement about the control (see
    :mod:`study.services.analysis_service`). Once unblinded it is the study's control arm.
    """
    if study.blinded:
        return arm_code(study, display_arms(study)[0].key)
    return study.control_arm.key
