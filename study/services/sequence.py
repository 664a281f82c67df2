"""The allocation sequence: stratified permuted blocks of randomly varying size (DESIGN §4).

The sequence is a pure function of the study's secret seed, the stratum and the arms, so an
admin can regenerate it for audit and nothing about it needs to be stored or shown. Each block
draws from its own HMAC-derived generator: seeing some allocations tells nothing about others.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    position: int
    arm: str
    block_index: int
    block_size: int


def validate_block_sizes(ratios: dict[str, int], block_sizes: Sequence[int]) -> None:
    """Raise ValueError unless every block size is a positive multiple of the ratio sum."""
    unit = sum(ratios.values())
    if not block_sizes:
        raise ValueError("at least one block size is needed")
    for size in block_sizes:
        if size <= 0 or size % unit:
            raise ValueError(
                f"block size {size} is not a positive multiple of the allocation ratio sum {unit}"
            )


def _block(seed: str, stratum: str, index: int, ratios: dict[str, int],
           block_sizes: Sequence[int]) -> list[str]:
    digest = hmac.new(seed.encode(), f"{stratum}\x1f{index}".encode(), hashlib.sha256).digest()
    rng = random.Random(digest)
    size = rng.choice(sorted(block_sizes))
    repeats = size // sum(ratios.values())
    block = [arm for arm in sorted(ratios) for _ in range(ratios[arm] * repeats)]
    rng.shuffle(block)
    return block


def slots(seed: str, stratum: str, ratios: dict[str, int],
          block_sizes: Sequence[int]) -> Iterator[Slot]:
    """Yield the stratum's sequence from position 0, without end."""
    validate_block_sizes(ratios, block_sizes)
    position = 0
    index = 0
    while True:
        block = _block(seed, stratum, index, ratios, block_sizes)
        for arm in block:
            yield Slot(position, arm, index, len(block))
            position += 1
        index += 1


def slot_at(seed: str, stratum: str, ratios: dict[str, int], block_sizes: Sequence[int],
            position: int) -> Slot:
    """The slot at ``position`` of the stratum's sequence."""
    for slot in slots(seed, stratum, ratios, block_sizes):
        if slot.position == position:
            return slot
    raise AssertionError("unreachable")  # pragma: no cover


def parse_block_sizes(text: str) -> list[int]:
    """Block sizes from their comma-separated form, e.g. ``"2,4,6"``."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise ValueError(f"block sizes must be whole numbers separated by commas: {text!r}") \
            from error
