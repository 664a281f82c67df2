"""The allocation sequence: stratified permuted blocks of randomly varying size (DESIGN §4).

The sequence is a pure function of the study's secret seed, the stratum and the arms, so an
admin can regenerate it for audit and nothing about it needs to be stored or shown. Each block
is derived on its own from HMAC-SHA256: seeing some allocations tells nothing about others.

A study keeps the scheme it opened with (``Study.sequence_scheme``):

- **Scheme 1** seeds ``random.Random`` with each block's HMAC and lets its ``choice`` and
  ``shuffle`` pick the size and the order. Python does not promise to keep their output across
  versions, so it is kept, unchanged, only so that studies opened under it still verify.
- **Scheme 2** uses nothing but HMAC-SHA256 bytes and the integer arithmetic written out below
  (rejection sampling, Fisher–Yates), and keys each stratum by an opaque id, the HMAC of its
  label, so an allocation verifies without the baseline answers that placed the trainee in it.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

LATEST_SCHEME = 2


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


def _unpermuted(ratios: dict[str, int], size: int) -> list[str]:
    """A block of ``size`` in arm order, each arm as often as its ratio asks."""
    repeats = size // sum(ratios.values())
    return [arm for arm in sorted(ratios) for _ in range(ratios[arm] * repeats)]


# --- scheme 1 (kept for studies opened under it) -------------------------------------------


def _block_scheme_1(seed: str, stratum: str, index: int, ratios: dict[str, int],
                    block_sizes: Sequence[int]) -> list[str]:
    digest = hmac.new(seed.encode(), f"{stratum}\x1f{index}".encode(), hashlib.sha256).digest()
    rng = random.Random(digest)
    size = rng.choice(sorted(block_sizes))
    block = _unpermuted(ratios, size)
    rng.shuffle(block)
    return block


# --- scheme 2 -------------------------------------------------------------------------------


def study_key(seed: str) -> bytes:
    """The scheme-2 key of a study: HMAC(seed, "allport.sequence/2"), never stored."""
    return hmac.new(seed.encode(), b"allport.sequence/2", hashlib.sha256).digest()


def stratum_id(seed: str, label: str) -> str:
    """The opaque id of a stratum (64 hex digits): HMAC(study key, "stratum" ‖ 0x1f ‖ label).

    Allocations and their audit events record it under every scheme, never the label (DESIGN §8);
    scheme 2 also keys the sequence by it.
    """
    return hmac.new(study_key(seed), b"stratum\x1f" + label.encode(), hashlib.sha256).hexdigest()


class _ByteStream:
    """A block's bytes: HMAC(key, stratum id ‖ block index ‖ counter) for counter 0, 1, 2 and on.

    The block index and the counter are 8-byte big-endian integers; the stratum id has a fixed
    length, so no two (stratum, block, counter) triples share a message.
    """

    def __init__(self, key: bytes, stratum: str, index: int) -> None:
        self._key = key
        self._prefix = stratum.encode() + index.to_bytes(8, "big")
        self._counter = 0
        self._buffer = b""

    def take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            message = self._prefix + self._counter.to_bytes(8, "big")
            self._buffer += hmac.new(self._key, message, hashlib.sha256).digest()
            self._counter += 1
        taken, self._buffer = self._buffer[:count], self._buffer[count:]
        return taken

    def below(self, bound: int) -> int:
        """A uniform integer in [0, bound), by rejection sampling on 32-bit words.

        Only the largest multiple of ``bound`` under 2³² is accepted, so every remainder is
        equally likely; a word above it is thrown away and the next one read.
        """
        limit = (2**32 // bound) * bound
        while True:
            word = int.from_bytes(self.take(4), "big")
            if word < limit:
                return word % bound


def _block_scheme_2(seed: str, stratum: str, index: int, ratios: dict[str, int],
                    block_sizes: Sequence[int]) -> list[str]:
    stream = _ByteStream(study_key(seed), stratum, index)
    sizes = sorted(set(block_sizes))
    block = _unpermuted(ratios, sizes[stream.below(len(sizes))])
    for last in range(len(block) - 1, 0, -1):  # Fisher–Yates, from the end
        other = stream.below(last + 1)
        block[last], block[other] = block[other], block[last]
    return block


BlockRule = Callable[[str, str, int, dict[str, int], Sequence[int]], list[str]]
SCHEMES: dict[int, BlockRule] = {1: _block_scheme_1, 2: _block_scheme_2}


def sequence_key(scheme: int, seed: str, label: str) -> str:
    """What a stratum's sequence is keyed by: its label (scheme 1) or its opaque id (scheme 2)."""
    return label if scheme == 1 else stratum_id(seed, label)


def slots(seed: str, stratum: str, ratios: dict[str, int], block_sizes: Sequence[int], *,
          scheme: int) -> Iterator[Slot]:
    """Yield the stratum's sequence from position 0, without end.

    ``stratum`` is what :func:`sequence_key` gives for the scheme.
    """
    validate_block_sizes(ratios, block_sizes)
    block_rule = SCHEMES[scheme]
    position = 0
    index = 0
    while True:
        block = block_rule(seed, stratum, index, ratios, block_sizes)
        for arm in block:
            yield Slot(position, arm, index, len(block))
            position += 1
        index += 1


class _DerivedBlocks:
    """A stratum's blocks derived so far by :func:`slots`' rule, and where each one starts.

    A block's size is drawn inside it, so finding position ``p`` means deriving every block
    before it; keeping them makes the next allocation in the stratum derive at most one new
    block instead of all of them again (allocating N trainees was quadratic in N).
    """

    def __init__(self, seed: str, stratum: str, ratios: dict[str, int],
                 block_sizes: Sequence[int], scheme: int) -> None:
        self._blocks = slots(seed, stratum, ratios, block_sizes, scheme=scheme)
        self._starts: list[int] = []  # position of each block's first slot
        self._arms: list[str] = []    # every derived slot's arm, by position

    def slot(self, position: int) -> Slot:
        while len(self._arms) <= position:
            first = next(self._blocks)  # the first slot of the next block: derives it whole
            self._starts.append(first.position)
            self._arms.append(first.arm)
            for _ in range(first.block_size - 1):
                self._arms.append(next(self._blocks).arm)
        index = bisect_right(self._starts, position) - 1
        following = (self._starts[index + 1] if index + 1 < len(self._starts)
                     else len(self._arms))
        return Slot(position, self._arms[position], index, following - self._starts[index])


# The derived blocks of the most recently used strata (a few kilobytes per thousand slots).
_DERIVED_STRATA = 64
_derived: OrderedDict[tuple[object, ...], _DerivedBlocks] = OrderedDict()
_derived_lock = threading.Lock()


def slot_at(seed: str, stratum: str, ratios: dict[str, int], block_sizes: Sequence[int],
            position: int, *, scheme: int) -> Slot:
    """The slot at ``position`` of the stratum's sequence: the slot :func:`slots` yields there.

    The stratum's blocks are kept once derived (for the :data:`_DERIVED_STRATA` strata used
    last), keyed by everything the derivation reads, so they are never reused for another
    seed, stratum, ratio, block sizes or scheme.
    """
    if position < 0:
        raise ValueError(f"a sequence position is 0 or more, not {position}")
    validate_block_sizes(ratios, block_sizes)
    key = (scheme, seed, stratum, tuple(sorted(ratios.items())), tuple(block_sizes))
    with _derived_lock:
        derived = _derived.get(key)
        if derived is None:
            derived = _derived[key] = _DerivedBlocks(seed, stratum, dict(ratios), block_sizes,
                                                     scheme)
            while len(_derived) > _DERIVED_STRATA:
                _derived.popitem(last=False)
        _derived.move_to_end(key)
        return derived.slot(position)


def parse_block_sizes(text: str) -> list[int]:
    """Block sizes from their comma-separated form, e.g. ``"2,4,6"``."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise ValueError(f"block sizes must be whole numbers separated by commas: {text!r}") \
            from error
