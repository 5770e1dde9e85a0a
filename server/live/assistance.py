"""One-to-one service in the live room (LIVE-4, CLS-3): private text and reminders.

Each student has one assistant (their group of 20–30, set when the class is planned). An assistant
writes privately to any student of their group and a student to their own assistant; the lecturer
may write to any student of the class. Private lines are logged like everything else (the record
is complete, SUP-6) and delivered to the two people and to hidden supervisors (who watch the
interaction, SUP-4) — never to other students. They pass the same screening as chat (LIVE-5).

A reminder is a one-tap nudge from the assistant or lecturer ("please face the camera"), shown to
the student as a banner and to the staff as a line in the room log.
"""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from models import Enrolment
from server.errors import ApiError
from server.live import moderation

PRESETS = {
    "face_camera": ("请正对摄像头，保持面部清晰可见", "Please face the camera so your face is clearly visible"),
    "lighting": ("画面太暗，请打开灯或面向光源", "Your picture is too dark: turn on a light or face the window"),
    "stay": ("请保持在直播间认真听课", "Please stay in the room and follow the lesson"),
    "sound": ("请打开声音收听讲课", "Please turn the sound on to follow the lecture"),
    "answer": ("讲师在等你回答问题", "The lecturer is waiting for your answer"),
    "custom": ("", ""),
}


def _student_group(sock, student_id: int) -> int | None:
    """The student's assistant, or 0 when the student is not (enrolled) in this class."""
    with sock.svc.db.session() as s:
        row = (s.query(Enrolment.assistant_user_id)
               .filter_by(class_id=sock.peer.admission.class_id, student_user_id=student_id, status="enrolled")
               .one_or_none())
    return 0 if row is None else row[0]


async def _may_serve(sock, student_id: int, rule: str) -> None:
    a = sock.peer.admission
    group = await run_in_threadpool(_student_group, sock, student_id)
    if group == 0:
        raise ApiError("NOT_IN_CLASS", "该学员不在本班", "That student is not enrolled in this class", field="to",
                       status=422, rule=rule)
    if a.room_role == "assistant" and group != a.user_id:
        raise ApiError("NOT_YOUR_GROUP", "该学员不在你的助教小组中", "That student is not in your assistant group",
                       field="to", status=403, rule=rule)


def _text(msg: dict, limit: int = 500) -> str:
    text = msg.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError("TEXT_REQUIRED", "内容不能为空", "text must be a non-empty string", field="text", status=422)
    if len(text) > limit:
        raise ApiError("TEXT_TOO_LONG", f"内容不超过 {limit} 字", f"text is limited to {limit} characters",
                       field="text", status=422)
    return text.strip()


def _user_id(msg: dict, field: str) -> int:
    uid = msg.get(field)
    if not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0:
        raise ApiError("USER_ID_REQUIRED", "请指定对象", f"{field} (a user id) is required", field=field, status=422)
    return uid


async def on_private(sock, msg: dict) -> None:
    """``{"type": "private", "to": user_id, "text": ...}`` (a student may leave out ``to``)."""
    a = sock.peer.admission
    text = _text(msg)
    if a.room_role == "student":
        if not a.assistant_id:
            raise ApiError("NO_ASSISTANT", "你所在的班级未给你分配助教", "You have no assistant in this class",
                           field="to", status=409, rule="LIVE-4")
        to = msg.get("to", a.assistant_id)
        if to != a.assistant_id:
            raise ApiError("PRIVATE_ASSISTANT_ONLY", "学员只能私信自己的助教", "Students write privately to their own "
                           "assistant only", field="to", status=403, rule="LIVE-4")
    elif a.room_role in ("assistant", "lecturer"):
        to = _user_id(msg, "to")
        await _may_serve(sock, to, "LIVE-4")
    else:
        raise ApiError("ROOM_ROLE", "旁听监管账号不能私信", "Hidden spectators do not write private messages",
                       status=403, rule="SUP-4")
    await moderation.say(sock, "private", {"to": to, "text": text},
                         audience={"users": [a.user_id, to], "hidden": True})


async def on_remind(sock, msg: dict) -> None:
    """``{"type": "remind", "user_id": ..., "preset": "face_camera" | ... | "custom", "text"?}``."""
    a = sock.peer.admission
    if a.room_role not in ("assistant", "lecturer"):
        raise ApiError("ROOM_ROLE", "只有讲师和助教可以提醒学员", "Only the lecturer and assistants send reminders",
                       status=403, rule="LIVE-4")
    student = _user_id(msg, "user_id")
    preset = msg.get("preset", "face_camera")
    if preset not in PRESETS:
        raise ApiError("PRESET_INVALID", f"提醒类型须为 {', '.join(PRESETS)} 之一", f"preset must be one of {', '.join(PRESETS)}",
                       field="preset", status=422, rule="LIVE-4")
    await _may_serve(sock, student, "LIVE-4")
    zh, en = PRESETS[preset]
    if preset == "custom":
        zh = en = _text(msg, 100)
    payload = {"user_id": student, "preset": preset, "text": zh, "text_en": en}
    if preset == "custom":
        await moderation.say(sock, "reminder", payload, audience={"users": [student], "staff": True})
    else:
        await sock._record("reminder", payload, audience={"users": [student], "staff": True})


HANDLERS = {"private": on_private, "remind": on_remind}
