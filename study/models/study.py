"""A study and its configuration: arms, cohorts, time points, consent, instruments, module."""

from __future__ import annotations

import enum
import hashlib
import re
from datetime import date, datetime
from urllib.parse import urlsplit

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from study.errors import InvalidTransition
from study.models.base import Base, str_enum, utcnow


class StudyStatus(enum.StrEnum):
    DRAFT = "draft"
    RECRUITING = "recruiting"
    CLOSED = "closed"


_STUDY_TRANSITIONS = {
    StudyStatus.DRAFT: {StudyStatus.RECRUITING},
    StudyStatus.RECRUITING: {StudyStatus.CLOSED},
    StudyStatus.CLOSED: set(),
}


class ArmKind(enum.StrEnum):
    EDUCATION = "education"
    CONTACT = "contact"


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Printed on the report's title page and the trainee's consent page (DESIGN §12).
    protocol_number: Mapped[str] = mapped_column(String(100), default="")
    ethics_approval_number: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[StudyStatus] = mapped_column(str_enum(StudyStatus), default=StudyStatus.DRAFT)
    # The allocation sequence is derived from this secret; it never leaves the server. Its
    # SHA-256, recorded when recruitment opens, lets an audit show the seed was never changed.
    allocation_seed: Mapped[str | None] = mapped_column(String(64))
    allocation_seed_sha256: Mapped[str | None] = mapped_column(String(64))
    # How the sequence is derived from the seed (study.services.sequence); a study keeps the
    # scheme it opened with, so its sequence still verifies after the derivation changes.
    sequence_scheme: Mapped[int] = mapped_column(default=2)
    block_sizes: Mapped[str] = mapped_column(String(64), default="2,4,6")
    # Baseline answers (instrument.item) that stratify allocation beside the cohort.
    strata_factors: Mapped[str] = mapped_column(String(200), default="")
    blinded: Mapped[bool] = mapped_column(default=True)
    unblinded_at: Mapped[datetime | None]
    # The planned number of trainees (sample size calculation): checks strata against it.
    planned_sample_size: Mapped[int | None]
    # DESIGN §3: the post questionnaire opens when the intervention is done or this many days
    # after allocation, whichever comes first, and stays open ``post_window_days``.
    intervention_period_days: Mapped[int] = mapped_column(default=14)
    post_window_days: Mapped[int | None]
    # The follow-up time point opens this many days after the post questionnaire opened.
    followup_offset_days: Mapped[int] = mapped_column(default=28)
    followup_window_days: Mapped[int | None]
    # A stalled trainee is reminded at most once in this many days; the invitation email
    # starts the interval (DESIGN §7).
    reminder_interval_days: Mapped[int] = mapped_column(default=3)
    # Set by ``lock-data``: the post and follow-up windows are closed and no answer changes.
    data_locked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    recruitment_opened_at: Mapped[datetime | None]

    arms: Mapped[list[Arm]] = relationship(
        back_populates="study", order_by="Arm.position", cascade="all, delete-orphan"
    )
    cohorts: Mapped[list[Cohort]] = relationship(
        back_populates="study", order_by="Cohort.name", cascade="all, delete-orphan"
    )
    timepoints: Mapped[list[Timepoint]] = relationship(
        back_populates="study", order_by="Timepoint.position", cascade="all, delete-orphan"
    )
    consent_documents: Mapped[list[ConsentDocument]] = relationship(
        back_populates="study", order_by="ConsentDocument.version", cascade="all, delete-orphan"
    )
    module_pages: Mapped[list[ModulePage]] = relationship(
        back_populates="study", order_by="ModulePage.position", cascade="all, delete-orphan"
    )

    def move_to(self, status: StudyStatus) -> None:
        if status not in _STUDY_TRANSITIONS[self.status]:
            raise InvalidTransition(f"A {self.status} study cannot become {status}.")
        self.status = status

    @property
    def control_arm(self) -> Arm:
        return next(arm for arm in self.arms if arm.is_control)

    def arm_by_key(self, key: str) -> Arm | None:
        return next((arm for arm in self.arms if arm.key == key), None)

    def timepoint(self, name: str) -> Timepoint | None:
        return next((tp for tp in self.timepoints if tp.name == name), None)

    @property
    def current_consent(self) -> ConsentDocument | None:
        return self.consent_documents[-1] if self.consent_documents else None

    def __repr__(self) -> str:
        return f"<Study {self.slug}>"


class Arm(Base):
    __tablename__ = "arms"
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[ArmKind] = mapped_column(str_enum(ArmKind))
    ratio: Mapped[int] = mapped_column(default=1)
    is_control: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)
    # What a trainee reads on learning their arm.
    description: Mapped[str] = mapped_column(Text, default="")

    study: Mapped[Study] = relationship(back_populates="arms")


class Cohort(Base):
    __tablename__ = "cohorts"
    __table_args__ = (UniqueConstraint("study_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(200), default="")
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A closed cohort takes no new invitations; its trainees carry on.
    closed_at: Mapped[datetime | None]

    study: Mapped[Study] = relationship(back_populates="cohorts")


class Timepoint(Base):
    """A measurement occasion: ``baseline``, ``post`` and optionally ``followup``."""

    __tablename__ = "timepoints"
    __table_args__ = (UniqueConstraint("study_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)

    study: Mapped[Study] = relationship(back_populates="timepoints")
    instruments: Mapped[list[StudyInstrument]] = relationship(
        back_populates="timepoint", order_by="StudyInstrument.position",
        cascade="all, delete-orphan",
    )


class StudyInstrument(Base):
    """An instrument, at a pinned version, given at one time point."""

    __tablename__ = "study_instruments"
    __table_args__ = (UniqueConstraint("timepoint_id", "instrument_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    timepoint_id: Mapped[int] = mapped_column(ForeignKey("timepoints.id", ondelete="CASCADE"))
    instrument_id: Mapped[str] = mapped_column(String(64))
    instrument_version: Mapped[str] = mapped_column(String(32))
    # SHA-256 of the definition, recorded when recruitment opens: a version whose definition
    # changed afterwards is refused rather than silently scored another way.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(default=0)

    timepoint: Mapped[Timepoint] = relationship(back_populates="instruments")


class ConsentDocument(Base):
    __tablename__ = "consent_documents"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    version: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    # Whether data already collected may be kept when a participant withdraws.
    data_kept_on_withdrawal: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    study: Mapped[Study] = relationship(back_populates="consent_documents")

    @staticmethod
    def digest(text: str) -> str:
        """The SHA-256 kept as ``text_sha256``; each consent copies it, proving what was read."""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_web_link(url: str) -> bool:
    """True for an absolute ``http``/``https`` URL with a host, and nothing else.

    A module page's video link is shown to trainees as a link, so ``javascript:``, ``data:`` and
    the like must never pass; neither may spaces or control characters, which browsers strip
    before reading the scheme (``java<TAB>script:``).
    """
    if re.search(r"[\x00-\x20\x7f]", url):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


class ModulePage(Base):
    """One page of the education module that the education arm works through."""

    __tablename__ = "module_pages"
    __table_args__ = (UniqueConstraint("study_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    video_url: Mapped[str | None] = mapped_column(String(500))

    study: Mapped[Study] = relationship(back_populates="module_pages")

    @property
    def safe_video_url(self) -> str | None:
        """The video link if it is a web link, else None: pages render this, never ``video_url``.

        :func:`~study.services.studies.set_module_pages` refuses any other link; this is the
        second line, for rows written some other way.
        """
        return self.video_url if self.video_url and is_web_link(self.video_url) else None
