"""ORM models (SQLAlchemy 2) and their Alembic migrations.

Importing this package registers every table on :data:`Base.metadata`.
"""
from models.base import Base
from models.accounts import AuthSession, User
from models.audit import AuditLog
from models.calendar import CalendarOverride
import models.certificates  # noqa: F401 - CERT tables (issue 7)
import models.exams  # noqa: F401 - EXAM-1 tables (issue 7)
import models.coursework  # noqa: F401 - LIVE-7 homework, EXAM-2 business plans
import models.coursepackages  # noqa: F401 - COURSE-1/2/3
import models.subsidies  # noqa: F401 - SUB-1..4, REG-4
import models.sealkeys  # noqa: F401 - CERT-1 institution seals
import models.documents  # noqa: F401 - ATT-2 reports, REC-2 archives
from models.classes import ClassAssistant, ClassLecturer, ClassTransition, Enrolment, Lesson, TrainingClass
from models.events import LessonEvent
from models.faces import FaceTemplate
from models.files import StoredFile
from models.institutions import Institution
from models.leaves import LeaveLesson, LeaveRequest
from models.people import LecturerProfile, StudentProfile
from models.recordings import Recording
from models.sitevideos import SiteVideo
from models.spotchecks import SpotCheckBatch, SpotCheckItem
from models.supervision import ContentWarning, DailySummary, SensitiveWord, SpectatorLink
from models.videos import LessonVideo
from models.webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "AuditLog", "AuthSession", "Base", "CalendarOverride", "ClassAssistant", "ClassLecturer",
    "ClassTransition", "ContentWarning", "DailySummary", "Enrolment", "FaceTemplate", "Institution",
    "LeaveLesson", "LeaveRequest", "LecturerProfile", "Lesson", "LessonEvent", "LessonVideo", "Recording",
    "SensitiveWord", "SiteVideo", "SpectatorLink", "SpotCheckBatch", "SpotCheckItem", "StoredFile",
    "StudentProfile", "TrainingClass", "User", "WebhookDelivery", "WebhookEndpoint",
]
