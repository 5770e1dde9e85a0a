"""Offline lessons: a student signs in and out on the phone page with a face check and the phone's
location, accepted only inside the lesson venue's radius and the lesson's time window (ATT-6, CLS-6).

Every attempt a rostered student makes at an offline lesson is judged in full and appended to the
lesson event log as ``offline_sign_in`` — accepted or refused, with the reason, the distance, the
radius, the fix's accuracy and the face verdict — and its photo is kept (encrypted) as evidence.
A refusal is therefore answered with a 422 *returned*, not raised: raising would roll the record
back. Attendance is derived from these events (server/attendance/offline.py).

What is not an attempt, and answers a plain error without a record: no session, a lesson that does
not exist, a student not on the roster (403), a lesson that is not offline or whose class is not
open (409), a malformed form (422). The phone's coordinates themselves are not stored, only the
distance to the venue and the accuracy: where a person was is personal data (PLAT-3), and the
distance is all the rule needs.

Refusal order (the first that applies is the reason; all values are recorded): outside the time
window, a sign-out without a sign-in, the location rule (server/domain/venue.py), an unreadable
photo, the face verdict (anything but ``match``), and for a sign-in no liveness challenge passed in
the last ``LIVENESS_VALID`` (a photo held up to the phone matches the face; it cannot turn and
blink on cue — the page runs the challenge first, server/api/liveness.py).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import select
from starlette.responses import JSONResponse

from models import Enrolment, Lesson, TrainingClass, User
from server.api.common import get_class
from server.api.endpoint import Api, Ctx, Upload, error_response
from server.api.liveness import recent_pass
from server.attendance import offline
from server.domain.venue import IMPRECISE, OUTSIDE, Venue, judge_location
from server.errors import ApiError, Forbidden, NotFound
from server.identity.errors import IdentityError
from server.identity.facephoto import check_photo
from server.identity.photos import process_image
from server.live import eventlog
from server.live.bus import default_node_id
from server.services import CHINA_TZ

api = Api()
RULE = "ATT-6"
NODE_ID = f"api:{default_node_id()}"  # which process wrote the event (the log records its writer)
CLASS_RUNNING = ("open", "in_progress")
LIVENESS_VALID = timedelta(minutes=5)  # a sign-in needs a liveness pass this recent (server/api/liveness.py)
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")
FIELDS = {
    "action": "sign_in（签到）或 sign_out（签退） sign_in or sign_out",
    "latitude": "纬度（度，浏览器定位 WGS-84） Latitude in degrees, from the browser (WGS-84)",
    "longitude": "经度（度，浏览器定位 WGS-84） Longitude in degrees, from the browser (WGS-84)",
    "accuracy": "定位精度（米，95% 置信半径） Accuracy of the fix in metres (95 % confidence radius)",
    "photo": "摄像头拍摄的本人照片（JPEG/PNG） Camera photo of the student (JPEG/PNG)",
}
FACE_ZH = {
    "absent": ("照片中未检测到人脸：请正对摄像头、光线充足后重拍", "No face in the photo: face the camera in good light and retake it"),
    "several": ("照片中有多张人脸：签到须本人单独拍摄", "Several faces in the photo: the student must be alone in the picture"),
    "poor_quality": ("人脸不清晰：请靠近摄像头、保持稳定、光线充足后重拍",
                     "The face is not clear enough: come closer, hold still, find better light and retake it"),
    "mismatch": ("人脸与报名照片不一致，签到未通过", "The face does not match the student's registered photo"),
    "no_template": ("您的账号没有可比对的人脸底模（报名照片），请联系培训机构",
                    "Your account has no enrolled face (registration photo) to compare with; contact your institution"),
    "undecodable": ("照片无法读取，请重拍", "The photo cannot be read; retake it"),
}


def _cn(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).isoformat()


def _student_lesson(ctx: Ctx, lesson_id: int) -> tuple[Lesson, TrainingClass]:
    lesson = ctx.s.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound("课次", "lesson")
    cls = ctx.s.get(TrainingClass, lesson.class_id)
    enrolled = ctx.s.scalars(select(Enrolment.id).filter_by(class_id=cls.id, student_user_id=ctx.user.id,
                                                            status="enrolled")).first()
    if enrolled is None:
        raise Forbidden("NOT_ON_ROSTER", "你不在本班花名册中，不能签到；如已报名请联系培训机构",
                        "You are not on this class's roster; contact your training institution", rule=RULE)
    if lesson.mode != "offline":
        raise ApiError("NOT_OFFLINE_LESSON", "本课次不是线下课，无需定位签到（直播课在直播间内人脸考勤）",
                       "This is not an offline lesson; live lessons take attendance in the live room",
                       status=409, rule="CLS-6")
    return lesson, cls


def _windows(lesson: Lesson) -> dict:
    (opens, closes), (_, out_closes) = offline.window(lesson, "sign_in"), offline.window(lesson, "sign_out")
    return {"sign_in_opens": _cn(opens), "sign_in_closes": _cn(closes), "sign_out_closes": _cn(out_closes)}


def _attempt(ev) -> dict:
    p = ev.payload or {}
    return {"id": ev.id, "at": _cn(ev.at), "user_id": ev.user_id,
            **{k: p.get(k) for k in ("action", "accepted", "reason", "distance_m", "radius_m", "accuracy_m", "verdict",
                                     "face_distance", "photo_file_id")}}


@api.route("GET", "/api/lessons/{lesson_id:int}/offline-sign-in", summary="线下课签到信息 Offline sign-in page data",
           tag="attendance", roles=("student",))
def offline_sign_in_info(ctx: Ctx, lesson_id: int):
    """The lesson, its venue and time window, and the student's own attempts (the phone page)."""
    lesson, cls = _student_lesson(ctx, lesson_id)
    venue = Venue.of(lesson)
    events = eventlog.events(ctx.s, lesson.id, kinds=[offline.KIND, "liveness"], limit=None)
    alive = recent_pass(events, ctx.user.id, ctx.now, LIVENESS_VALID)
    mine = [e for e in events if e.user_id == ctx.user.id and e.kind == offline.KIND]
    return {"liveness_required": ctx.svc.settings.liveness and not alive,"lesson": {"id": lesson.id, "title": lesson.title, "starts_at": _cn(lesson.starts_at),
                       "ends_at": _cn(lesson.ends_at), "mode": lesson.mode, "class_hours": lesson.class_hours},
            "class": {"id": cls.id, "name": cls.name, "status": cls.status, "open": cls.status in CLASS_RUNNING},
            "venue": venue.as_dict() if venue else None, "window": _windows(lesson), "now": _cn(ctx.now),
            "signed_in": offline.signed_in(mine, ctx.user.id), "attempts": [_attempt(e) for e in mine[-20:]]}


@api.route("GET", "/api/lessons/{lesson_id:int}/offline-sign-ins", summary="线下课签到记录 Offline sign-in attempts",
           tag="attendance", roles=READERS)
def offline_sign_in_attempts(ctx: Ctx, lesson_id: int):
    """Every attempt at the lesson, accepted or refused, for staff and supervisors (ATT-6, SUP-1)."""
    lesson = ctx.s.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound("课次", "lesson")
    get_class(ctx, lesson.class_id)  # tenancy and region scope: 404 when not visible
    events = eventlog.events(ctx.s, lesson.id, kinds=[offline.KIND], limit=None)
    names = dict(ctx.s.execute(select(User.id, User.display_name).where(
        User.id.in_({e.user_id for e in events if e.user_id is not None}))).all()) if events else {}
    venue = Venue.of(lesson)
    return {"lesson_id": lesson.id, "venue": venue.as_dict() if venue else None,
            "items": [dict(_attempt(e), display_name=names.get(e.user_id)) for e in events]}


def _invalid(field: str, zh: str, en: str, rule: str = "missing") -> ApiError:
    return ApiError("VALIDATION_FAILED", zh, en, field=field, rule=rule, status=422)


def _number(form: dict, field: str, low: float, high: float) -> float:
    raw = form.get(field)
    if raw is None or isinstance(raw, Upload) or not str(raw).strip():
        raise _invalid(field, f"缺少必填字段：{field}（请允许页面获取位置）", f"Missing required field: {field} (allow location access)")
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise _invalid(field, f"字段 {field} 应为数字", f"Field {field} must be a number", "float_parsing") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise _invalid(field, f"字段 {field} 须在 {low:g} 至 {high:g} 之间", f"Field {field} must lie in [{low:g}, {high:g}]",
                       RULE)
    return value


def _form(form: dict) -> tuple[str, float, float, float, Upload]:
    action = form.get("action")
    if action not in offline.ACTIONS:
        raise _invalid("action", "action 须为 sign_in（签到）或 sign_out（签退）", "action must be sign_in or sign_out",
                       "literal_error")
    lat, lon = _number(form, "latitude", -90, 90), _number(form, "longitude", -180, 180)
    accuracy = _number(form, "accuracy", 0, 100_000)
    photo = form.get("photo")
    if not isinstance(photo, Upload) or not photo.data:
        raise _invalid("photo", "缺少签到照片（请允许使用摄像头）", "Missing the sign-in photo (allow camera access)")
    return action, lat, lon, accuracy, photo


@api.route("POST", "/api/lessons/{lesson_id:int}/offline-sign-in", summary="线下课签到/签退 Offline sign-in or sign-out",
           tag="attendance", roles=("student",), body="multipart", multipart_fields=FIELDS)
def offline_sign_in(ctx: Ctx, form: dict, lesson_id: int):
    """ATT-6: face + location sign-in inside the venue's radius and the lesson's window; every
    attempt is logged (accepted 200, refused 422 with the reason, distance and radius)."""
    lesson, cls = _student_lesson(ctx, lesson_id)
    if cls.status not in CLASS_RUNNING:
        raise ApiError("CLASS_NOT_OPEN", f"班期尚未开班（状态 {cls.status}），不能签到",
                       f"The class is not open (status {cls.status}); nobody can sign in yet", status=409, rule="CLS-1")
    venue = Venue.of(lesson)
    if venue is None:
        raise ApiError("VENUE_MISSING", "本线下课次未设置上课地点，无法定位签到，请联系培训机构",
                       "This offline lesson has no venue to sign in at; contact your institution",
                       status=409, rule="CLS-6")
    action, lat, lon, accuracy, photo = _form(form)
    uid, now = ctx.user.id, ctx.now
    # Judge everything before writing anything: the face check holds a lock, not a write transaction.
    mine = [e for e in eventlog.events(ctx.s, lesson.id, kinds=[offline.KIND, "liveness"], limit=None)
            if e.user_id == uid]
    alive = not ctx.svc.settings.liveness or recent_pass(mine, uid, now, LIVENESS_VALID)
    mine = [e for e in mine if e.kind == offline.KIND]
    location = judge_location(venue, lat, lon, accuracy)
    opens, closes = offline.window(lesson, action)
    image, photo_error, face = None, None, {}
    try:
        image = process_image(photo.data, "evidence", field="photo")
    except IdentityError as exc:
        photo_error = exc
    if image is not None:
        face = check_photo(image.data, ctx.svc.faces.load(ctx.s, uid))
    verdict = face.get("verdict") if image is not None else None
    if not opens <= now <= closes:
        reason = "outside_window"
    elif action == "sign_out" and not offline.signed_in(mine, uid):
        reason = "not_signed_in"
    elif location.reason is not None:
        reason = location.reason
    elif photo_error is not None:
        reason = "photo_invalid"
    elif verdict != "match":
        reason = f"face_{verdict}"
    elif action == "sign_in" and not alive:
        reason = "liveness_required"
    else:
        reason = None

    stored = ctx.svc.files.save_image(ctx.s, image, kind="offline_sign_in", owner_user_id=uid,
                                      institution_id=cls.institution_id) if image is not None else None
    distance = face.get("distance")
    payload = {"action": action, "accepted": reason is None, "reason": reason,
               "distance_m": round(location.distance_m, 1), "radius_m": venue.radius_m,
               "accuracy_m": round(accuracy, 1), "verdict": verdict,
               "face_distance": round(distance, 3) if distance is not None else None, "faces": face.get("faces"),
               "photo_file_id": stored.id if stored else None}
    if face.get("problems"):
        payload["problems"] = face["problems"]
    ev = eventlog.append(ctx.s, lesson.id, offline.KIND, user_id=uid, role="student", node_id=NODE_ID,
                         payload=payload, at=now)
    ctx.audit("lesson.offline_sign_in", target_type="lesson", target_id=lesson.id, institution_id=cls.institution_id,
              region_code=cls.district_code, event_id=ev.id, sign=action, accepted=reason is None, reason=reason)
    result = dict(payload, event_id=ev.id, at=_cn(now), lesson_id=lesson.id, venue=venue.name)
    if reason is None:
        return result
    return _refusal(reason, result, venue, opens, closes, photo_error)


def _refusal(reason: str, result: dict, venue: Venue, opens: datetime, closes: datetime,
             photo_error: IdentityError | None) -> JSONResponse:
    """The recorded refusal as the usual error shape (422), its details the whole record."""
    d, r, acc = result["distance_m"], result["radius_m"], result["accuracy_m"]
    verb_zh = "签到" if result["action"] == "sign_in" else "签退"
    field: str | None = "photo"
    if reason == "outside_window":
        code, field = "OUTSIDE_SIGN_IN_WINDOW", "action"
        a, b = opens.astimezone(CHINA_TZ), closes.astimezone(CHINA_TZ)
        zh = f"不在{verb_zh}时间内：本课可在 {a:%m-%d %H:%M} 至 {b:%H:%M}（北京时间）{verb_zh}"
        en = f"Not within the {result['action'].replace('_', '-')} window: {a:%m-%d %H:%M} to {b:%H:%M} Beijing time"
    elif reason == "not_signed_in":
        code, field, zh, en = "NOT_SIGNED_IN", "action", "您本课尚未签到，不能签退", "You have not signed in to this lesson"
    elif reason == IMPRECISE:
        code, field = "LOCATION_IMPRECISE", "accuracy"
        zh = f"定位精度 ±{acc:.0f} 米，大于签到范围 {r} 米，无法判断是否在场：请打开手机 GPS / 精确位置后重试"
        en = (f"The location fix (±{acc:.0f} m) is coarser than the {r} m sign-in radius: turn on GPS / precise "
              "location and try again")
    elif reason == OUTSIDE:
        code, field = "OUTSIDE_VENUE", "latitude"
        zh = f"您距培训场地“{venue.name}”约 {d:.0f} 米，超出签到范围 {r} 米"
        en = f"You are about {d:.0f} m from the venue '{venue.name}', outside its {r} m sign-in radius"
    elif reason == "liveness_required":
        code, field = "LIVENESS_REQUIRED", "photo"
        zh = "签到前须通过活体检测（按提示转头、眨眼），请先完成活体检测"
        en = "Pass the liveness check (turn your head and blink as asked) before signing in"
    elif reason == "photo_invalid":
        code, zh, en = photo_error.code, photo_error.message_zh, photo_error.message_en
    else:
        verdict = result["verdict"]
        code = f"FACE_{str(verdict).upper()}"
        zh, en = FACE_ZH.get(verdict, ("人脸核验未通过", "The face check failed"))
        if result.get("problems"):  # poor_quality: say what (too small, blurry, dark, bright)
            from media.facecheck import PROBLEMS_ZH
            zh += "（" + "、".join(PROBLEMS_ZH.get(p, p) for p in result["problems"]) + "）"
            en += " (" + ", ".join(result["problems"]) + ")"
    err = ApiError(code, zh, en, field=field, rule=RULE, status=422, details=result)
    return error_response(err)
