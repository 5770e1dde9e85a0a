"""Issuing and revoking certificates (CERT-1..4): who may receive one, its number, snapshot and seal.

A certificate needs a finished class, a student still on its roll, and the student's eligibility
under the class's profile (EXAM-3, CLS-7: server/outcomes/eligibility.py) — a refusal lists each
student's unmet rules with their numbers; each student gets at most one certificate per class, and
the hours printed are the class-hours the student is credited (a Beijing approved plan adds 4, EXAM-2). All of a request's certificates are made in one transaction: any refusal
issues none, and their serials go back to the counter (numbering.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Enrolment, Institution, Lesson, StudentProfile, TrainingClass, User
from models.certificates import Certificate
from recorder.signing import PlatformKey
from server.certificates import numbering, signing
from server.errors import ApiError
from server.outcomes import eligibility
from server.services import CHINA_TZ
from server.webhooks.outbox import emit

ISSUABLE_CLASS_STATUSES = ("finished", "archived")
ON_ROLL = ("enrolled", "completed")


@dataclass(frozen=True)
class ClassFacts:
    class_month: date
    start_date: date
    end_date: date
    class_hours: int


def class_facts(s: Session, cls: TrainingClass) -> ClassFacts:
    """Year-month of the first lesson (CERT-2 培训班年月), first and last day, and scheduled class-hours."""
    first, last, hours = s.execute(select(func.min(Lesson.starts_at), func.max(Lesson.starts_at),
                                          func.coalesce(func.sum(Lesson.class_hours), 0))
                                   .where(Lesson.class_id == cls.id)).one()
    if first is None:
        raise ApiError("CERT_CLASS_NO_LESSONS", "班期没有课次，无法确定证书的培训班年月",
                       "The class has no lessons, so its year-month for the number is unknown", status=422,
                       rule="CERT-2")
    start, end = first.astimezone(CHINA_TZ).date(), last.astimezone(CHINA_TZ).date()
    return ClassFacts(start.replace(day=1), start, end, int(hours))


def issue(s: Session, *, cls: TrainingClass, student_ids: list[int], issuer: User, profile, key: PlatformKey,
          now: datetime) -> list[Certificate]:
    """Number, snapshot and seal one certificate per student (CERT-1, CERT-3); the caller commits."""
    if cls.status not in ISSUABLE_CLASS_STATUSES:
        raise ApiError("CERT_CLASS_NOT_FINISHED", "班期结业后才能发放证书",
                       f"Certificates are issued once the class has finished (it is {cls.status})",
                       field="class_id", status=409, rule="CERT-1", details={"status": cls.status})
    if len(set(student_ids)) != len(student_ids):
        raise ApiError("CERT_DUPLICATE_STUDENT", "学员列表中有重复", "A student is listed twice",
                       field="student_ids", status=422, rule="CERT-1")
    course = profile.courses.get(cls.course_type) if profile else None
    if course is None:
        raise ApiError("CERT_NO_COURSE_CODE", "该地区政策没有此课程的证书代码",
                       f"The profile has no certificate course code for {cls.course_type}",
                       field="course_type", status=422, rule="CERT-2")
    enrolled = {e.student_user_id: e for e in s.scalars(
        select(Enrolment).where(Enrolment.class_id == cls.id, Enrolment.student_user_id.in_(student_ids)))}
    missing = [i for i in student_ids if i not in enrolled or enrolled[i].status not in ON_ROLL]
    if missing:
        raise ApiError("CERT_NOT_ENROLLED", "所列学员不在本班期名册中", "Some students are not on this class's roll",
                       field="student_ids", status=422, rule="CERT-1", details={"student_ids": missing})
    already = list(s.scalars(select(Certificate.student_user_id).where(
        Certificate.class_id == cls.id, Certificate.student_user_id.in_(student_ids))))
    if already:
        raise ApiError("CERT_ALREADY_ISSUED", "所列学员已领取本班期证书", "Some students already hold this class's certificate",
                       field="student_ids", status=409, rule="CERT-1", details={"student_ids": sorted(already)})
    facts = class_facts(s, cls)
    verdicts = {v.student_id: v for v in eligibility.class_eligibility(s, cls.id, {profile.key: profile}, now,
                                                                       students=student_ids)}
    refused = [{"student_id": sid, "eligible": False,
                "rules": [x.rule for x in verdicts[sid].shortfalls] if sid in verdicts else ["EXAM-3"],
                "shortfalls": [x.as_dict() for x in verdicts[sid].shortfalls] if sid in verdicts else []}
               for sid in student_ids if sid not in verdicts or not verdicts[sid].eligible]
    if refused:
        raise ApiError("CERT_NOT_ELIGIBLE", "所列学员未满足结业条件（学习时长、出勤率、创业计划书、结业考试），不能发证",
                       "Some students do not meet the completion rules (live time, attendance, business plan, "
                       "final exam) and cannot receive a certificate", field="student_ids", status=409,
                       rule="EXAM-3", details={"students": refused})
    inst = s.get(Institution, cls.institution_id)
    issued_at = now.replace(microsecond=0)
    out = []
    for sid in student_ids:
        student = s.get(StudentProfile, sid)
        alloc = numbering.allocate(s, profile, district_code=cls.district_code, class_month=facts.class_month,
                                   course_code=course.cert_code, institution_id=inst.id,
                                   institution_code=inst.code, now=issued_at)
        cert = Certificate(
            number=alloc.number, scope_key=alloc.scope_key, series=alloc.series, serial=alloc.serial,
            class_id=cls.id, student_user_id=sid,
            student_name=student.real_name if student else s.get(User, sid).display_name,
            student_id_masked=student.id_masked if student else None,
            course_type=cls.course_type, course_name=course.name_zh, class_hours=verdicts[sid].credited_class_hours,
            start_date=facts.start_date, end_date=facts.end_date, institution_id=inst.id,
            institution_name=inst.name, district_code=cls.district_code, profile=profile.key,
            issued_at=issued_at, issued_by=issuer.id, status="valid")
        signing.seal(cert, key)
        s.add(cert)
        out.append(cert)
    s.flush()
    for cert in out:  # webhook certificate_issued, in the issuing transaction (an outbox)
        emit(s, "certificate_issued", {"certificate_id": cert.id, "number": cert.number, "class_id": cls.id,
                                       "student_user_id": cert.student_user_id, "course_type": cert.course_type},
             institution_id=inst.id, district_code=cls.district_code, now=issued_at)
    return out


def revoke(cert: Certificate, *, by: User, reason: str, now: datetime) -> None:
    """Mark a certificate revoked; the seal is untouched, so verification shows 'revoked', not 'invalid'."""
    if cert.status == "revoked":
        raise ApiError("CERT_ALREADY_REVOKED", "证书已被撤销", "The certificate is already revoked",
                       status=409, rule="CERT-4")
    cert.status, cert.revoked_at, cert.revoked_by, cert.revoke_reason = "revoked", now, by.id, reason
