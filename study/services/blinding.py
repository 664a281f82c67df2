"""Blinded arm codes (DESIGN §4): "Arm A"/"Arm B" until an admin unblinds the study.

Which arm is A is drawn from the study's secret seed, so it cannot be worked out from the arm
keys (sorting them would always make "contact" Arm A). Everything that shows blinded arms —
pages, exports, the API, the analysis — goes through ``blinded_order``.
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


def blinded_letter(study: Study, arm_key: str) -> str | None:
    order = blinded_order(study)
    return "AB"[order.index(arm_key)] if arm_key in order else None


def display_arms(study: Study) -> list[Arm]:
    """The arms in the order pages list them: A then B while blinded, else as configured."""
    if not study.blinded:
        return list(study.arms)
    order = blinded_order(study)
    return sorted(study.arms, key=lambda arm: order.index(arm.key))
