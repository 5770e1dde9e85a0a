"""REG-4 duplicates across institutions: the same person twice in a year, or the same program twice.

Enrolment already refuses these (server/domain/enrolment.py), but a roster is a claim for money, so it
is checked again when the claim is made: enrolments made before a rule change, under a profile with
the rule off, or by a class re-opened after a withdrawal would otherwise be paid twice. The person is
found by the keyed hash of their ID number (``StudentProfile.id_index``), so the check spans every
institution. A flag shows on both rosters; it excludes the student from this class's claim until a
supervisor clears it for this class with a reason (``SubsidyFlagClearance``, audited by the API).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Enrolment, StudentProfile, TrainingClass
from models.subsidies import SubsidyFlagClearance
from server.domain.enrolment import ACTIVE


@dataclass(frozen=True)
class DuplicateFlag:
    student_id: int
    kind: str  # "year" | "program"
    other_class_id: int
    other_class: TrainingClass
    cleared: bool
    clear_reason: str | None

    def as_dict(self, visible: bool) -> dict:
        """``visible``: the viewer may see the other class, so it is named; else only that one exists."""
        o = self.other_class
        zh = "同一年度已参加另一期补贴性创业培训" if self.kind == "year" else "同一创业培训项目重复参加"
        en = ("Another subsidised training in the same year" if self.kind == "year"
              else "The same program taken twice")
        out = {"rule": "REG-4", "kind": self.kind, "message_zh": zh, "message_en": en, "cleared": self.cleared,
               "clear_reason": self.clear_reason, "other_visible": visible, "other_course_type": o.course_type}
        if visible:
            out.update(other_class_id=o.id, other_class_name=o.name, other_institution_id=o.institution_id,
                       other_institution_name=o.institution.name if o.institution else None)
        return out


def class_flags(s: Session, cls: TrainingClass, profile) -> dict[int, list[DuplicateFlag]]:
    """Every REG-4 flag of the class's active subsidised enrolments, by student."""
    mine = {e.student_user_id: e for e in s.scalars(select(Enrolment).where(
        Enrolment.class_id == cls.id, Enrolment.status.in_(ACTIVE)))}
    if not mine or not cls.subsidised:
        return {}
    index = dict(s.execute(select(StudentProfile.user_id, StudentProfile.id_index)
                           .where(StudentProfile.user_id.in_(mine))).all())
    same_person = select(StudentProfile.user_id, StudentProfile.id_index).where(
        StudentProfile.id_index.in_(set(index.values())))
    person_of = {uid: idx for uid, idx in s.execute(same_person).all()}
    by_index: dict[str, int] = {idx: uid for uid, idx in index.items()}
    others = s.scalars(select(Enrolment).where(
        Enrolment.student_user_id.in_(person_of), Enrolment.class_id != cls.id, Enrolment.status.in_(ACTIVE),
        Enrolment.subsidised.is_(True))).all()
    cleared = {(c.student_user_id, c.other_class_id, c.kind): c.reason for c in s.scalars(
        select(SubsidyFlagClearance).where(SubsidyFlagClearance.class_id == cls.id))}
    out: dict[int, list[DuplicateFlag]] = {}
    for other in others:
        sid = by_index[person_of[other.student_user_id]]
        kinds = []
        if profile.one_subsidised_training_per_year and other.year == mine[sid].year:
            kinds.append("year")
        if profile.no_repeat_program and other.course_type == cls.course_type:
            kinds.append("program")
        for kind in kinds:
            key = (sid, other.class_id, kind)
            out.setdefault(sid, []).append(DuplicateFlag(sid, kind, other.class_id, other.training_class,
                                                         key in cleared, cleared.get(key)))
    return out
