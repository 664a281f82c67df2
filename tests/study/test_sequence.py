"""The allocation sequence itself (DESIGN §4): pinned slots of both schemes, a re-derivation of
scheme 2 from its written specification, and the properties every block must have."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterator
from itertools import count, islice

import pytest

from study.services import sequence

RATIOS = {"contact": 1, "education": 1}
PINNED_SEED = "0f" * 32
PINNED_LABEL = "cohort=Cohort 1"


def arms(slots: Iterator[sequence.Slot], n: int) -> str:
    """The first ``n`` arms as one letter each: C for contact, E for education."""
    return "".join(slot.arm[0].upper() for slot in islice(slots, n))


# --- scheme 2: pinned once, never to change ---------------------------------------------------

SCHEME_2_STRATUM_ID = "3facc0293800aae182aa6f57cf7b287ec8bc12d95431e85b74930e4eb82d18a6"
SCHEME_2_FIRST_200 = (
    "ECEECCECECCEECCECECEECCCEECCEECECCEECCEEECECECCECE"
    "CEEECCCECECCEECECCEECCEECECECECEECECCEECCECECECECE"
    "ECCEEECCECCEECECECECECECCEECEECCCECEECCEECECCEECCE"
    "CECEECCCECEECECECEECCEECECCEECCCEECEECECCECECECEEC"
)
SCHEME_2_BLOCK_SIZES = [2, 6, 4, 4, 4, 6, 4, 6, 4, 4, 2, 6, 6, 2, 6, 4, 6, 4, 2, 6, 6, 2, 4, 2,
                        2, 6, 6, 2, 2, 4, 2, 6, 4, 2, 2, 2, 6, 6, 2, 6, 4, 6, 2, 6, 4, 4, 2, 2,
                        6, 6]


def scheme_2(seed: str = PINNED_SEED, label: str = PINNED_LABEL,
             ratios: dict[str, int] = RATIOS, sizes: tuple[int, ...] = (2, 4, 6)
             ) -> Iterator[sequence.Slot]:
    return sequence.slots(seed, sequence.stratum_id(seed, label), ratios, sizes, scheme=2)


def test_scheme_2_first_200_slots_are_pinned() -> None:
    assert sequence.stratum_id(PINNED_SEED, PINNED_LABEL) == SCHEME_2_STRATUM_ID
    assert arms(scheme_2(), 200) == SCHEME_2_FIRST_200
    slots = list(islice(scheme_2(), 200))
    starts = [slot.block_size for slot in slots
              if slot.block_index == 0 and slot.position == 0
              or slot.position > 0 and slot.block_index != slots[slot.position - 1].block_index]
    assert starts == SCHEME_2_BLOCK_SIZES


def _reference_scheme_2(seed: str, label: str, sizes: list[int], n: int) -> str:
    """Scheme 2 written again from DESIGN §4 and the module docstring, without the module."""
    key = hmac.new(seed.encode(), b"allport.sequence/2", hashlib.sha256).digest()
    stratum = hmac.new(key, b"stratum\x1f" + label.encode(), hashlib.sha256).hexdigest()
    out = ""
    for block_index in count():
        words = (int.from_bytes(digest[i:i + 4], "big")
                 for counter in count()
                 for digest in [hmac.new(key, stratum.encode() + block_index.to_bytes(8, "big")
                                         + counter.to_bytes(8, "big"), hashlib.sha256).digest()]
                 for i in range(0, 32, 4))

        def below(bound: int, words: Iterator[int] = words) -> int:
            return next(w % bound for w in words if w < 2**32 - 2**32 % bound)

        size = sorted(sizes)[below(len(sizes))]
        block = ["C"] * (size // 2) + ["E"] * (size // 2)
        for i in reversed(range(1, size)):
            j = below(i + 1)
            block[i], block[j] = block[j], block[i]
        out += "".join(block)
        if len(out) >= n:
            return out[:n]
    raise AssertionError("unreachable")  # pragma: no cover


@pytest.mark.parametrize("seed", [PINNED_SEED, "another seed", "ab" * 32])
def test_scheme_2_matches_an_independent_derivation(seed: str) -> None:
    assert arms(scheme_2(seed=seed), 300) == _reference_scheme_2(seed, PINNED_LABEL,
                                                                  [2, 4, 6], 300)


# --- scheme 1: studies opened under it must keep verifying ------------------------------------


def test_scheme_1_slots_are_pinned() -> None:
    slots = list(islice(sequence.slots("allport-pinned-seed", "cohort=Cohort 1", RATIOS,
                                       [2, 4, 6], scheme=1), 24))
    assert "".join(s.arm[0].upper() for s in slots) == "ECCEECCECEECCECEECECCEEC"
    assert [s.block_size for s in slots] == [2, 2] + [6] * 12 + [4] * 4 + [6] * 6
    assert sequence.sequence_key(1, "any seed", "cohort=A") == "cohort=A"


# --- what every scheme promises ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", [1, 2])
def test_sequence_is_reproducible_and_secret_dependent(scheme: int) -> None:
    def first(seed: str) -> str:
        key = sequence.sequence_key(scheme, seed, "cohort=A")
        return arms(sequence.slots(seed, key, RATIOS, [2, 4, 6], scheme=scheme), 200)

    assert first("seed-1") == first("seed-1")
    assert first("seed-1") != first("seed-2")


@pytest.mark.parametrize("scheme", [1, 2])
@pytest.mark.parametrize(("ratios", "sizes"), [(RATIOS, [2, 4, 6]),
                                               ({"contact": 2, "education": 1}, [3, 6, 9])])
def test_every_block_is_a_permutation_with_the_ratio_and_an_allowed_size(
        scheme: int, ratios: dict[str, int], sizes: list[int]) -> None:
    seen_sizes: Counter[int] = Counter()
    for number in range(40):
        seed = f"seed-{number}"
        key = sequence.sequence_key(scheme, seed, "cohort=A")
        blocks: dict[int, list[str]] = {}
        for slot in islice(sequence.slots(seed, key, ratios, sizes, scheme=scheme), 300):
            blocks.setdefault(slot.block_index, []).append(slot.arm)
            assert slot.block_size in sizes
        for index, block in list(blocks.items())[:-1]:  # the last may be cut off at 300
            seen_sizes[len(block)] += 1
            unit = sum(ratios.values())
            assert Counter(block) == {arm: r * len(block) // unit for arm, r in ratios.items()}, \
                (seed, index)
    assert set(seen_sizes) == set(sizes)


def test_scheme_2_orders_and_sizes_are_uniform_over_many_seeds() -> None:
    """Chi-square against uniform, on fixed seeds (so never flaky), at about p = 0.001."""
    orders: Counter[str] = Counter()
    sizes: Counter[int] = Counter()
    for number in range(1200):
        seed = f"uniformity-{number}"
        orders[arms(scheme_2(seed=seed, sizes=(4,)), 4)] += 1
        sizes[next(scheme_2(seed=seed)).block_size] += 1

    def chi_square(observed: list[int]) -> float:
        expected = sum(observed) / len(observed)
        return sum((n - expected) ** 2 / expected for n in observed)

    assert len(orders) == 6  # every arrangement of CCEE occurs
    assert chi_square(list(orders.values())) < 20.5  # 5 degrees of freedom
    assert set(sizes) == {2, 4, 6}
    assert chi_square(list(sizes.values())) < 13.8  # 2 degrees of freedom


def test_a_stratum_id_is_opaque_and_depends_on_the_seed() -> None:
    one = sequence.stratum_id("seed-1", "cohort=A|profession=nursing")
    assert len(one) == 64 and "nursing" not in one
    assert one != sequence.stratum_id("seed-2", "cohort=A|profession=nursing")
    assert one != sequence.stratum_id("seed-1", "cohort=A|profession=medicine")


def test_unequal_ratio_blocks() -> None:
    ratios = {"contact": 2, "education": 1}
    for scheme in (1, 2):
        block = [s.arm for s in islice(sequence.slots("s", "x" * 64, ratios, [3], scheme=scheme),
                                       30)]
        assert Counter(block) == {"contact": 20, "education": 10}
        with pytest.raises(ValueError, match="not a positive multiple"):
            next(sequence.slots("s", "x", ratios, [4], scheme=scheme))


@pytest.mark.parametrize("scheme", [1, 2])
def test_slot_at_is_the_slot_the_sequence_yields_there(scheme: int) -> None:
    """``slot_at`` keeps a stratum's derived blocks between calls: asked in any order, for
    interleaved strata and past the number of strata it keeps, it still answers exactly what
    the sequence yields at that position (arm, block and block size)."""
    sizes = [2, 4, 6]
    expected = {label: list(islice(sequence.slots(PINNED_SEED, label, RATIOS, sizes,
                                                  scheme=scheme), 300))
                for label in ("a", "b")}
    other_seed = list(islice(sequence.slots("1e" * 32, "a", RATIOS, sizes, scheme=scheme), 300))
    for position in [*range(0, 300, 7), 299, 3, 0, *range(150, 160)]:
        for label in ("a", "b"):
            assert sequence.slot_at(PINNED_SEED, label, RATIOS, sizes, position,
                                    scheme=scheme) == expected[label][position]
        assert sequence.slot_at("1e" * 32, "a", RATIOS, sizes, position,
                                scheme=scheme) == other_seed[position]
    for stratum in range(sequence._DERIVED_STRATA + 1):  # evicts "a" and "b"
        sequence.slot_at(PINNED_SEED, f"s{stratum}", RATIOS, sizes, 5, scheme=scheme)
    assert sequence.slot_at(PINNED_SEED, "a", RATIOS, sizes, 123,
                            scheme=scheme) == expected["a"][123]
    assert sequence.slot_at(PINNED_SEED, "a", {"contact": 1, "education": 2}, [3, 6], 123,
                            scheme=scheme) == list(islice(sequence.slots(
                                PINNED_SEED, "a", {"contact": 1, "education": 2}, [3, 6],
                                scheme=scheme), 124))[123]
    with pytest.raises(ValueError, match="0 or more"):
        sequence.slot_at(PINNED_SEED, "a", RATIOS, sizes, -1, scheme=scheme)


def test_allocating_position_after_position_derives_each_block_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What made simulating 10,000 trainees quadratic: each allocation re-derived its stratum's
    sequence from position 0. Now 2,000 allocations in a row derive each block once."""
    derived: list[int] = []
    rule = sequence.SCHEMES[2]

    def counting(seed: str, stratum: str, index: int, ratios: dict[str, int],
                 block_sizes: list[int]) -> list[str]:
        derived.append(index)
        return rule(seed, stratum, index, ratios, block_sizes)

    monkeypatch.setitem(sequence.SCHEMES, 2, counting)
    for position in range(2000):
        sequence.slot_at("2d" * 32, "counted", RATIOS, [2, 4, 6], position, scheme=2)
    assert derived == list(range(len(derived)))  # each block once, in order
    assert len(derived) <= 2000 // 2 + 1
