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
from study.services.sequence import parse_block_sizes, sequence_key, slots
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
    """Regenerate every stratum's sequence from the seed and compare each allocation with it."""
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
        .order_by(Allocation.stratum, Allocation.position)).all()
    by_stratum: dict[str, list[tuple[Allocation, str, str]]] = defaultdict(list)
    for allocation, code, arm in rows:
        by_stratum[allocation.stratum].append((allocation, code, arm))
    for label, allocations in by_stratum.items():
        key = sequence_key(study.sequence_scheme, seed, label)
        expected_id = None if study.sequence_scheme == 1 else key
        last = max(allocation.position for allocation, _, _ in allocations)
        sequence = [slot for slot, _ in zip(
            slots(seed, key, ratios, block_sizes, scheme=study.sequence_scheme),
            range(last + 1), strict=False)]
        for allocation, code, arm in allocations:
            slot = sequence[allocation.position]
            where = f"{code} (position {allocation.position})"
            if allocation.stratum_id != expected_id:
                mismatches.append(f"{where}: stratum id expected {expected_id}, "
                                  f"recorded {allocation.stratum_id}")
            if arm != slot.arm:
                mismatches.append(f"{where}: arm expected {slot.arm}, recorded {arm}")
            if allocation.block_size != slot.block_size:
                mismatches.append(f"{where}: block size expected {slot.block_size}, "
                                  f"recorded {allocation.block_size}")
        positions = sorted(allocation.position for allocation, _, _ in allocations)
        used = session.scalars(select(AllocationState.next_position).where(
            AllocationState.study_id == study.id, AllocationState.stratum == label)).first()
        if positions != list(range(len(positions))) or used != len(positions):
            mismatches.append(f"stratum {key}: {len(positions)} allocation(s) but {used} slot(s) "
                              "used, or positions with gaps: an allocation was removed")
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
