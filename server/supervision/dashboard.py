"""Supervisor dashboards (SUP-1/2/3, PLAT-3; issue 6 §4): what HR sees of the classes in its region.

Read-only queries, each answering one table as row dicts plus its column spec (server/export.Column),
so the same rows feed the page, CSV and XLSX. Who may see what is decided by server/auth/scope.py: a
supervisor sees the classes whose district lies in their region (and the institutions running them),
an institution admin their own institution, a platform admin everything.

* **Personal data** (PLAT-3, SUB-3): the roster carries only the masked name, ID number and mobile
  (server/identity: ``mask_name``, ``mask_mobile``, the stored ``id_masked``) — never the birth date,
  which together with the masked ID number would give most of the digits back. The full number stays
  behind the audited reveal endpoint (server/api/students.py).
* **Lesson status** (SUP-2, :func:`lesson_status`): from the schedule, the class's workflow history
  and — when the lesson logs are read — whether the lecturer was ever live: ``planned``, ``live`` (a
  live lesson between its start and end in an open class), ``in_progress`` (an offline or recorded
  one), ``done``, ``not_held`` (the class was not open by then, or a live lesson ended with no
  lecturer live time in its log — absences.py's ``not_held``), ``cancelled`` (the class finished
  before the lesson's start). Lessons have no cancellation of their own in the data.
* **Progress** (SUP-2): class-hours delivered against planned. Lists go by the schedule only
  (``hours_elapsed``); a class's detail reads the lesson logs once and counts a live lesson as
  delivered only if its lecturer was live.
* **Attendance** (SUP-1, ATT-2/3/4, CLS-7): loaded once by ``server.attendance.classfigures`` and
  summed with server/api/attendance.py's own helpers, so every figure equals the attendance page's;
  each student row links to the timelines there (``/attendance?class=…&student=…``).
* **Exams and certificates** (SUP-3, EXAM-1, CERT-*): the class's papers with their progress, and the
  certificates issued with masked names (issue 7 builds them; the papers' contents are in server/api/exams.py)
  with an empty list, never with made-up rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Mapping

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, selectinload

from models import ClassTransition, Enrolment, Institution, LecturerProfile, Lesson, StudentProfile, TrainingClass, User
from models.certificates import Certificate
from models.exams import ExamAttempt, ExamPaper
from server.attendance import classfigures
from server.auth.scope import region_prefix, scope_classes, scope_institutions
from server.export import Column, columns_json
from server.identity.contact import mask_mobile, mask_name
from server.live.access import ROOM_STATUSES, room_open
from server.services import CHINA_TZ

OPERATING = ("open", "in_progress", "finished", "archived")  # the class ran (or runs): its lessons could be held
CLASS_STATUS_ZH = {"draft": "草稿", "submitted": "已提交待审核", "district_approved": "区县已审核",
                   "city_confirmed": "市级已确认", "province_confirmed": "省级已确认", "rejected": "已退回",
                   "open": "已开班", "in_progress": "培训中", "finished": "已结业", "archived": "已归档"}
LESSON_STATUS = {"planned": ("计划中", "planned"), "live": ("直播中", "live now"),
                 "in_progress": ("进行中", "in progress"), "done": ("已完成", "done"),
                 "not_held": ("未授课", "not held"), "cancelled": ("已取消", "cancelled")}
STATUS_REASON = {"class_not_open": ("班期当时未开班", "the class was not open then"),
                 "no_lecturer_live": ("日志中讲师未直播", "no lecturer live time in the lesson log"),
                 "class_finished": ("班期已提前结业", "the class had finished")}
MODE_ZH = {"live": "直播", "offline": "线下", "recorded": "录播"}
ENROLMENT_ZH = {"enrolled": "在读", "withdrawn": "已退班", "completed": "已结业", "failed": "未通过"}
GENDER_ZH = {"M": "男", "F": "女"}
TARGET_GROUP_ZH = {"graduate": "高校毕业生", "registered_unemployed": "登记失业人员",
                   "rural_migrant_worker": "农村转移就业劳动力", "veteran": "退役军人",
                   "prior_certificate": "已取得创业培训合格证", "competition_award": "市级以上创业大赛获奖者",
                   "new_business_owner": "新创小微企业负责人", "other": "其他"}
CERT_KIND_ZH = {"syb": "SYB 创业培训讲师", "network": "网络创业培训讲师", "beijing_basic": "北京创业培训讲师",
                "elite": "创业精英培训讲师"}
INSTITUTION_STATUS_ZH = {"pending": "待审核", "approved": "已审核", "suspended": "已暂停"}


def _col(key: str, zh: str, en: str, kind: str = "text") -> Column:
    return Column(key, zh, en, kind)


INSTITUTION_COLUMNS = (
    _col("id", "机构编号", "ID", "int"), _col("name", "机构名称", "Institution"), _col("code", "机构代码", "Code"),
    _col("credit_code", "统一社会信用代码", "Credit code"), _col("region_code", "所在区县", "District"),
    _col("status_zh", "状态", "Status"), _col("blacklisted", "黑名单", "Blacklisted", "bool"),
    _col("classes", "班期数", "Classes", "int"), _col("classes_running", "在训班期", "Running", "int"),
    _col("students", "在读学员", "Students", "int"), _col("hours_planned", "计划课时", "Hours planned", "int"))
CLASS_COLUMNS = (
    _col("id", "班期编号", "ID", "int"), _col("name", "班期名称", "Class"), _col("institution_name", "培训机构", "Institution"),
    _col("district_code", "区县", "District"), _col("course_type", "项目", "Course"),
    _col("delivery_mode", "培训方式", "Delivery"), _col("status_zh", "状态", "Status"),
    _col("students", "学员数", "Students", "int"), _col("first_day", "开课日期", "First day", "date"),
    _col("last_day", "结课日期", "Last day", "date"), _col("lessons_planned", "计划课次", "Lessons", "int"),
    _col("hours_planned", "计划课时", "Hours planned", "int"),
    _col("hours_elapsed", "已过课时（按课表）", "Hours elapsed (schedule)", "int"),
    _col("live_now", "正在直播", "Live now", "bool"), _col("live_lesson_title", "直播课次", "Live lesson"))
ROSTER_COLUMNS = (
    _col("student_id", "学员编号", "Student ID", "int"), _col("name_masked", "姓名（脱敏）", "Name (masked)"),
    _col("gender_zh", "性别", "Gender"), _col("id_number_masked", "身份证号（脱敏）", "ID number (masked)"),
    _col("mobile_masked", "手机号（脱敏）", "Mobile (masked)"), _col("target_group_zh", "重点群体", "Target group"),
    _col("status_zh", "学籍状态", "Enrolment"), _col("assistant_name", "助教", "Assistant"),
    _col("enrolled_at", "入班时间", "Enrolled at", "time"), _col("withdrawn_at", "退班时间", "Withdrawn at", "time"))
TEACHER_COLUMNS = (
    _col("user_id", "用户编号", "User ID", "int"), _col("name", "姓名", "Name"), _col("role_zh", "职责", "Role"),
    _col("certificate_no", "证书编号", "Certificate No."), _col("certificate_kind_zh", "证书类别", "Certificate kind"),
    _col("issuer", "发证机关", "Issuer"), _col("valid_from", "有效期起", "Valid from", "date"),
    _col("valid_until", "有效期止", "Valid until", "date"), _col("valid_today", "今日有效", "Valid today", "bool"),
    _col("valid_for_class", "覆盖全部课次", "Valid for the whole class", "bool"),
    _col("students", "负责学员数", "Students served", "int"))
LESSON_COLUMNS = (
    _col("lesson_id", "课次编号", "Lesson ID", "int"), _col("title", "课次", "Lesson"), _col("mode_zh", "形式", "Mode"),
    _col("starts_at", "开始", "Starts", "time"), _col("ends_at", "结束", "Ends", "time"),
    _col("class_hours", "课时", "Class-hours", "int"), _col("lecturer_name", "授课讲师", "Lecturer"),
    _col("venue_name", "线下场地", "Venue"), _col("status_zh", "状态", "Status"), _col("status_reason_zh", "说明", "Note"))
STUDENT_ATTENDANCE_COLUMNS = (
    _col("student_id", "学员编号", "Student ID", "int"), _col("name_masked", "姓名（脱敏）", "Name (masked)"),
    _col("study_minutes", "有效学时（分）", "Study min", "float"), _col("live_minutes", "直播时长（分）", "Live min", "float"),
    _col("study_ratio", "学时比例", "Study ratio (ATT-3)", "pct"),
    _col("meets_live_time_ATT3", "学时达标", "Meets ATT-3", "bool"),
    _col("checks_passed", "核验通过", "Checks passed", "int"), _col("checks_due", "应核验", "Checks due", "int"),
    _col("attendance_rate", "出勤率", "Attendance rate (ATT-4)", "pct"),
    _col("meets_attendance_ATT4", "出勤达标", "Meets ATT-4", "bool"), _col("absences", "缺勤次数", "Absences (CLS-7)", "int"),
    _col("leaves", "请假次数", "Leaves (CLS-7)", "int"), _col("barred_from_exam", "不得参加结业考核", "Barred (CLS-7)", "bool"),
    _col("recorded_study_minutes", "录播学习（分）", "Recorded study min (ATT-5)", "float"))
LESSON_ATTENDANCE_COLUMNS = (
    _col("lesson_id", "课次编号", "Lesson ID", "int"), _col("title", "课次", "Lesson"), _col("mode_zh", "形式", "Mode"),
    _col("starts_at", "开始", "Starts", "time"), _col("class_hours", "课时", "Class-hours", "int"),
    _col("status_zh", "状态", "Status"), _col("lecturer_live_minutes", "讲师直播（分）", "Lecturer live min", "float"),
    _col("roster", "应到", "Roster", "int"), _col("present", "出勤", "Present", "int"),
    _col("absent", "缺勤", "Absent", "int"),
    _col("leave", "请假", "On leave", "int"), _col("meets_live_time_ATT3", "学时达标人数", "Meeting ATT-3", "int"),
    _col("meets_attendance_ATT4", "出勤达标人数", "Meeting ATT-4", "int"),
    _col("checks_passed", "核验通过", "Checks passed", "int"), _col("checks_due", "应核验", "Checks due", "int"))


# --------------------------------------------------------------------------- time and status

def cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def cn_day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


@dataclass(frozen=True)
class ClassTimes:
    """When the class was opened and finished (CLS-1 workflow history); None: not (yet), or unrecorded."""
    opened_at: datetime | None = None
    finished_at: datetime | None = None


def class_times(s: Session, class_ids: Iterable[int]) -> dict[int, ClassTimes]:
    ids = list(class_ids)
    if not ids:
        return {}
    rows = s.execute(select(ClassTransition.class_id, ClassTransition.action, func.min(ClassTransition.at))
                     .where(ClassTransition.class_id.in_(ids), ClassTransition.action.in_(("open", "finish")))
                     .group_by(ClassTransition.class_id, ClassTransition.action)).all()
    found: dict[int, dict[str, datetime]] = {}
    for cid, action, at in rows:
        found.setdefault(cid, {})[action] = at
    return {cid: ClassTimes(found.get(cid, {}).get("open"), found.get(cid, {}).get("finish")) for cid in ids}


def lesson_status(class_status: str, times: ClassTimes, lesson: Lesson, now: datetime,
                  lecturer_live: timedelta | None = None) -> tuple[str, str | None]:
    """(status, reason) of one lesson (module docstring). ``lecturer_live`` is the lesson log's lecturer
    live time when it was read (None: judge by the schedule only)."""
    starts, ends = lesson.starts_at, lesson.ends_at
    if times.finished_at is not None and starts >= times.finished_at:
        return "cancelled", "class_finished"
    if now < starts:
        return "planned", None
    opened = class_status in OPERATING and (times.opened_at is None or times.opened_at < ends)
    if not opened:
        return "not_held", "class_not_open"
    if now < ends and class_status in ROOM_STATUSES:
        return ("live" if lesson.mode == "live" else "in_progress"), None
    if lesson.mode == "live" and lecturer_live is not None and lecturer_live <= timedelta(0):
        return "not_held", "no_lecturer_live"
    return "done", None


def _status_fields(status: str, reason: str | None) -> dict:
    zh, en = LESSON_STATUS[status]
    rz, re_ = STATUS_REASON.get(reason, (None, None)) if reason else (None, None)
    return {"status": status, "status_zh": zh, "status_en": en, "status_reason": reason,
            "status_reason_zh": rz, "status_reason_en": re_}


def progress(lessons: list[tuple[Lesson, str]], now: datetime, *, basis: str,
             required_hours: int | None = None) -> dict:
    """SUP-2: class-hours by lesson status (delivered + not held + now + remaining = planned), and
    ``hours_elapsed``: those of lessons whose end has passed. ``basis`` says what "delivered" rests on:
    ``schedule`` or ``lesson_log`` (a live lesson counts only if its lecturer was live)."""
    hours = {k: 0 for k in LESSON_STATUS}
    count = {k: 0 for k in LESSON_STATUS}
    elapsed = 0
    for lesson, status in lessons:
        hours[status] += lesson.class_hours
        count[status] += 1
        if status != "cancelled" and lesson.ends_at <= now:
            elapsed += lesson.class_hours
    planned = sum(hours.values()) - hours["cancelled"]
    return {"basis": basis, "hours_planned": planned, "hours_delivered": hours["done"],
            "hours_not_held": hours["not_held"], "hours_elapsed": elapsed,
            "hours_now": hours["live"] + hours["in_progress"], "hours_cancelled": hours["cancelled"],
            "hours_remaining": hours["planned"],
            "delivered_share": round(hours["done"] / planned, 4) if planned else None,
            "required_hours_CLS4": required_hours, "lessons": count,
            "lessons_planned": sum(count.values()) - count["cancelled"]}


# --------------------------------------------------------------------------- lists (region-scoped)

def _enrolled_counts(s: Session, class_ids: list[int]) -> dict[int, int]:
    if not class_ids:
        return {}
    return dict(s.execute(select(Enrolment.class_id, func.count()).where(
        Enrolment.class_id.in_(class_ids), Enrolment.status == "enrolled").group_by(Enrolment.class_id)).all())


def _class_row(cls: TrainingClass, students: int, times: ClassTimes, now: datetime) -> dict:
    statuses = [(le, lesson_status(cls.status, times, le, now)[0]) for le in cls.lessons]
    prog = progress(statuses, now, basis="schedule")
    live = next((le for le, st in statuses if st == "live"), None)
    enter = next((le for le in cls.lessons if le.mode == "live" and room_open(cls, le, now)), None)
    lessons = cls.lessons
    return {"id": cls.id, "name": cls.name, "institution_id": cls.institution_id,
            "institution_name": cls.institution.name, "district_code": cls.district_code,
            "course_type": cls.course_type, "delivery_mode": cls.delivery_mode, "profile": cls.profile,
            "status": cls.status, "status_zh": CLASS_STATUS_ZH.get(cls.status, cls.status), "students": students,
            "first_day": cn_day(lessons[0].starts_at).isoformat() if lessons else None,
            "last_day": cn_day(lessons[-1].starts_at).isoformat() if lessons else None,
            "lessons_planned": prog["lessons_planned"], "hours_planned": prog["hours_planned"],
            "hours_elapsed": prog["hours_elapsed"], "lessons_today": sum(cn_day(le.starts_at) == cn_day(now)
                                                                         for le, st in statuses if st != "cancelled"),
            "live_now": live is not None, "live_lesson_id": live.id if live else None,
            "live_lesson_title": live.title if live else None,
            "spectate_lesson_id": enter.id if enter else None,  # SUP-4: a live room open to spectators now
            "spectate_lesson_title": enter.title if enter else None}


def classes(s: Session, user: User, now: datetime, *, status: str | None = None, institution_id: int | None = None,
            live_now: bool | None = None) -> list[dict]:
    """The classes ``user`` may see, live ones first, then newest; filters as the API offers them."""
    stmt = scope_classes(select(TrainingClass), user).options(selectinload(TrainingClass.lessons))
    if status:
        stmt = stmt.where(TrainingClass.status == status)
    if institution_id is not None:
        stmt = stmt.where(TrainingClass.institution_id == institution_id)
    found = list(s.scalars(stmt).unique())
    ids = [c.id for c in found]
    counts, times = _enrolled_counts(s, ids), class_times(s, ids)
    rows = [_class_row(c, counts.get(c.id, 0), times[c.id], now) for c in found]
    if live_now is not None:
        rows = [r for r in rows if r["live_now"] == live_now]
    return sorted(rows, key=lambda r: (not r["live_now"], -r["id"]))


def institutions(s: Session, user: User, now: datetime, class_rows: list[dict] | None = None) -> list[dict]:
    """Institutions in the user's region, and any elsewhere that run a class in it (a city's institution
    may hold a class in one of its districts). ``class_rows``: :func:`classes` already read."""
    class_rows = classes(s, user, now) if class_rows is None else class_rows
    ids = set(s.scalars(scope_institutions(select(Institution.id), user))) | {r["institution_id"] for r in class_rows}
    out = []
    for inst in s.scalars(select(Institution).where(Institution.id.in_(ids)).order_by(Institution.id)):
        mine = [r for r in class_rows if r["institution_id"] == inst.id]
        out.append({"id": inst.id, "name": inst.name, "code": inst.code, "credit_code": inst.credit_code,
                    "region_code": inst.region_code, "profile": inst.profile, "status": inst.status,
                    "status_zh": INSTITUTION_STATUS_ZH.get(inst.status, inst.status), "blacklisted": inst.blacklisted,
                    "classes": len(mine), "classes_running": sum(r["status"] in ROOM_STATUSES for r in mine),
                    "students": sum(r["students"] for r in mine if r["status"] in OPERATING),
                    "hours_planned": sum(r["hours_planned"] for r in mine)})
    return out


def scope_of(user: User) -> dict:
    d = {"role": user.role, "region_level": None, "region_code": None, "region_prefix": None,
         "institution_id": None}
    if user.role == "supervisor" and user.region_level and user.region_code:
        d.update(region_level=user.region_level, region_code=user.region_code,
                 region_prefix=region_prefix(user.region_level, user.region_code))
    elif user.role != "platform_admin":
        d["institution_id"] = user.institution_id
    return d


def overview(s: Session, user: User, now: datetime) -> dict:
    """SUP-1: the region at a glance — institutions, classes by status, students, today's and live lessons."""
    class_rows = classes(s, user, now)
    inst_rows = institutions(s, user, now, class_rows)
    by_status: dict[str, int] = {}
    for r in class_rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    scoped = scope_classes(select(TrainingClass.id), user).where(TrainingClass.status.in_(OPERATING))
    students = s.scalar(select(func.count(distinct(Enrolment.student_user_id))).where(
        Enrolment.status == "enrolled", Enrolment.class_id.in_(scoped))) or 0
    running = [r for r in class_rows if r["status"] in OPERATING]
    return {
        "scope": scope_of(user), "as_of": cn(now),
        "institutions": {"total": len(inst_rows), "approved": sum(i["status"] == "approved" for i in inst_rows),
                         "pending": sum(i["status"] == "pending" for i in inst_rows),
                         "suspended": sum(i["status"] == "suspended" for i in inst_rows),
                         "blacklisted": sum(i["blacklisted"] for i in inst_rows)},
        "classes": {"total": len(class_rows), "by_status": by_status,
                    "running": sum(r["status"] in ROOM_STATUSES for r in class_rows),
                    "awaiting_review": sum(r["status"] in ("submitted", "district_approved", "city_confirmed")
                                           for r in class_rows)},
        "students_enrolled": students,
        "lessons_today": sum(r["lessons_today"] for r in running),
        "live_now": {"classes": sum(r["live_now"] for r in class_rows),
                     "items": [{k: r[k] for k in ("id", "name", "institution_name", "live_lesson_id",
                                                  "live_lesson_title", "spectate_lesson_id")}
                               for r in class_rows if r["live_now"]]},
        "hours": {"planned": sum(r["hours_planned"] for r in running),
                  "elapsed": sum(r["hours_elapsed"] for r in running), "basis": "schedule"},
    }


# --------------------------------------------------------------------------- one class

def class_summary(cls: TrainingClass, students: int) -> dict:
    return {"id": cls.id, "name": cls.name, "institution_id": cls.institution_id,
            "institution_name": cls.institution.name, "district_code": cls.district_code,
            "course_type": cls.course_type, "delivery_mode": cls.delivery_mode, "profile": cls.profile,
            "status": cls.status, "status_zh": CLASS_STATUS_ZH.get(cls.status, cls.status), "students": students,
            "head_teacher_id": cls.head_teacher_user_id, "platform_name": cls.platform_name}


def _names(s: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return dict(s.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all())


def roster(s: Session, cls: TrainingClass) -> list[dict]:
    """SUP-1 / PLAT-3: every enrolment (enrolled first), masked as the module docstring says."""
    rows = s.execute(select(Enrolment, StudentProfile).join(
        StudentProfile, StudentProfile.user_id == Enrolment.student_user_id).where(Enrolment.class_id == cls.id)
        .order_by(Enrolment.status != "enrolled", Enrolment.id)).all()
    names = _names(s, (e.assistant_user_id for e, _ in rows))
    return [{"student_id": p.user_id, "name_masked": mask_name(p.real_name), "gender": p.gender,
             "gender_zh": GENDER_ZH.get(p.gender, p.gender), "id_number_masked": p.id_masked,
             "mobile_masked": mask_mobile(p.mobile), "target_group": p.target_group,
             "target_group_zh": TARGET_GROUP_ZH.get(p.target_group, p.target_group), "status": e.status,
             "status_zh": ENROLMENT_ZH.get(e.status, e.status), "assistant_id": e.assistant_user_id,
             "assistant_name": names.get(e.assistant_user_id), "enrolled_at": cn(e.enrolled_at),
             "withdrawn_at": cn(e.withdrawn_at),
             "timeline_url": f"/attendance?class={cls.id}&student={p.user_id}" if e.status == "enrolled" else None}
            for e, p in rows]


def teachers(s: Session, cls: TrainingClass, today: date) -> list[dict]:
    """SUP-1 / CLS-2: lecturers with their certificate as stored (number, kind, issuer, validity, and
    whether it covers every lesson day), then assistants (LIVE-4 group sizes) and the head teacher."""
    days = [cn_day(le.starts_at) for le in cls.lessons]
    groups: dict[int, int] = dict(s.execute(select(Enrolment.assistant_user_id, func.count()).where(
        Enrolment.class_id == cls.id, Enrolment.status == "enrolled", Enrolment.assistant_user_id.is_not(None))
        .group_by(Enrolment.assistant_user_id)).all())
    people = [(cl.user_id, "lead" if cl.is_lead else "lecturer") for cl in cls.lecturers]
    people += [(a.user_id, "assistant") for a in cls.assistants]
    if cls.head_teacher_user_id and cls.head_teacher_user_id not in {uid for uid, _ in people}:
        people.append((cls.head_teacher_user_id, "head_teacher"))
    names = _names(s, (uid for uid, _ in people))
    certs = {p.user_id: p for p in s.scalars(select(LecturerProfile).where(
        LecturerProfile.user_id.in_([uid for uid, _ in people])))} if people else {}
    role_zh = {"lead": "讲师（教学组长）", "lecturer": "讲师", "assistant": "助教", "head_teacher": "班主任"}
    out = []
    for uid, role in people:
        p = certs.get(uid) if role in ("lead", "lecturer") else None
        zh = role_zh[role] + ("、班主任" if uid == cls.head_teacher_user_id and role != "head_teacher" else "")
        out.append({"user_id": uid, "name": names.get(uid), "role": role, "role_zh": zh, "is_lead": role == "lead",
                    "is_head_teacher": uid == cls.head_teacher_user_id,
                    "certificate_no": p.certificate_no if p else None,
                    "certificate_kind": p.certificate_kind if p else None,
                    "certificate_kind_zh": CERT_KIND_ZH.get(p.certificate_kind, p.certificate_kind) if p else None,
                    "issuer": p.issuer if p else None, "valid_from": p.valid_from.isoformat() if p else None,
                    "valid_until": p.valid_until.isoformat() if p else None,
                    "valid_today": (p.valid_from <= today <= p.valid_until) if p else None,
                    "valid_for_class": p.valid_through(min(days), max(days)) if p and days else None,
                    "students": groups.get(uid, 0) if role == "assistant" else None})
    return out


def load_figures(s: Session, cls: TrainingClass, profiles: Mapping, now: datetime):
    """The class's attendance figures (every lesson log read once), shared by schedule and attendance."""
    return classfigures.load(s, cls.id, profiles, now)


def _lecturer_live(figures) -> dict[int, timedelta]:
    return {h.lesson.id: h.facts.live for h in figures.lessons if h.found is not None} if figures else {}


def schedule(s: Session, cls: TrainingClass, now: datetime, profiles: Mapping, figures=None) -> tuple[list[dict], dict]:
    """SUP-2: each lesson with its status, and the class's progress. With ``figures`` (load_figures) a
    live lesson's delivery rests on its log; without, on the schedule."""
    times = class_times(s, [cls.id])[cls.id]
    live = _lecturer_live(figures)
    names = _names(s, (le.lecturer_user_id for le in cls.lessons))
    rows, judged = [], []
    for le in cls.lessons:
        status, reason = lesson_status(cls.status, times, le, now, live.get(le.id) if figures else None)
        judged.append((le, status))
        rows.append({"lesson_id": le.id, "title": le.title, "mode": le.mode, "mode_zh": MODE_ZH.get(le.mode, le.mode),
                     "starts_at": cn(le.starts_at), "ends_at": cn(le.ends_at), "day": cn_day(le.starts_at).isoformat(),
                     "class_hours": le.class_hours, "lecturer_id": le.lecturer_user_id,
                     "lecturer_name": names.get(le.lecturer_user_id), "venue_name": le.venue_name,
                     **_status_fields(status, reason),
                     "lecturer_live_minutes": round(live[le.id].total_seconds() / 60, 1) if le.id in live else None,
                     "room_open": le.mode == "live" and room_open(cls, le, now)})
    profile = profiles.get(cls.profile)
    course = profile.courses.get(cls.course_type) if profile is not None else None
    prog = progress(judged, now, basis="lesson_log" if figures else "schedule",
                    required_hours=course.min_class_hours if course else None)
    return rows, prog


def attendance(cls: TrainingClass, figures, lessons: list[dict]) -> dict:
    """SUP-1 / ATT-2: per student over the lessons started so far (the attendance page's figures), and per
    lesson (CLS-7 marks counted, ATT-3/4 met). ``lessons`` are :func:`schedule`'s rows, for their status."""
    verdicts = figures.absences()
    names = dict(figures.roster)
    students = []
    for uid, name in figures.roster:
        t, a = classfigures.student_totals(figures, uid), classfigures.absence_summary(verdicts[uid])
        students.append({"student_id": uid, "name_masked": mask_name(name), **t, **a,
                         "study_minutes": round(t["study_seconds"] / 60, 1),
                         "live_minutes": round(t["live_seconds"] / 60, 1),
                         "recorded_study_minutes": round(t["recorded_study_seconds"] / 60, 1),
                         "timeline_url": f"/attendance?class={cls.id}&student={uid}"})
    marks = {(uid, m.lesson_id): m.status for uid, v in verdicts.items() for m in v.marks}
    by_id = {r["lesson_id"]: r for r in lessons}
    per_lesson = []
    for held in figures.lessons:
        le, row = held.lesson, by_id.get(held.lesson.id, {})
        d = {"lesson_id": le.id, "title": le.title, "mode": le.mode, "mode_zh": MODE_ZH.get(le.mode, le.mode),
             "starts_at": cn(held.starts_at), "class_hours": le.class_hours, "started": held.found is not None,
             "status": row.get("status"), "status_zh": row.get("status_zh"), "status_en": row.get("status_en"),
             "roster": len(names),
             "lecturer_live_minutes": None, "present": None, "absent": None, "leave": None,
             "meets_live_time_ATT3": None, "meets_attendance_ATT4": None, "checks_passed": None, "checks_due": None}
        if held.found is not None:
            found = [held.found[uid] for uid in names]
            st = [marks.get((uid, le.id)) for uid in names]
            d.update(lecturer_live_minutes=round(held.facts.live.total_seconds() / 60, 1),
                     present=st.count("present"), absent=st.count("absent"), leave=st.count("leave"),
                     meets_live_time_ATT3=sum(a.meets_live_time for a in found),
                     meets_attendance_ATT4=sum(a.meets_attendance for a in found),
                     checks_passed=sum(a.checks_passed for a in found), checks_due=sum(a.checks_due for a in found))
        per_lesson.append(d)
    rules = figures.rules
    return {"thresholds": {"live_time_ATT3": float(rules.live_time_threshold),
                           "attendance_ATT4": float(rules.attendance_threshold),
                           "max_absences_CLS7": figures.absence_rules.max_absences},
            "lessons_started": sum(h.found is not None for h in figures.lessons), "lessons_total": len(figures.lessons),
            "students": students, "lessons": per_lesson}


EXAM_COLUMNS = (
    _col("title", "试卷", "Paper"), _col("questions", "题数", "Questions", "int"),
    _col("total_points", "总分", "Total points", "int"), _col("pass_mark", "及格线（%）", "Pass mark (%)", "int"),
    _col("duration_minutes", "时长（分钟）", "Minutes", "int"), _col("opens_at", "开放", "Opens", "time"),
    _col("closes_at", "截止", "Closes", "time"), _col("started", "已开考", "Started", "int"),
    _col("submitted", "已交卷", "Submitted", "int"), _col("graded", "已评分", "Graded", "int"),
    _col("passed", "及格", "Passed", "int"))
CERTIFICATE_COLUMNS = (
    _col("number", "证书编号", "Number"), _col("name_masked", "姓名（脱敏）", "Name (masked)"),
    _col("course_type", "课程", "Course"), _col("class_hours", "学时", "Class-hours", "int"),
    _col("issued_at", "发证时间", "Issued", "time"), _col("status_zh", "状态", "Status"),
    _col("revoked_at", "撤销时间", "Revoked", "time"))


def exams(s: Session, cls: TrainingClass) -> dict:
    """SUP-3: the class's exam papers and how far their attempts are; contents (with keys) are read at
    /api/exam-papers/{id}, scores at /api/exam-papers/{id}/scores (server/api/exams.py)."""
    papers = s.scalars(select(ExamPaper).where(ExamPaper.class_id == cls.id).order_by(ExamPaper.id)).all()
    attempts: dict[int, list] = {}
    if papers:
        for a in s.scalars(select(ExamAttempt).where(ExamAttempt.paper_id.in_([p.id for p in papers]))):
            attempts.setdefault(a.paper_id, []).append(a)
    items = []
    for p in papers:
        mine = attempts.get(p.id, [])
        items.append({"paper_id": p.id, "title": p.title, "questions": len(p.items), "total_points": p.total_points,
                      "pass_mark": p.pass_mark, "duration_minutes": p.duration_minutes, "opens_at": cn(p.opens_at),
                      "closes_at": cn(p.closes_at), "started": len(mine),
                      "submitted": sum(a.submitted_at is not None for a in mine),
                      "graded": sum(a.status == "graded" for a in mine), "passed": sum(bool(a.passed) for a in mine),
                      "paper_url": f"/api/exam-papers/{p.id}", "scores_url": f"/api/exam-papers/{p.id}/scores"})
    return {"available": True, "rules": ["SUP-3", "EXAM-1"], "columns": columns_json(EXAM_COLUMNS), "items": items}


def certificates(s: Session, cls: TrainingClass) -> dict:
    """SUP-1 / CERT-*: the certificates issued to the class, names masked (the verification page shows
    the same masked name to the public)."""
    rows = s.scalars(select(Certificate).where(Certificate.class_id == cls.id).order_by(Certificate.serial)).all()
    items = [{"certificate_id": c.id, "number": c.number, "name_masked": mask_name(c.student_name),
              "course_type": c.course_type, "class_hours": c.class_hours, "issued_at": cn(c.issued_at),
              "status": c.status, "status_zh": "有效" if c.status == "valid" else "已撤销",
              "revoked_at": cn(c.revoked_at)} for c in rows]
    return {"available": True, "rules": ["SUP-1", "CERT-1", "CERT-3", "CERT-4"],
            "columns": columns_json(CERTIFICATE_COLUMNS), "items": items}


def enrolled_count(s: Session, cls: TrainingClass) -> int:
    return _enrolled_counts(s, [cls.id]).get(cls.id, 0)
