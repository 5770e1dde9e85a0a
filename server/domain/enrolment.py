"""Who may join a class: one subsidised training a year, no program twice (REG-4), audience (REG-3)."""
from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from models import Enrolment, StudentProfile
from server.errors import Unprocessable
from server.policy.profiles import CourseRule, PolicyProfile

ACTIVE = ("enrolled", "completed", "failed")  # a withdrawal before training does not use the year


def prior_conflicts(s: Session, profile: PolicyProfile, student_id: int, year: int, course_type: str,
                    exclude_class_id: int) -> list[str]:
    """REG-4, checked across every institution: the person is identified by their ID number."""
    out = []
    others = s.query(Enrolment).filter(Enrolment.student_user_id == student_id, Enrolment.status.in_(ACTIVE),
                                       Enrolment.class_id != exclude_class_id, Enrolment.subsidised.is_(True)).all()
    if profile.one_subsidised_training_per_year and any(e.year == year for e in others):
        out.append("year")
    if profile.no_repeat_program and any(e.course_type == course_type for e in others):
        out.append("program")
    return out


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month - (later.day < earlier.day)


def audience_problem(course: CourseRule, p: StudentProfile, first_day: date) -> Unprocessable | None:
    """REG-3: a restricted program admits only its target groups, each with evidence."""
    if not course.audience:
        return None
    if p.target_group not in course.audience:
        return Unprocessable("TARGET_GROUP_NOT_ELIGIBLE",
                             f"该项目面向：{'、'.join(course.audience)}；学员类别为 {p.target_group}",
                             f"This program admits {', '.join(course.audience)}; the student is {p.target_group}",
                             field="student_id", rule="REG-3")
    if p.evidence_file_id is None:
        return Unprocessable("EVIDENCE_MISSING", "请学员上传重点群体证明材料",
                             "The student must upload evidence of the target group", field="student_id", rule="REG-3")
    if p.target_group == "graduate" and course.graduate_window_years:
        if p.graduation_year is None or not 0 <= first_day.year - p.graduation_year <= course.graduate_window_years:
            return Unprocessable("GRADUATE_WINDOW",
                                 f"高校毕业生须为毕业学年或离校 {course.graduate_window_years} 年内",
                                 f"Graduates qualify in their graduation year or within {course.graduate_window_years} years",
                                 field="student_id", rule="REG-3")
    if p.target_group == "new_business_owner" and course.business_age_max_months:
        if p.business_registered_on is None or _months_between(p.business_registered_on, first_day) >= course.business_age_max_months:
            return Unprocessable("BUSINESS_TOO_OLD",
                                 f"企业须在开班前 {course.business_age_max_months} 个月内注册",
                                 f"The business must be registered less than {course.business_age_max_months} months before the class",
                                 field="student_id", rule="REG-3")
    return None
