"""``flask --app app verify-sequence STUDY``: regenerate the allocation sequence and check it.

The admin's audit of randomization (DESIGN §4): the seed is checked against the SHA-256 recorded
when recruitment opened, then each stratum's sequence is derived again from the seed and every
allocation's arm, position and block size is compared with its slot. Any mismatch is one line
and exit 1; a clean sequence is a summary and exit 0.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import click
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from study.cli import database_command, explained, fail
from study.extensions import db
from study.models import Allocation, AllocationState, Arm, AuditEvent, Participant, Study
from study.services.sequence import parse_block_sizes, sequence_key, slots, stratum_id
from study.services.studies import get_study


@dataclass(frozen=True)
class SequenceCheck:
    """What verifying a study's sequence found: counts for the summary, and each mismatch."""

    allocations: int
    strata: int
    scheme: int
    mismatches: list[str]


def _seed_mismatches(session: Session, study: Study, seed: str) -> list[str]:
    """The seed against its recorded hashes: the study's column and the opening's audit event."""
    digest = hashlib.sha256(seed.encode()).hexdigest()
    recorded = [("the study", study.allocation_seed_sha256)]
    opened = session.scalars(
        select(AuditEvent).where(AuditEvent.study_id == study.id,
                                 AuditEvent.action == "recruitment_opened")
        .order_by(AuditEvent.id)).first()
    if opened is not None:
        recorded.append(("the audit trail", opened.details.get("allocation_seed_sha256")))
    return [f"seed: its SHA-256 {digest} differs from the one recorded in {where} ({value})"
            for where, value in recorded if value is not None and value != digest]


def verify_sequence(session: Session, study: Study) -> SequenceCheck:
    """Regenerate every stratum's sequence from the seed and compare each allocation with it.

    Allocations name their stratum by its opaque id only. Scheme 2 derives the sequence from that
    id; scheme 1 from the stratum's label, read from the stratum's state row, whose label must
    hash to the id (so a label changed by hand is caught).
    """
    seed = study.allocation_seed
    if seed is None:
        return SequenceCheck(0, 0, study.sequence_scheme,
                             ["The study has not opened recruitment: it has no sequence yet."])
    mismatches = _seed_mismatches(session, study, seed)
    ratios = {arm.key: arm.ratio for arm in study.arms}
    block_sizes = parse_block_sizes(study.block_sizes)
    rows = session.execute(
        select(Allocation, Participant.code, Arm.key)
        .join(Participant, Allocation.participant_id == Participant.id)
        .join(Arm, Allocation.arm_id == Arm.id)
        .where(Allocation.study_id == study.id)
        .order_by(Allocation.stratum_id, Allocation.position)).all()
    by_stratum: dict[str, list[tuple[Allocation, str, str]]] = defaultdict(list)
    for allocation, code, arm in rows:
        by_stratum[allocation.stratum_id].append((allocation, code, arm))
    states = {state.stratum_id: state for state in session.scalars(
        select(AllocationState).where(AllocationState.study_id == study.id))}
    for opaque_id, allocations in by_stratum.items():
        state = states.get(opaque_id)
        label = state.stratum if state is not None else None
        if label is None or stratum_id(seed, label) != opaque_id:
            mismatches.append(f"stratum {opaque_id}: no stratum state whose label has this id")
            label = None
        if study.sequence_scheme != 1:
            key = opaque_id
        elif label is not None:
            key = sequence_key(1, seed, label)
        else:
            continue  # a scheme-1 sequence is keyed by the label, which is not to be had
        last = max(allocation.position for allocation, _, _ in allocations)
        sequence = [slot for slot, _ in zip(
            slots(seed, key, ratios, block_sizes, scheme=study.sequence_scheme),
            range(last + 1), strict=False)]
        for allocation, code, arm in allocations:
            slot = sequence[allocation.position]
            where = f"{code} (position {allocation.position})"
            if arm != slot.arm:
                mismatches.append(f"{where}: arm expected {slot.arm}, recorded {arm}")
            if allocation.block_size != slot.block_size:
                mismatches.append(f"{where}: block size expected {slot.block_size}, "
                                  f"recorded {allocation.block_size}")
        positions = sorted(allocation.position for allocation, _, _ in allocations)
        used = state.next_position if state is not None else None
        if positions != list(range(len(positions))) or used != len(positions):
            mismatches.append(f"stratum {opaque_id}: {len(positions)} allocation(s) but {used} "
                              "slot(s) used, or positions with gaps: an allocation was removed")
    return SequenceCheck(len(rows), len(by_stratum), study.sequence_scheme, mismatches)


@click.command("verify-sequence")
@with_appcontext
@database_command
@click.argument("slug")
def verify_sequence_command(slug: str) -> None:
    """Regenerate STUDY's allocation sequence from its seed and check every allocation."""
    with explained():
        study = get_study(db.session, slug)
    check = verify_sequence(db.session, study)
    if check.mismatches:
        for line in check.mismatches:
            click.echo(line, err=True)
        fail(f"{len(check.mismatches)} mismatch(es) in the sequence of study {slug!r}.")
    seed = ("the seed matches its recorded SHA-256" if study.allocation_seed_sha256
            else "no SHA-256 of the seed was recorded when this study opened")
    click.echo(f"Sequence of study {slug!r} verified: {check.allocations} allocation(s) in "
               f"{check.strata} {'stratum' if check.strata == 1 else 'strata'} checked against "
               f"sequence scheme {check.scheme}; {seed}.")
