"""Replay of a live lesson's recording (CLS-8, REC-1, SUP-5): the player's timeline, each segment's
media remuxed for the browser, the student's watched ranges (make-up study), and the whole lesson as
one downloadable file. The media work is in server/replaymedia.py; nothing is ever re-encoded.

* ``GET /api/lessons/{id}/replay`` — the segments present (from the signed manifest, checked now:
  signature, chain, presence and sizes) end to end on one lesson timeline, their sources, signed
  URLs of their "main" (camera + mic) and "screen" files, and the lesson's chat and Q&A placed on
  that timeline (a hidden supervisor's events are left out for students, as in the room).
* ``GET /api/lessons/{id}/replay/{seq}/{part}`` — one of those files, HTTP Range (206 / 416).
* ``POST /api/lessons/{id}/replay/progress`` — a student's watched ranges, appended as a
  ``replay_progress`` event that server/attendance/absences.py counts as make-up where the profile
  says so (CLS-8).
* ``GET /api/lessons/{id}/recording/download`` — the lesson as one file (built once, cached), with
  Range; every request is audited.
* ``GET /api/me/replays`` — a student's finished lessons that have a recording (their home page).

Timeline: a position is seconds of recorded lesson — segment offsets are the sums of the durations
before them, so a gap in the recording (a recorder restart) is not played. A chat message sits at its
segment's offset plus its time into the segment; one sent in a gap sits at the next segment's start.

Access: the class's roster (enrolled or completed; others 403 NOT_ON_ROSTER as in the room), its
institution's staff, supervisors whose region covers it (their reads are audited, SUP-6) and
platform admins; anyone else 404. ``<video>`` and a download link cannot send the bearer token, so
the timeline hands out URLs with a signed ticket and each request is checked again by the same rules.
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field
from sqlalchemy import select

from models import Enrolment, Lesson, LessonEvent, Recording, TrainingClass, User
from server.api.endpoint import Api, Ctx
from server.api.recordings import _store, _tools
from server.attendance.absences import watched_seconds
from server.auth.scope import can_see_class
from server.errors import ApiError, Forbidden, Unauthorized
from server.live import eventlog
from server.live.bus import default_node_id
from server.replaymedia import (MIME_CODEC, PARTS, ReplayCache, concat, container_for, file_response,
                                probe_segment, remux_part, sha256_file)
from server.services import CHINA_TZ
from server.validation import Body, Query
from server.videoserve import make_ticket, read_ticket

api = Api()
log = logging.getLogger("qihang.replay")
RULE = "CLS-8"
NODE_ID = f"api:{default_node_id()}"
PURPOSE = "replay"
TICKET_TTL = timedelta(hours=6)
MAX_RANGES = 50  # per progress call: the page sends what it saw since the last call
SLACK_S = 1.0  # a player's end position may pass the recorded length by a frame or two
REPORT_EVERY_S = 15
CHAT_KINDS = ("chat", "question", "answer")
ROSTER = ("enrolled", "completed")
SEGMENT_PROBLEMS = ("segment_missing", "segment_altered", "segment_unlisted")
_verified: dict[str, tuple[int, int]] = {}  # source path + hash → (size, mtime_ns) already hashed here


class TicketQuery(Query):
    t: str | None = Field(default=None, max_length=200)


class ProgressBody(Body):
    ranges: list = Field(min_length=1, max_length=MAX_RANGES)
    reason: Literal["tick", "pause", "seeked", "ended", "leave"] = "tick"
    session_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


@dataclass
class Seg:
    seq: int
    file: str
    sha256: str
    size: int
    offset_s: float
    duration_s: float
    started_at: datetime | None
    sources: list[str]
    codecs: dict[str, list[str]] = field(default_factory=dict)  # part → codecs of its tracks


# --------------------------------------------------------------------------- access

def _not_found() -> ApiError:
    return ApiError("NO_RECORDING", "该课次没有录像或无权查看", "This lesson has no recording, or it is not visible to you",
                    status=404, rule="REC-1")


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _viewer(ctx: Ctx, lesson_id: int, ticket: str | None) -> User:
    """The bearer's user, or the one a valid ticket for this lesson's replay names."""
    if ctx.user is None and ticket:
        uid = read_ticket(ctx.svc.cipher, ticket, purpose=PURPOSE, subject=f"lesson:{lesson_id}", now=ctx.now)
        user = ctx.s.get(User, uid) if uid is not None else None
        ctx.user = user if user is not None and user.active else None
        if ctx.user is None:
            raise Unauthorized("TICKET_INVALID", "回放链接已失效，请刷新页面", "The replay link has expired; reload the page")
    if ctx.user is None:
        raise Unauthorized()
    return ctx.user


def _lesson(ctx: Ctx, lesson_id: int, user: User) -> tuple[Lesson, TrainingClass]:
    lesson = ctx.s.get(Lesson, lesson_id)
    if lesson is None:
        raise _not_found()
    cls = ctx.s.get(TrainingClass, lesson.class_id)
    if user.role == "student":
        on = ctx.s.scalars(select(Enrolment.id).where(Enrolment.class_id == cls.id, Enrolment.student_user_id == user.id,
                                                      Enrolment.status.in_(ROSTER))).first()
        if on is None:
            raise Forbidden("NOT_ON_ROSTER", "你不在本班花名册中，不能观看本课回放", "You are not on this class's roster; "
                            "the replay is for its students", rule=RULE)
    elif not can_see_class(user, cls):
        raise _not_found()
    return lesson, cls


# --------------------------------------------------------------------------- the recording

def _cache(ctx: Ctx) -> ReplayCache:
    tools = _tools(ctx.svc)
    if "replay_cache" not in tools:
        tools["replay_cache"] = ReplayCache(Path(ctx.svc.settings.data_dir) / "cache" / "replay")
    return tools["replay_cache"]


def _recording(ctx: Ctx, lesson_id: int, *, quick_verify: bool) -> tuple[object, dict, set[int]]:
    """(store, manifest, seqs not playable) of a recording that checks out; 404 without one, 409
    when the manifest fails its check (tampering, or a rollback: nothing is played from it)."""
    from recorder.manifest import MANIFEST, chain_problems
    from recorder.registry import RecordingRegistry
    from recorder.signing import check_document
    from recorder.verify import verify_recording
    key = _tools(ctx.svc)["key"].public
    rec = ctx.s.get(Recording, lesson_id)
    if rec is None:  # a recorder without a database: the row follows the signed manifest
        RecordingRegistry(None, ctx.svc.profiles, ctx.svc.clock).sync_in(ctx.s, lesson_id, _tools(ctx.svc)["local"], key)
        rec = ctx.s.get(Recording, lesson_id)
    if rec is None or rec.status == "deleted":
        raise _not_found()
    bad, unplayable = [], set()
    try:
        store = _store(ctx.svc, rec)
        raw = store.read(lesson_id, MANIFEST)
        if quick_verify and raw is not None:
            v = verify_recording(store, lesson_id, key, full=False,
                                 expected={"segments": rec.segments, "head_hash": rec.head_hash})
            bad = [p.kind for p in v.problems if p.kind not in SEGMENT_PROBLEMS]
            unplayable = {p.seq for p in v.problems if p.kind in SEGMENT_PROBLEMS}
    except Exception as exc:  # an object store that does not answer
        raise _store_down(exc) from None
    try:
        manifest = json.loads(raw) if raw is not None else None
    except ValueError:
        manifest = "unreadable"
    if manifest is None:
        raise _not_found()
    if not quick_verify and (not isinstance(manifest, dict) or check_document(manifest, key) or chain_problems(manifest)):
        bad = ["manifest"]
    if bad or not isinstance(manifest, dict):
        raise ApiError("RECORDING_UNVERIFIED", "录像清单校验未通过（可能被篡改），不能播放；请联系平台管理员",
                       f"The recording's manifest fails verification ({', '.join(bad) or 'unreadable'}); "
                       "it is not played. Contact the platform admin", status=409, rule="REC-1")
    return store, manifest, unplayable


def _store_down(exc: Exception) -> ApiError:
    log.warning("replay: recording store unavailable: %s", exc)
    return ApiError("STORE_UNAVAILABLE", "录像存储暂时无法访问，请稍后重试", "The recording store is not answering; try again later",
                    status=503, rule="REC-1")


def _source(ctx: Ctx, lesson_id: int, entry: dict, store) -> Path:
    """A local copy of the segment whose SHA-256 matches the manifest (fetched from the object store
    when the working copy is gone); 409 when it was altered."""
    local = Path(ctx.svc.settings.recordings_root) / str(lesson_id) / entry["file"]
    if not (local.is_file() and local.stat().st_size == entry["size"]):
        if store.kind == "local":
            raise _altered(entry, "missing")

        def fetch(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                for chunk in store.chunks(lesson_id, entry["file"]):
                    fh.write(chunk)
        local = _cache(ctx).ensure(_cache(ctx).path(lesson_id, f"src-{entry['sha256'][:32]}.mkv"), fetch)
    st = local.stat()
    key = f"{local}:{entry['sha256']}"
    if _verified.get(key) != (st.st_size, st.st_mtime_ns):
        if sha256_file(local) != entry["sha256"]:
            raise _altered(entry, "altered")
        if len(_verified) > 100_000:
            _verified.clear()
        _verified[key] = (st.st_size, st.st_mtime_ns)
    return local


def _altered(entry: dict, how: str) -> ApiError:
    return ApiError("SEGMENT_UNAVAILABLE", f"录像分段 {entry['seq']} 缺失或与签名清单不符，不能播放",
                    f"Segment {entry['seq']} is {how}: it does not match the signed manifest", status=409, rule="REC-1")


def _tracks_of(ctx: Ctx, lesson_id: int, entry: dict, store) -> tuple[list[dict], float | None]:
    """The segment's tracks and duration: from the manifest, else (a repaired or adopted segment)
    probed from the file once and kept beside the cache."""
    tracks = [{"source": t.get("source"), "kind": str(t.get("mime", "")).split("/")[0],
               "codec": MIME_CODEC.get(t.get("mime"), str(t.get("mime", "")).split("/")[-1])}
              for t in entry.get("tracks") or [] if isinstance(t, dict)]
    if tracks and entry.get("duration_s") is not None:
        return tracks, float(entry["duration_s"])
    cache = _cache(ctx)

    def build(tmp: Path) -> None:
        tmp.write_text(json.dumps(probe_segment(_source(ctx, lesson_id, entry, store))))
    info = json.loads(cache.ensure(cache.path(lesson_id, f"{entry['file']}.{entry['sha256'][:16]}.json"),
                                   build).read_text())
    return info["tracks"], entry.get("duration_s") if entry.get("duration_s") is not None else info["duration_s"]


def _timeline(ctx: Ctx, lesson_id: int, store, manifest: dict, unplayable: set[int]) -> list[Seg]:
    segs, offset, prev_end = [], 0.0, None
    entries = sorted((e for e in manifest.get("segments") or [] if isinstance(e, dict)), key=lambda e: e["seq"])
    for e in entries:
        if e["seq"] in unplayable:
            continue
        try:
            tracks, duration = _tracks_of(ctx, lesson_id, e, store)
        except Exception as exc:  # a repaired segment that cannot be probed (or fetched) is not played
            log.warning("replay: lesson %s segment %s left out: %s", lesson_id, e["seq"], exc)
            continue
        if not tracks or not duration or duration <= 0:
            continue
        started = datetime.fromisoformat(e["started_at"]) if e.get("started_at") else prev_end
        codecs: dict[str, list[str]] = {}
        for t in tracks:
            codecs.setdefault("screen" if t["source"] in PARTS["screen"] else "main", []).append(t["codec"])
        segs.append(Seg(e["seq"], e["file"], e["sha256"], e["size"], round(offset, 3), round(duration, 3), started,
                        [t["source"] for t in tracks], codecs))
        offset += duration
        prev_end = started + timedelta(seconds=duration) if started else None
    return segs


def _position(segs: list[Seg], at: datetime) -> float:
    """Where on the replay timeline something said at ``at`` is (module docstring)."""
    for s in segs:
        if s.started_at is None:
            continue
        into = (at - s.started_at).total_seconds()
        if into < 0:
            return s.offset_s
        if into <= s.duration_s:
            return round(s.offset_s + into, 3)
    return round(segs[-1].offset_s + segs[-1].duration_s, 3) if segs else 0.0


def _messages(ctx: Ctx, lesson_id: int, segs: list[Seg], viewer: User) -> list[dict]:
    events = eventlog.events(ctx.s, lesson_id, kinds=CHAT_KINDS, limit=None)
    ids = {e.user_id for e in events if e.user_id is not None}
    names = dict(ctx.s.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}
    out = []
    for e in events:
        if viewer.role == "student" and e.role in eventlog.HIDDEN_ROLES:
            continue  # SUP-4: students never see a hidden spectator, in the room or its replay
        p = e.payload or {}
        out.append({"id": e.id, "kind": e.kind, "at": _cn(e.at), "position_s": _position(segs, e.at),
                    "user_id": e.user_id, "display_name": names.get(e.user_id, ""), "role": e.role,
                    "text": str(p.get("text", ""))[:500],
                    "question_id": p.get("question_id") if isinstance(p.get("question_id"), int) else None})
    return sorted(out, key=lambda m: (m["position_s"], m["id"]))


def _watched(ctx: Ctx, lesson_id: int, user_id: int, length: float) -> float:
    rows = ctx.s.scalars(select(LessonEvent.payload).where(
        LessonEvent.lesson_id == lesson_id, LessonEvent.kind == "replay_progress", LessonEvent.user_id == user_id))
    return round(watched_seconds([r for p in rows for r in (p or {}).get("ranges") or []], length), 3)


# --------------------------------------------------------------------------- endpoints

@api.route("GET", "/api/lessons/{lesson_id:int}/replay", summary="课次回放时间线 Lesson replay timeline",
           tag="replay")
def replay(ctx: Ctx, lesson_id: int):
    """CLS-8 / SUP-5: segments on one timeline with signed media URLs, chat and Q&A beside, the
    download link, and for a student how much they have watched and whether it counts."""
    user = ctx.require()
    lesson, cls = _lesson(ctx, lesson_id, user)
    store, manifest, unplayable = _recording(ctx, lesson_id, quick_verify=True)
    segs = _timeline(ctx, lesson_id, store, manifest, unplayable)
    if not segs:
        raise _not_found()
    ticket = make_ticket(ctx.svc.cipher, purpose=PURPOSE, subject=f"lesson:{lesson_id}", user_id=user.id,
                         expires=ctx.now + TICKET_TTL)
    base = f"/api/lessons/{lesson_id}"

    def media(s: Seg, part: str) -> dict | None:
        if part not in s.codecs:
            return None
        return {"url": f"{base}/replay/{s.seq}/{part}?t={ticket}", "content_type": container_for(s.codecs[part])[1]}
    total = round(segs[-1].offset_s + segs[-1].duration_s, 3)
    profile = ctx.svc.profiles.get(cls.profile)
    out = {"lesson": {"id": lesson.id, "title": lesson.title, "mode": lesson.mode, "class_hours": lesson.class_hours,
                      "starts_at": _cn(lesson.starts_at), "ends_at": _cn(lesson.ends_at)},
           "class": {"id": cls.id, "name": cls.name},
           "recording": {"status": manifest.get("status"), "segments": len(manifest.get("segments") or []),
                         "playable": len(segs), "unplayable": sorted(unplayable), "head_hash": manifest.get("head")},
           "duration_s": total,
           "segments": [{"seq": s.seq, "offset_s": s.offset_s, "duration_s": s.duration_s,
                         "started_at": _cn(s.started_at), "sources": s.sources,
                         "main": media(s, "main"), "screen": media(s, "screen")} for s in segs],
           "messages": _messages(ctx, lesson_id, segs, user),
           "download": {"url": f"{base}/recording/download?t={ticket}"},
           "progress": {"report": user.role == "student", "every_s": REPORT_EVERY_S, "max_ranges": MAX_RANGES},
           "replay_counts_as_study": bool(profile and profile.replay_counts_as_study), "rule": RULE,
           "ticket_expires_at": _cn(ctx.now + TICKET_TTL)}
    if user.role == "student":
        out["watched_seconds"] = _watched(ctx, lesson_id, user.id, total)
    return out


@api.route("GET", "/api/lessons/{lesson_id:int}/replay/{seq:int}/{part:str}",
           summary="回放分段媒体（支持 Range） Replay segment media (seekable)", tag="replay", public=True,
           query=TicketQuery)
def replay_media(ctx: Ctx, query: TicketQuery, lesson_id: int, seq: int, part: str):
    """One segment's camera + mic ("main") or screen share ("screen") as its own WebM, remuxed
    once (no decoding) and served with HTTP Range; ``?t=`` is the ticket the timeline hands out."""
    user = _viewer(ctx, lesson_id, query.t)
    _lesson(ctx, lesson_id, user)
    if part not in PARTS:
        raise ApiError("NO_SUCH_PART", "分段媒体只有 main 与 screen", "A segment's media are 'main' and 'screen'",
                       field="part", status=404)
    store, manifest, _ = _recording(ctx, lesson_id, quick_verify=False)
    entry = next((e for e in manifest.get("segments") or [] if isinstance(e, dict) and e.get("seq") == seq), None)
    if entry is None:
        raise _not_found()
    try:
        tracks, _ = _tracks_of(ctx, lesson_id, entry, store)
        codecs = [t["codec"] for t in tracks if ("screen" if t["source"] in PARTS["screen"] else "main") == part]
        if not codecs:
            raise ApiError("NO_SUCH_PART", "该分段没有此部分（如无屏幕共享）", f"Segment {seq} has no {part} media",
                           field="part", status=404)
        _, ctype, ext = container_for(codecs)
        cache = _cache(ctx)
        target = cache.path(lesson_id, f"seg-{seq:05d}-{entry['sha256'][:16]}-{part}.{ext}")
        cache.ensure(target, lambda tmp: remux_part(_source(ctx, lesson_id, entry, store), tmp, part))
    except ApiError:
        raise
    except Exception as exc:  # a damaged segment (MediaError), the disk, the object store: never a 500
        log.warning("replay: lesson %s segment %s %s: %s", lesson_id, seq, part, exc)
        raise ApiError("SEGMENT_UNREADABLE", f"录像分段 {seq} 无法读取", f"Segment {seq} cannot be read: {exc}"[:300],
                       status=409, rule="REC-1") from None
    return file_response(target, ctx.request, content_type=ctype, etag=f"{entry['sha256'][:24]}-{part}")


def _check_ranges(raw: list, length: float) -> list[list[float]]:
    """Each range a pair of finite numbers with 0 ≤ from < to ≤ the recorded length; 422 naming the item."""
    def bad(where: str, rule: str, zh: str, en: str) -> ApiError:
        return ApiError("VALIDATION_FAILED", f"字段 {where}：{zh}", f"body field {where}: {en}", field=where,
                        status=422, rule=rule)
    out = []
    for i, r in enumerate(raw):
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise bad(f"ranges.{i}", "range_pair", "应为 [开始秒, 结束秒]", "must be a pair [from_s, to_s]")
        for j, x in enumerate(r):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise bad(f"ranges.{i}.{j}", "float_type", "应为有限数字（秒）", "must be a finite number of seconds")
        a, b = float(r[0]), float(r[1])
        if a < 0:
            raise bad(f"ranges.{i}.0", "greater_than_equal", "不能为负数", "must be ≥ 0")
        if not a < b:
            raise bad(f"ranges.{i}", "range_order", "开始须早于结束", "from must be before to")
        if a >= length or b > length + SLACK_S:
            raise bad(f"ranges.{i}.{0 if a >= length else 1}", "less_than_equal",
                      f"超出录像长度 {length:.1f} 秒", f"beyond the recording's {length:.1f} s")
        out.append([round(a, 3), round(min(b, length), 3)])
    return out


@api.route("POST", "/api/lessons/{lesson_id:int}/replay/progress", summary="回放观看进度 Replay watched ranges",
           tag="replay", roles=("student",), body=ProgressBody)
def replay_progress(ctx: Ctx, body: ProgressBody, lesson_id: int):
    """CLS-8: the ranges of the replay timeline the student watched since the last call, appended
    as a ``replay_progress`` event (make-up study where the profile counts replay)."""
    lesson, cls = _lesson(ctx, lesson_id, ctx.user)
    store, manifest, _ = _recording(ctx, lesson_id, quick_verify=False)
    segs = _timeline(ctx, lesson_id, store, manifest, set())
    length = segs[-1].offset_s + segs[-1].duration_s if segs else 0.0
    if not segs:
        raise _not_found()
    ranges = _check_ranges(body.ranges, length)
    ev = eventlog.append(ctx.s, lesson_id, "replay_progress", user_id=ctx.user.id, role="student",
                         session_id=body.session_id, node_id=NODE_ID, payload={"ranges": ranges, "reason": body.reason},
                         at=ctx.now)
    ctx.audit("replay.progress", target_type="lesson", target_id=lesson.id, institution_id=cls.institution_id,
              region_code=cls.district_code, event_id=ev.id, ranges=len(ranges), rule=RULE)
    return {"event_id": ev.id, "ranges": ranges, "length_s": round(length, 3),
            "watched_seconds": _watched(ctx, lesson_id, ctx.user.id, length)}


def _filename(cls: TrainingClass, lesson: Lesson, ext: str) -> str:
    day = lesson.starts_at.astimezone(CHINA_TZ).date().isoformat()
    name = re.sub(r"[\x00-\x1f\\/:*?\"<>|]+", "_", f"{cls.name}-{lesson.title}-{day}").strip(" ._") or "lesson"
    return f"{name[:150]}.{ext}"


@api.route("GET", "/api/lessons/{lesson_id:int}/recording/download",
           summary="下载整节课录像（单个文件，未重新编码） Download the lesson as one file", tag="replay", public=True,
           query=TicketQuery)
def download(ctx: Ctx, query: TicketQuery, lesson_id: int):
    """REC-1 / SUP-5: every segment end to end in one WebM (Matroska when a codec needs it), packets
    copied, built once and cached; Range supported; every request audited."""
    user = _viewer(ctx, lesson_id, query.t)
    lesson, cls = _lesson(ctx, lesson_id, user)
    store, manifest, unplayable = _recording(ctx, lesson_id, quick_verify=True)
    segs = _timeline(ctx, lesson_id, store, manifest, unplayable)
    if not segs:
        raise _not_found()
    entries = {e["seq"]: e for e in manifest["segments"] if isinstance(e, dict)}
    _, ctype, ext = container_for(c for s in segs for codecs in s.codecs.values() for c in codecs)
    cache = _cache(ctx)
    target = cache.path(lesson_id, f"lesson-{manifest['head'][:16]}-{len(segs)}.{ext}")
    try:
        cache.ensure(target, lambda tmp: concat(
            [(_source(ctx, lesson_id, entries[s.seq], store), s.offset_s) for s in segs], tmp))
    except ApiError:
        raise
    except Exception as exc:  # as above
        log.warning("replay: lesson %s download: %s", lesson_id, exc)
        raise ApiError("RECORDING_UNREADABLE", "录像无法合并为单个文件", f"The recording cannot be joined: {exc}"[:300],
                       status=409, rule="REC-1") from None
    for old in target.parent.glob("lesson-*"):  # an older build (fewer segments then) is not needed any more
        if old.name != target.name and not old.name.endswith((".lock", ".tmp")):
            old.unlink(missing_ok=True)
    ctx.audit("recording.download", target_type="recording", target_id=lesson_id, institution_id=cls.institution_id,
              region_code=cls.district_code, range=ctx.request.headers.get("range"), segments=len(segs),
              bytes=target.stat().st_size, rule="REC-1")
    return file_response(target, ctx.request, content_type=ctype, etag=f"{manifest['head'][:24]}-{len(segs)}",
                         filename=_filename(cls, lesson, ext))


@api.route("GET", "/api/me/replays", summary="我的课程回放 My lesson replays", tag="replay", roles=("student",))
def my_replays(ctx: Ctx):
    """CLS-8: the student's finished lessons that have a recording, newest first (links on the home page)."""
    rows = ctx.s.execute(
        select(Lesson, TrainingClass.name, Recording.duration_s).join(TrainingClass, TrainingClass.id == Lesson.class_id)
        .join(Enrolment, Enrolment.class_id == Lesson.class_id).join(Recording, Recording.lesson_id == Lesson.id)
        .where(Enrolment.student_user_id == ctx.user.id, Enrolment.status.in_(ROSTER), Recording.status != "deleted",
               Recording.segments > 0, Lesson.ends_at <= ctx.now)
        .order_by(Lesson.starts_at.desc()).limit(100)).all()
    return {"items": [{"lesson_id": le.id, "title": le.title, "class_id": le.class_id, "class_name": name,
                       "starts_at": _cn(le.starts_at), "ends_at": _cn(le.ends_at), "duration_s": duration,
                       "url": f"/replay?lesson={le.id}"} for le, name, duration in rows]}
