"""Attendance figures and the timelines behind them (ATT-2/3/4/7/8, SUP-1; issue 4 §4/§8: "every figure
must be explainable: the student and a supervisor can open the timeline that produced it").

Nothing is stored or re-judged here: every figure is recomputed on request from the lesson event logs
by ``server/attendance`` — ``classfigures.load`` reads each lesson's log once; ``lessonattendance``,
``offline`` and ``recordedstudy`` judge a lesson (ATT-1/3/4/5/6) and cut its timeline; ``absences``
counts CLS-7; ``daily`` gives the ATT-7 half-days and study photos; ``rollcall`` the ATT-8 windows.
This module only chooses who may read what and shapes the answers (page: client_web/attendance.html).

Who reads (SUP-1, PLAT-3):

* a class's table and roll calls — its institution's admin and lecturers, its assistants (only the
  classes they assist or head, LIVE-4), supervisors whose region covers it, platform admins; not
  students. Invisible classes answer 404 (server/api/common.get_class);
* one student's figures, timelines, checks and days — the same, and the student (their own only:
  another student's is 403; a class they are not on the roster of is 404);
* a study photo (ATT-7) — the same as the student's figures, for the photo's owner; every view by
  someone other than the owner is audited (PLAT-3), and every supervisor read is (SUP-6, endpoint.py).

Class totals (the "so far" of ATT-2): ATT-3 sums credited study and the lecturer's live time over the
live and offline lessons started so far (recorded lessons are self-paced study, ATT-5: their minutes
are shown on their own); ATT-4 sums every check due in every started lesson (live face samples, the
offline sign-in, recorded prompts and snapshots). Both compare exact fractions with the class's
profile thresholds, inclusive, as the per-lesson rules do.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from sqlalchemy import and_, or_, select
from starlette.responses import Response

from models import ClassAssistant, Enrolment, Lesson, LessonEvent, StoredFile, TrainingClass, User
from server.api.common import get_class
from server.api.endpoint import Api, Ctx
from server.attendance import classfigures, daily, offline, recordedstudy
from server.attendance.lessonattendance import REASONS as LIVE_REASONS
from server.attendance.rollcall import roll_call_report
from server.errors import ApiError, Forbidden, NotFound
from server.services import CHINA_TZ

api = Api()
STAFF_READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")
READERS = STAFF_READERS + ("student",)
MAX_ID = 2**31 - 1  # PostgreSQL integer: a larger id names nothing and must not reach the database

# Why a stretch of a lesson was not credited: every code the rules can give, in both languages.
REASON_LABELS: dict[str, dict[str, str]] = {
    "credited": {"zh": "计入学时", "en": "credited", "rule": "ATT-3"},
    # live lessons (lessonattendance.REASONS, in the order the rules apply)
    "not_connected": {"zh": "未在直播间", "en": "not connected", "rule": "ATT-3"},
    "lecturer_not_live": {"zh": "讲师未在直播", "en": "lecturer not live", "rule": "ATT-3"},
    "page_hidden": {"zh": "页面在后台", "en": "page hidden", "rule": "ATT-3"},
    "camera_off": {"zh": "摄像头未开", "en": "camera off", "rule": "ATT-1"},
    "face_unverified": {"zh": "人脸未核验", "en": "face not verified", "rule": "ATT-1"},
    "liveness_failed": {"zh": "活体检测未通过", "en": "liveness check failed", "rule": "ATT-1"},
    # offline lessons (offline.py)
    offline.NOT_SIGNED_IN: {"zh": "未签到（线下）", "en": "not signed in (offline)", "rule": "ATT-6"},
    # recorded lessons (recordedstudy.REASONS; page_hidden shared with live lessons)
    "no_heartbeat": {"zh": "无学习心跳（页面关闭或断网）", "en": "no heartbeat (page closed or offline)", "rule": "ATT-5"},
    "prompt_failed": {"zh": "人机验证未通过", "en": "human-machine check failed", "rule": "ATT-5"},
    "face_failed": {"zh": "拍照核验未通过", "en": "face snapshot failed", "rule": "ATT-5"},
    "prompt_open": {"zh": "验证题待回答", "en": "prompt awaiting an answer", "rule": "ATT-5"},
    "not_playing": {"zh": "视频未播放", "en": "video not playing", "rule": "ATT-5"},
    "seek": {"zh": "拖动进度", "en": "seeking", "rule": "ATT-5"},
}
assert set(LIVE_REASONS) | set(recordedstudy.REASONS) | {offline.NOT_SIGNED_IN} <= set(REASON_LABELS)
VERDICT_ZH = {"match": "本人", "mismatch": "非本人", "several": "多人", "absent": "无人", "poor_quality": "不清晰",
              "no_template": "无人脸底照", "no_sample": "未取到画面", "undecodable": "无法读取"}


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _ids(*ids: int) -> None:
    """Path ids beyond the column's range name nothing: 404, as for any unknown id."""
    if any(not 0 < i <= MAX_ID for i in ids):
        raise NotFound()


def _us(d: timedelta) -> int:
    return d // timedelta(microseconds=1)


def _share(part, whole) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def _f(x: Fraction | None) -> float | None:
    return round(float(x), 4) if x is not None else None


def _enrolled(ctx: Ctx, class_id: int, student_id: int) -> bool:
    return ctx.s.scalars(select(Enrolment.id).filter_by(class_id=class_id, student_user_id=student_id,
                                                        status="enrolled")).first() is not None


def _class(ctx: Ctx, class_id: int) -> TrainingClass:
    """The class if this user may read its attendance (module docstring), else 404 / 403."""
    _ids(class_id)
    u = ctx.user
    if u.role == "student":
        cls = ctx.s.get(TrainingClass, class_id)
        if cls is None or not _enrolled(ctx, class_id, u.id):
            raise NotFound("班期", "class")
        return cls
    cls = get_class(ctx, class_id)
    if u.role == "assistant" and cls.head_teacher_user_id != u.id \
            and ctx.s.get(ClassAssistant, (cls.id, u.id)) is None:
        raise Forbidden("NOT_CLASS_ASSISTANT", "助教只能查看自己所带班期的考勤",
                        "An assistant may read only the attendance of the classes they assist", rule="LIVE-4")
    return cls


def _own_or_staff(ctx: Ctx, student_id: int) -> None:
    if ctx.user.role == "student" and student_id != ctx.user.id:
        raise Forbidden("NOT_YOUR_ATTENDANCE", "学员只能查看本人的考勤", "A student may read only their own attendance",
                        rule="PLAT-3")


def _thresholds(ctx: Ctx, cls: TrainingClass, figures) -> dict:
    profile = ctx.svc.profiles.get(cls.profile)
    daily_share = getattr(profile, "daily_study_threshold", None)
    return {"live_time_ATT3": float(figures.rules.live_time_threshold),
            "attendance_ATT4": float(figures.rules.attendance_threshold),
            "daily_study_ATT7": daily_share, "absence_min_study_share": float(figures.absence_rules.min_study_share),
            "max_absences_CLS7": figures.absence_rules.max_absences}


def _liveness_counts(events) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for uid, payload in events:
        c = out.setdefault(uid, {"passed": 0, "failed": 0})
        c["passed" if (payload or {}).get("passed") else "failed"] += 1
    return out


def _load(ctx: Ctx, cls: TrainingClass, **kw):
    try:
        return classfigures.load(ctx.s, cls.id, ctx.svc.profiles, ctx.now, **kw)
    except classfigures.UnknownClass:
        raise NotFound("班期", "class") from None


@api.route("GET", "/api/classes/{class_id:int}/attendance", summary="班期考勤汇总 Class attendance so far",
           tag="attendance", roles=STAFF_READERS)
def class_attendance(ctx: Ctx, class_id: int):
    """ATT-2 per student over the lessons started so far: credited live study time, the lecturer's live
    time and their ratio against ATT-3, checks passed ÷ due against ATT-4, absences, leaves and the CLS-7
    bar, liveness challenges passed and failed (ATT-1). Thresholds are the class's region profile's."""
    cls = _class(ctx, class_id)
    figures = _load(ctx, cls)
    verdicts = figures.absences()
    liveness = _liveness_counts(ctx.s.execute(
        select(LessonEvent.user_id, LessonEvent.payload).join(Lesson, Lesson.id == LessonEvent.lesson_id)
        .where(Lesson.class_id == cls.id, LessonEvent.kind == "liveness", LessonEvent.at <= ctx.now)).all())
    items = []
    for uid, name in figures.roster:
        lv = liveness.get(uid, {"passed": 0, "failed": 0})
        items.append({"student_id": uid, "student_name": name, **classfigures.student_totals(figures, uid),
                      **classfigures.absence_summary(verdicts[uid]), "liveness_passed": lv["passed"],
                      "liveness_failed": lv["failed"]})
    started = [h for h in figures.lessons if h.found is not None]
    return {"class_id": cls.id, "class_name": cls.name, "course_type": cls.course_type, "profile": cls.profile,
            "status": cls.status, "as_of": _cn(ctx.now), "thresholds": _thresholds(ctx, cls, figures),
            "lessons_total": len(figures.lessons), "lessons_started": len(started), "items": items}


def _segment(seg) -> dict:
    code = seg.reason or "credited"
    label = REASON_LABELS.get(code, {"zh": code, "en": code, "rule": None})
    return {"start": _cn(seg.start), "end": _cn(seg.end), "seconds": round((seg.end - seg.start).total_seconds(), 1),
            "credited": seg.credited, "reason": seg.reason, "reason_zh": label["zh"], "reason_en": label["en"]}


def _face_check(ev) -> dict:
    p = ev.payload or {}
    verdict = p.get("verdict")
    return {"at": _cn(ev.at), "verdict": verdict, "verdict_zh": VERDICT_ZH.get(verdict, verdict),
            "distance": p.get("distance"), "source": p.get("source") or "live", "roll_call": p.get("roll_call"),
            "file_id": p.get("file_id")}


def _liveness(ev) -> dict:
    p = ev.payload or {}
    return {"at": _cn(ev.at), "passed": bool(p.get("passed")), "reasons": p.get("reasons") or [],
            "reasons_zh": p.get("reasons_zh") or [], "trigger": p.get("reason"), "attempt": p.get("attempt"),
            "identity": p.get("identity"), "via": p.get("via")}


def _sign_in(ev) -> dict:
    p = ev.payload or {}
    return {"at": _cn(ev.at), **{k: p.get(k) for k in ("action", "accepted", "reason", "distance_m", "radius_m",
                                                        "accuracy_m", "verdict", "face_distance")}}


def _lesson(held, uid: int, marks: dict) -> dict:
    le, mark = held.lesson, marks.get(held.lesson.id)
    out = {"lesson_id": le.id, "title": le.title, "mode": le.mode, "starts_at": _cn(held.starts_at),
           "ends_at": _cn(held.facts.ends_at), "class_hours": le.class_hours, "started": held.found is not None,
           "status_CLS7": mark.status if mark else None, "leave_id": mark.leave_id if mark else None}
    if held.found is None:
        return out
    a = held.found[uid]
    own = held.events or []
    ratio, rate = a.study_ratio, a.attendance_rate
    out.update({
        "study_seconds": round(a.study.total_seconds()), "live_seconds": round(a.live.total_seconds()),
        "study_ratio": _f(ratio), "meets_live_time_ATT3": a.meets_live_time, "checks_due": a.checks_due,
        "checks_passed": a.checks_passed, "attendance_rate": _f(rate), "meets_attendance_ATT4": a.meets_attendance,
        "reconnects": a.reconnects, "timeline": [_segment(s) for s in a.timeline],
        "face_checks": [_face_check(ev) for ev in own if ev.kind == "face_check"],
        "liveness": [_liveness(ev) for ev in own if ev.kind == "liveness"],
        "offline_sign_ins": [_sign_in(ev) for ev in own if ev.kind == offline.KIND],
    })
    return out


@api.route("GET", "/api/classes/{class_id:int}/attendance/{student_id:int}",
           summary="学员考勤明细与时间线 A student's attendance, timelines and checks", tag="attendance", roles=READERS)
def student_attendance(ctx: Ctx, class_id: int, student_id: int):
    """Every lesson's figures (ATT-3/4) with the timeline that produced them — each stretch credited or
    labelled with the first rule it failed — the face checks (verdict, distance), liveness verdicts, offline
    sign-ins (ATT-6), and per day the ATT-7 half-day sign-in/out, study time against the plan and the study
    photo. A student reads only their own."""
    _ids(class_id, student_id)
    cls = _class(ctx, class_id)
    _own_or_staff(ctx, student_id)
    figures = _load(ctx, cls, students=[student_id], keep_events=True)
    if not figures.roster:
        raise NotFound("学员", "student")
    verdict = figures.absences()[student_id]
    marks = {m.lesson_id: m for m in verdict.marks}
    lessons = [_lesson(h, student_id, marks) for h in figures.lessons]
    started = [h for h in figures.lessons if h.found is not None]
    days = daily.daily([(h.lesson, h.events, h.found) for h in started], [student_id], now=ctx.now,
                       rules=figures.rules)[student_id]
    share = getattr(ctx.svc.profiles.get(cls.profile), "daily_study_threshold", None)  # ATT-7 (Baotou)
    threshold = Fraction(str(share)) if share is not None else None
    alive = [bool((ev.payload or {}).get("passed"))
             for h in started for ev in (h.events or []) if ev.kind == "liveness"]  # ATT-1 verdicts
    return {
        "class_id": cls.id, "class_name": cls.name, "course_type": cls.course_type, "student_id": student_id,
        "student_name": figures.roster[0][1], "as_of": _cn(ctx.now), "thresholds": _thresholds(ctx, cls, figures),
        "summary": {**classfigures.student_totals(figures, student_id), **classfigures.absence_summary(verdict),
                    "liveness_passed": alive.count(True), "liveness_failed": alive.count(False)},
        "reasons": REASON_LABELS, "lessons": lessons,
        "days": [_day(d, threshold) for d in days],
    }


def _day(d, threshold) -> dict:
    out = d.as_dict(threshold)
    for half in out["halves"].values():
        for k in ("sign_in", "sign_out"):
            half[k] = _cn(datetime.fromisoformat(half[k])) if half[k] else None
    return out


@api.route("GET", "/api/classes/{class_id:int}/roll-calls", summary="点名合规报告 Roll-call compliance (ATT-8)",
           tag="attendance", roles=STAFF_READERS)
def roll_calls(ctx: Ctx, class_id: int):
    """ATT-8: the class's teaching period in windows of the region's interval (default two days), each
    with the roll calls made in it; ``ok`` unless lessons were taught and nobody roll-called."""
    cls = _class(ctx, class_id)
    report = roll_call_report(ctx.s, cls.id, ctx.svc.profiles, ctx.today)
    profile = ctx.svc.profiles.get(cls.profile)
    by = {c["by"] for c in report["roll_calls"] if c["by"] is not None}
    names = dict(ctx.s.execute(select(User.id, User.display_name).where(User.id.in_(by))).all()) if by else {}
    for c in report["roll_calls"]:
        c["at"] = _cn(datetime.fromisoformat(c["at"]))
        c["by_name"] = names.get(c["by"])
    return dict(report, rule="ATT-8", as_of=_cn(ctx.now), share=getattr(profile, "roll_call_share", None) or 0.5,
                required_by_profile=getattr(profile, "roll_call_every_days", None) is not None)


def _photo_of_class(ctx: Ctx, cls: TrainingClass, row: StoredFile) -> bool:
    """The photo was taken in one of this class's lessons: the live room's daily photo (``study_photo``)
    or a recorded lesson's snapshot (a ``face_check`` carrying it)."""
    payloads = ctx.s.scalars(
        select(LessonEvent.payload).join(Lesson, Lesson.id == LessonEvent.lesson_id).where(
            Lesson.class_id == cls.id, LessonEvent.user_id == row.owner_user_id,
            or_(LessonEvent.kind == "study_photo", and_(LessonEvent.kind == "face_check", Lesson.mode == "recorded"))))
    return any((p or {}).get("file_id") == row.id for p in payloads)


@api.route("GET", "/api/classes/{class_id:int}/study-photos/{file_id:int}",
           summary="学习照片 A study photo (JPEG, ATT-7)", tag="attendance", roles=READERS)
def study_photo(ctx: Ctx, class_id: int, file_id: int):
    """ATT-7: the day's study photo (or a recorded lesson's snapshot) of a student of this class, decrypted;
    to the student themselves and to whoever may read the class's attendance. Views by others are audited."""
    _ids(class_id, file_id)
    cls = _class(ctx, class_id)
    row = ctx.s.get(StoredFile, file_id)
    if row is None or row.kind != "study_photo" or row.owner_user_id is None or not _photo_of_class(ctx, cls, row):
        raise NotFound("学习照片", "study photo")
    _own_or_staff(ctx, row.owner_user_id)
    try:
        data = ctx.svc.files.read(row)
    except (OSError, ValueError):
        raise ApiError("FILE_UNAVAILABLE", "照片文件缺失或校验失败，已记录", "The photo file is missing or fails its checksum",
                       status=404) from None
    if ctx.user.id != row.owner_user_id:
        ctx.audit("attendance.study_photo_view", target_type="file", target_id=row.id,
                  institution_id=cls.institution_id, region_code=cls.district_code, class_id=cls.id,
                  student_id=row.owner_user_id)
    return Response(data, media_type=row.content_type, headers={"Cache-Control": "private, no-store"})
