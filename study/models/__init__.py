"""The data model (SQLAlchemy 2.0, one declarative base)."""

from study.models.allocation import Allocation, AllocationState
from study.models.analysis_plan import AnalysisPlan
from study.models.api_token import ApiToken
from study.models.audit import AuditEvent
from study.models.base import Base, utcnow
from study.models.contact import Booking, ContactSession, Facilitator, ModuleProgress, SessionStatus
from study.models.data_version import (  # its listeners make create_all build the version
    UNREPORTED,
    UNREPORTED_COLUMNS,
    read_version,
)
from study.models.fidelity import (
    SUPERVISION_THRESHOLDS,
    FidelityRating,
    SupervisionRecord,
    SupervisorKind,
)
from study.models.message import MessageKind, SentMessage
from study.models.participant import (
    JOURNEY_ORDER,
    Consent,
    ConsentChoice,
    Invitation,
    Participant,
    ParticipantContact,
    ParticipantStatus,
    WithdrawalReason,
)
from study.models.questionnaire import Answer, AnswerStatus, Response, ResponseStatus
from study.models.staff import Membership, Role, User
from study.models.study import (
    Arm,
    ArmKind,
    Cohort,
    ConsentDocument,
    ModulePage,
    Study,
    StudyInstrument,
    StudyStatus,
    Timepoint,
)

__all__ = [
    "JOURNEY_ORDER", "SUPERVISION_THRESHOLDS", "Allocation", "AllocationState", "AnalysisPlan",
    "Answer", "AnswerStatus", "ApiToken", "Arm", "ArmKind", "AuditEvent", "Base", "Booking",
    "Cohort", "Consent", "ConsentChoice", "ConsentDocument", "ContactSession", "Facilitator",
    "FidelityRating",
    "Invitation", "Membership", "MessageKind", "ModulePage", "ModuleProgress", "Participant",
    "ParticipantContact", "ParticipantStatus", "Response", "ResponseStatus", "Role", "SentMessage",
    "SessionStatus", "Study", "StudyInstrument", "StudyStatus", "SupervisionRecord",
    "SupervisorKind", "Timepoint", "UNREPORTED", "UNREPORTED_COLUMNS", "User", "WithdrawalReason",
    "read_version", "utcnow",
]
