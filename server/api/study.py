"""Recorded lessons (ATT-5, PLAT-1, COURSE-1): the course video, and a student's study of it on the
phone page (client_web/study.html) with random human-machine prompts and face snapshots.

* Institution staff upload a lesson's video as the raw request body (``video/mp4`` or
  ``video/webm``, at most ``QIHANG_MAX_VIDEO_MB``); it is sniffed, probed and stored encrypted
  (server/videoserve.py). Once students have studied it, it can no longer be replaced.
* The video is served with HTTP Range (seekable) to the class's roster, staff and supervisors;
  the page's ``<video>`` uses a signed ticket in the URL since it cannot send the bearer token.
  A lesson that plays a course package has no video of its own: its material is its share of the
  package, served part by part (``?part=N``) and studied on one joined timeline (server/study/material.py).
* The page reports heartbeats; the server decides when to ask a prompt and delivers it in a
  heartbeat's response (server/study/session.py). Answers and snapshots come back here; each
  snapshot is judged against the enrolled face (server/identity/facephoto.py, one checker per
  process under a lock). Everything is appended to the lesson event log as it happens.
* Staff and supervisors read every student's credited time with its timeline (the supervision
  data ATT-5 sends to the management platform; server/attendance/recordedstudy.py).

Heartbeats, answers and snapshots are writes and are audited like every write (SUP-6).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field
from sqlalchemy import select

from models import ClassLecturer, Enrolment, Lesson, LessonEvent, LessonVideo, StoredFile, TrainingClass, User
from server.api.common import get_class
from server.api.endpoint import Api, Ctx, Upload
from server.attendance.lessonattendance import AttendanceRules
from server.attendance.recordedstudy import KINDS as STUDY_KINDS
from server.attendance.recordedstudy import StudyRules, study
from server.auth.scope import can_see_class
from server.errors import ApiError, Forbidden, NotFound, Unauthorized
from server.identity.errors import IdentityError
from server.identity.facephoto import check_photo
from server.identity.photos import process_image
from server.live import eventlog
from server.live.access import ROOM_EARLY
from server.live.bus import default_node_id
from server.services import CHINA_TZ
from server.study.material import Material, material_of, package_of
from server.study.session import RULE, Study, serialised
from server.validation import Body, Query
from server.videoserve import VIDEO_TYPES, VideoStore, make_ticket, range_response, read_ticket, receive_video

api = Api()
NODE_ID = f"api:{default_node_id()}"  # which process wrote the event (the log records its writer)
CLASS_RUNNING = ("open", "in_progress")
UPLOADERS = ("institution_admin", "lecturer")
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")
TICKET_TTL = timedelta(hours=6)
SNAPSHOT_FIELDS = {
    "prompt_id": "验证题编号 The prompt this snapshot answers",
    "photo": "摄像头拍摄的本人照片（JPEG/PNG） Camera snapshot of the student (JPEG/PNG)",
}
FACE_MESSAGES = {
    "match": ("人脸核验通过", "Face verified"),
    "absent": ("照片中未检测到人脸：请正对摄像头、光线充足后重拍", "No face in the photo: face the camera in good light and retake it"),
    "several": ("照片中有多张人脸：学习须本人单独进行", "Several faces in the photo: study alone"),
    "poor_quality": ("人脸不清晰：请靠近摄像头、保持稳定后重拍", "The face is not clear: come closer, hold still and retake it"),
    "mismatch": ("人脸与报名照片不一致，核验未通过", "The face does not match the registered photo"),
    "no_template": ("您的账号没有可比对的人脸照片，请联系培训机构", "Your account has no enrolled face; contact your institution"),
    "undecodable": ("照片无法读取，请重拍", "The photo cannot be read; retake it"),
}


class HeartbeatBody(Body):
    session_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    position: float = Field(ge=0, le=24 * 3600)
    playing: bool
    visible: bool
    reason: Literal["start", "tick", "play", "pause", "seeked", "waiting", "visibility", "ended", "prompt", "leave"]


class AnswerBody(Body):
    prompt_id: int
    answer: str = Field(min_length=1, max_length=8)
    session_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class VideoQuery(Query):
    t: str | None = Field(default=None, max_length=200)
    part: int = Field(default=0, ge=0, le=10_000)  # which file of the lesson's material (server/study/material.py)


def _cn(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).isoformat()


def _lesson(ctx: Ctx, lesson_id: int) -> tuple[Lesson, TrainingClass]:
    lesson = ctx.s.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound("课次", "lesson")
    return lesson, ctx.s.get(TrainingClass, lesson.class_id)


def _enrolment(ctx: Ctx, cls: TrainingClass, user: User, *, lock: bool = False) -> int:
    q = select(Enrolment.id).filter_by(class_id=cls.id, student_user_id=user.id, status="enrolled")
    if lock and not ctx.svc.settings.is_sqlite:
        q = q.with_for_update(of=Enrolment)  # one student's study requests in turn, across app nodes
    e = ctx.s.scalars(q).first()
    if e is None:
        raise Forbidden("NOT_ON_ROSTER", "你不在本班花名册中，不能学习本课；如已报名请联系培训机构",
                        "You are not on this class's roster; contact your training institution", rule=RULE)
    return e


def _material(ctx: Ctx, lesson: Lesson, cls: TrainingClass) -> Material:
    """What the lesson plays: its own video or its share of a course package."""
    profile = ctx.svc.profiles.get(cls.profile)
    material = material_of(ctx.s, lesson, profile.class_hour_minutes if profile else 45)
    if material is None:
        raise ApiError("NO_VIDEO", "本课次尚未上传课程视频", "This lesson has no course video yet", status=404,
                       rule="COURSE-1")
    return material


def _study_lesson(ctx: Ctx, lesson_id: int, *, lock: bool = False) -> tuple[Lesson, TrainingClass, Material]:
    """A rostered student may study a recorded lesson of a running class from its start on."""
    lesson, cls = _lesson(ctx, lesson_id)
    _enrolment(ctx, cls, ctx.user, lock=lock)
    if lesson.mode != "recorded":
        raise ApiError("NOT_RECORDED_LESSON", "本课次不是录播课", "This is not a recorded lesson", status=409,
                       rule="CLS-6")
    if cls.status not in CLASS_RUNNING:
        raise ApiError("CLASS_NOT_OPEN", f"班期未在开班状态（{cls.status}），不能学习", f"The class is not running ({cls.status})",
                       status=409, rule="CLS-1")
    if ctx.now < lesson.starts_at - ROOM_EARLY:
        raise ApiError("STUDY_NOT_YET", f"本课 {_cn(lesson.starts_at)[:16]} 起开放学习",
                       f"This lesson opens for study at {_cn(lesson.starts_at)[:16]} Beijing time", status=409, rule=RULE)
    return lesson, cls, _material(ctx, lesson, cls)


def _study(ctx: Ctx, lesson: Lesson, material: Material, session_id: str | None = None) -> Study:
    return Study(ctx.s, ctx.svc.cipher, ctx.svc.settings, lesson.id, ctx.user.id, ctx.now, material.duration,
                 NODE_ID, session_id).load()


def _video_dict(video: LessonVideo, row: StoredFile) -> dict:
    return {"file_id": row.id, "content_type": row.content_type, "size": row.size, "sha256": row.sha256,
            "duration_seconds": video.duration_seconds, "codec": video.codec, "width": row.width,
            "height": row.height, "uploaded_by": video.uploaded_by, "uploaded_at": _cn(video.uploaded_at)}


# --------------------------------------------------------------------------- the course video

@api.route("PUT", "/api/lessons/{lesson_id:int}/video", summary="上传录播课视频 Upload a recorded lesson's video",
           tag="recorded", roles=UPLOADERS)
def upload_video(ctx: Ctx, lesson_id: int):
    """COURSE-1 / ATT-5: the raw body is the video (Content-Type video/mp4 or video/webm, at most
    QIHANG_MAX_VIDEO_MB). Refused once students have studied the lesson (the log would no longer
    match the video)."""
    lesson, _ = _lesson(ctx, lesson_id)
    cls = get_class(ctx, lesson.class_id)  # tenancy: another institution's lesson is not found
    if ctx.user.role == "lecturer" and ctx.s.get(ClassLecturer, (cls.id, ctx.user.id)) is None:
        raise Forbidden("NOT_CLASS_LECTURER", "只有本班讲师或机构管理员可以上传课程视频",
                        "Only the class's lecturers or the institution's admin may upload its videos", rule="COURSE-1")
    if lesson.mode != "recorded":
        raise ApiError("NOT_RECORDED_LESSON", "只有录播课次可以上传课程视频", "Only a recorded lesson takes a course video",
                       status=409, rule="CLS-6")
    if cls.status in ("finished", "archived"):
        raise ApiError("CLASS_CLOSED", "班期已结业，课程视频不能再更改", "The class has finished; its videos are final",
                       status=409, rule="REC-1")
    pkg = package_of(ctx.s, lesson.id)
    if pkg is not None:
        raise ApiError("LESSON_PLAYS_PACKAGE", f"本课次播放课程包“{pkg.name}”，不单独上传视频；如需更换请修改课表",
                       f"This lesson plays course package '{pkg.name}' and takes no video of its own; change the "
                       "schedule to play something else", status=409, rule="COURSE-1")
    ctype = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in VIDEO_TYPES:
        raise ApiError("VIDEO_TYPE", "请以 video/mp4 或 video/webm 上传 MP4 或 WebM 视频",
                       "Send an MP4 or WebM video as video/mp4 or video/webm", field="Content-Type", status=415,
                       rule="COURSE-1")
    existing = ctx.s.get(LessonVideo, lesson.id)
    if existing is not None and ctx.s.scalars(select(LessonEvent.id).where(
            LessonEvent.lesson_id == lesson.id, LessonEvent.kind == "study_progress").limit(1)).first():
        raise ApiError("VIDEO_IN_USE", "已有学员学习过本课视频，不能替换", "Students have studied this video; it cannot be replaced",
                       status=409, rule="ATT-5")
    row, facts = receive_video(ctx, ctype, kind="course_video", institution_id=cls.institution_id)
    video = existing or LessonVideo(lesson_id=lesson.id)
    video.file_id, video.duration_seconds, video.codec = row.id, facts.duration, facts.codec
    video.uploaded_by, video.uploaded_at = ctx.user.id, ctx.now
    ctx.s.add(video)
    ctx.s.flush()
    ctx.audit("lesson.video", target_type="lesson", target_id=lesson.id, institution_id=cls.institution_id,
              region_code=cls.district_code, file_id=row.id, size=row.size, sha256=row.sha256,
              duration_seconds=facts.duration, replaced=existing is not None)
    profile = ctx.svc.profiles.get(cls.profile)
    need = lesson.class_hours * (profile.class_hour_minutes if profile else 45) * 60
    warnings = []
    if facts.duration < need:  # COURSE-1: 45 minutes of play per class-hour
        warnings.append({"code": "VIDEO_SHORTER_THAN_HOURS", "rule": "COURSE-1",
                         "message_zh": f"视频时长 {facts.duration / 60:.1f} 分钟，不足本课 {lesson.class_hours} 课时所需的 {need / 60:.0f} 分钟",
                         "message_en": f"The video plays {facts.duration / 60:.1f} min, short of the {need / 60:.0f} min "
                                       f"its {lesson.class_hours} class-hour(s) need"})
    return dict(_video_dict(video, row), lesson_id=lesson.id, warnings=warnings)


def _viewer(ctx: Ctx, lesson_id: int, ticket: str | None) -> User:
    """The bearer's user, or the one a valid ticket for this lesson's video names."""
    if ctx.user is None and ticket:
        uid = read_ticket(ctx.svc.cipher, ticket, purpose="video", subject=f"lesson:{lesson_id}", now=ctx.now)
        user = ctx.s.get(User, uid) if uid is not None else None
        ctx.user = user if user is not None and user.active else None
        if ctx.user is None:
            raise Unauthorized("TICKET_INVALID", "视频链接已失效，请刷新页面", "The video link has expired; reload the page")
    if ctx.user is None:
        raise Unauthorized()
    return ctx.user


@api.route("GET", "/api/lessons/{lesson_id:int}/video", summary="播放课程视频（支持 Range） Course video (seekable)",
           tag="recorded", public=True, query=VideoQuery)
def video_stream(ctx: Ctx, query: VideoQuery, lesson_id: int):
    """The lesson's video with HTTP Range (206 / 416) for its roster, its institution's staff and
    supervisors of its region; ``?t=`` carries the ticket GET /study hands the page."""
    user = _viewer(ctx, lesson_id, query.t)
    lesson, cls = _lesson(ctx, lesson_id)
    if user.role == "student":
        _enrolment(ctx, cls, user)
    elif not can_see_class(user, cls):
        raise NotFound("课次", "lesson")
    part = _material(ctx, lesson, cls).part(query.part)
    if part is None:
        raise ApiError("NO_SUCH_PART", f"本课次没有第 {query.part} 段视频", f"This lesson has no video part {query.part}",
                       field="part", status=404, rule="COURSE-1")
    return range_response(VideoStore(ctx.svc.files), ctx.s.get(StoredFile, part.file_id), ctx.request)


@api.route("GET", "/api/lessons/{lesson_id:int}/video/info", summary="课程视频信息 Course video facts",
           tag="recorded", roles=READERS)
def video_info(ctx: Ctx, lesson_id: int):
    """The lesson's own video's facts, or (a package lesson) the package's stretch it plays."""
    lesson, _ = _lesson(ctx, lesson_id)
    cls = get_class(ctx, lesson.class_id)
    material = _material(ctx, lesson, cls)
    out = {"lesson_id": lesson.id, "duration_seconds": material.duration, "package_id": material.package_id,
           "parts": [p.as_dict() for p in material.parts]}
    video = ctx.s.get(LessonVideo, lesson.id) if material.package_id is None else None
    return dict(_video_dict(video, ctx.s.get(StoredFile, video.file_id)), **out) if video is not None else out


# --------------------------------------------------------------------------- studying

def _progress(ctx: Ctx, lesson: Lesson, cls: TrainingClass, material: Material, user_ids: list[int]) -> dict:
    profile = ctx.svc.profiles.get(cls.profile)
    rules = StudyRules.from_attendance(AttendanceRules.from_profile(profile) if profile else AttendanceRules())
    events = eventlog.events(ctx.s, lesson.id, kinds=STUDY_KINDS, limit=None)
    return study(events, user_ids, until=ctx.now, rules=rules, video_seconds=material.duration)


@api.route("GET", "/api/lessons/{lesson_id:int}/study", summary="录播学习页数据 Recorded study page data",
           tag="recorded", roles=("student",))
def study_info(ctx: Ctx, lesson_id: int):
    """The lesson, signed URLs of what it plays (one video, or a package's stretch as parts to play
    end to end, positions reported on the joined timeline), the heartbeat interval, the prompt waiting
    (if any) and the student's own credited time so far (ATT-5)."""
    lesson, cls, material = _study_lesson(ctx, lesson_id)
    ticket = make_ticket(ctx.svc.cipher, purpose="video", subject=f"lesson:{lesson.id}", user_id=ctx.user.id,
                         expires=ctx.now + TICKET_TTL)
    parts = [dict(p.as_dict(), url=f"/api/lessons/{lesson.id}/video?part={p.index}&t={ticket}") for p in material.parts]
    st = _study(ctx, lesson, material)
    last = st.last
    mine = _progress(ctx, lesson, cls, material, [ctx.user.id])[ctx.user.id]
    settings = ctx.svc.settings
    return {"lesson": {"id": lesson.id, "title": lesson.title, "class_hours": lesson.class_hours,
                       "starts_at": _cn(lesson.starts_at), "ends_at": _cn(lesson.ends_at)},
            "class": {"id": cls.id, "name": cls.name},
            "video": {"url": parts[0]["url"], "content_type": parts[0]["content_type"],
                      "duration_seconds": material.duration, "package_id": material.package_id, "parts": parts},
            "heartbeat_seconds": settings.study_heartbeat_seconds,
            "prompt_window_seconds": settings.study_prompt_window_seconds,
            "prompt": last.public(ctx.now) if last is not None and last.pending(ctx.now) else None,
            "progress": {k: v for k, v in mine.as_dict().items() if k != "timeline"}, "now": _cn(ctx.now)}


@api.route("POST", "/api/lessons/{lesson_id:int}/study/heartbeat", summary="录播学习心跳 Study heartbeat",
           tag="recorded", roles=("student",), body=HeartbeatBody)
def heartbeat(ctx: Ctx, body: HeartbeatBody, lesson_id: int):
    """ATT-5: where the video is, playing or not, page visible or not; the answer carries the
    human-machine prompt to show now, if the server decided to ask one."""
    if not math.isfinite(body.position):
        raise ApiError("VALIDATION_FAILED", "position 须为有限数", "position must be finite", field="position", status=422)
    with serialised(lesson_id, ctx.user.id):
        lesson, _, material = _study_lesson(ctx, lesson_id, lock=True)
        st = _study(ctx, lesson, material, body.session_id)
        shown = st.heartbeat(pos=body.position, playing=body.playing, visible=body.visible, reason=body.reason)
        result = {"prompt": shown.public(ctx.now) if shown is not None else None,
                  "heartbeat_seconds": ctx.svc.settings.study_heartbeat_seconds, "now": _cn(ctx.now)}
        ctx.s.commit()  # before the lock is released: the next request must see this one
    return result


@api.route("POST", "/api/lessons/{lesson_id:int}/study/answer", summary="回答人机验证题 Answer a prompt",
           tag="recorded", roles=("student",), body=AnswerBody)
def answer(ctx: Ctx, body: AnswerBody, lesson_id: int):
    """ATT-5 / PLAT-1: correct, wrong, or late; after anything but correct the response carries
    the next prompt (credit stays paused until a prompt is answered correctly)."""
    with serialised(lesson_id, ctx.user.id):
        lesson, cls, material = _study_lesson(ctx, lesson_id, lock=True)
        st = _study(ctx, lesson, material, body.session_id)
        outcome, retry = st.answer(body.prompt_id, body.answer)
        ctx.audit("study.answer", target_type="lesson", target_id=lesson.id, institution_id=cls.institution_id,
                  region_code=cls.district_code, prompt=body.prompt_id, outcome=outcome)
        result = {"outcome": outcome, "correct": outcome == "correct",
                  "prompt": retry.public(ctx.now) if retry is not None else None,
                  "answered": st.prompt(body.prompt_id).public(ctx.now)}
        ctx.s.commit()
    return result


def _form_int(form: dict, name: str) -> int:
    raw = form.get(name)
    if isinstance(raw, Upload) or raw is None or not str(raw).strip().isdigit():
        raise ApiError("VALIDATION_FAILED", f"字段 {name} 应为整数", f"Field {name} must be an integer", field=name,
                       status=422, rule="int_parsing")
    return int(str(raw).strip())


@api.route("POST", "/api/lessons/{lesson_id:int}/study/snapshot", summary="学习中拍照核验 Study face snapshot",
           tag="recorded", roles=("student",), body="multipart", multipart_fields=SNAPSHOT_FIELDS)
def snapshot(ctx: Ctx, form: dict, lesson_id: int):
    """ATT-5 / ATT-1: the camera snapshot a prompt asked for, judged against the enrolled face and
    logged as ``face_check`` (source ``study``); the photo is kept encrypted as evidence."""
    prompt_id = _form_int(form, "prompt_id")
    photo = form.get("photo")
    if not isinstance(photo, Upload) or not photo.data:
        raise ApiError("VALIDATION_FAILED", "缺少照片（请允许使用摄像头）", "Missing the photo (allow camera access)",
                       field="photo", status=422, rule="missing")
    if photo.content_type.split(";")[0].strip().lower() not in ("image/jpeg", "image/png"):
        raise ApiError("IMAGE_FORMAT", "照片须为 JPEG 或 PNG", "The photo must be a JPEG or PNG", field="photo", status=415,
                       rule=RULE)
    try:
        image = process_image(photo.data, "evidence", field="photo")  # decoded and re-encoded (REG-2 rules)
    except IdentityError as exc:
        raise ApiError(exc.code, exc.message_zh, exc.message_en, field="photo", status=422, rule=RULE) from None
    with serialised(lesson_id, ctx.user.id):
        lesson, cls, material = _study_lesson(ctx, lesson_id, lock=True)
        st = _study(ctx, lesson, material)
        pr = st.snapshot_allowed(prompt_id)
        st.session_id = pr.event.session_id
        result = check_photo(image.data, ctx.svc.faces.load(ctx.s, ctx.user.id))  # judged before any write
        stored = ctx.svc.files.save_image(ctx.s, image, kind="study_photo", owner_user_id=ctx.user.id,
                                          institution_id=cls.institution_id)
        ev = st.record_face(pr, result, stored.id)
        verdict = result.get("verdict")
        ctx.audit("study.snapshot", target_type="lesson", target_id=lesson.id, institution_id=cls.institution_id,
                  region_code=cls.district_code, prompt=prompt_id, verdict=verdict, event_id=ev.id)
        zh, en = FACE_MESSAGES.get(verdict, ("人脸核验未通过", "The face check failed"))
        out = {"verdict": verdict, "passed": verdict == "match", "message_zh": zh, "message_en": en,
               "event_id": ev.id, "prompt": pr.public(ctx.now)}
        ctx.s.commit()
    return out


@api.route("GET", "/api/lessons/{lesson_id:int}/study/report", summary="录播学习监管数据 Recorded study report",
           tag="recorded", roles=READERS)
def study_report(ctx: Ctx, lesson_id: int):
    """ATT-5 / PLAT-1: every rostered student's credited study time, content covered, prompts and
    face checks, with the timeline that explains each minute."""
    lesson, _ = _lesson(ctx, lesson_id)
    cls = get_class(ctx, lesson.class_id)
    material = _material(ctx, lesson, cls)
    roster = ctx.s.execute(select(Enrolment.student_user_id, User.display_name).join(
        User, User.id == Enrolment.student_user_id).where(Enrolment.class_id == cls.id, Enrolment.status == "enrolled")
        .order_by(Enrolment.id)).all()
    found = _progress(ctx, lesson, cls, material, [uid for uid, _ in roster])
    return {"lesson_id": lesson.id, "video_seconds": material.duration, "until": _cn(ctx.now),
            "items": [dict(found[uid].as_dict(), display_name=name) for uid, name in roster]}
