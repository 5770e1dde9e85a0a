"""Offline lessons' site videos (ATT-6): upload, listing, playback, deletion after retention, and the
per-lesson checklist supervisors read. Storage and integrity: server/sitevideos.py.

* ``POST /api/lessons/{id}/site-videos/clips/{class_hour}`` — the site clip of one class-hour; and
  ``POST /api/lessons/{id}/site-videos/full`` — the full-session video. Raw body, ``video/mp4`` or
  ``video/webm``, by the class's staff: its institution admin, its lecturers, its head teacher.
  Probed with PyAV (server/videoserve.py). Bounds chosen here (the seed says "10 秒钟" and "全程"):
  a clip lasts :data:`CLIP_SECONDS` (8–30 s: a phone's "10 seconds" is rarely exact; longer is a
  different video) and is at most :data:`CLIP_MAX_MB` MB; the full video lasts at least
  :data:`FULL_MIN_SHARE` of the scheduled lesson (50 %: breaks are not filmed, a camera battery runs
  out — but half a session is the least that can be called "全程") and at most ``QIHANG_MAX_VIDEO_MB``.
  Neither can be uploaded before it can exist: a clip once its class-hour has begun, the full video
  once that share of the lesson has passed. Nothing is replaced: a second upload is kept beside the
  first, and the checklist counts class-hours covered.
* ``GET /api/lessons/{id}/site-videos`` — staff of the class and supervisors of its region: the files,
  the lesson's checklist and a verification (``?full=1`` decrypts and hashes every file).
* ``GET /api/site-videos/{id}/video`` — playback with HTTP Range (a ticket in ``?t=`` for ``<video>``).
* ``DELETE /api/site-videos/{id}`` — refused before retain-until for every role (409
  ``RETENTION_ACTIVE``); afterwards platform admins and the institution's admins. Every attempt is
  audited, refusals in a transaction of their own (as recordings, server/api/recordings.py).
* ``GET /api/site-videos/checklist`` — per offline lesson: class-hours with a clip against the
  lesson's class-hours, and whether the full video is there.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import Field
from sqlalchemy import func, select

from models import ClassLecturer, Lesson, SiteVideo, StoredFile, TrainingClass, User
from server.api.common import get_class
from server.api.endpoint import Api, Ctx
from server.auth.scope import can_see_class, scope_classes
from server.errors import ApiError, Conflict, Forbidden, NotFound, Unauthorized
from server.services import CHINA_TZ
from server.sitevideos import ManifestBroken, SiteManifests, mirror_to_store, verify_lesson
from server.validation import Query
from server.videoserve import VIDEO_TYPES, MiB, VideoStore, make_ticket, probe, range_response, read_ticket, sniff, spool_request

api = Api()
RULE = "ATT-6"
UPLOADERS = ("institution_admin", "lecturer", "assistant")
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")
CLIP_SECONDS = (8.0, 30.0)
CLIP_MAX_MB = 200
FULL_MIN_SHARE = 0.5
WRITABLE = ("open", "in_progress", "finished")  # an archived class is closed
TICKET_TTL = timedelta(hours=6)
MAX_ID = 2**31 - 1


class ListQuery(Query):
    full: bool = False


class PlayQuery(Query):
    t: str | None = Field(default=None, max_length=200)


class ChecklistQuery(Query):
    class_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    date_from: date | None = None
    date_to: date | None = None
    limit: int = Field(default=300, ge=1, le=2000)


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _err(code: str, zh: str, en: str, *, field: str | None = None, status: int = 422, **details) -> ApiError:
    return ApiError(code, zh, en, field=field, status=status, rule=RULE, details=details or None)


def _tools(ctx: Ctx) -> tuple[SiteManifests, VideoStore]:
    from recorder.signing import load_platform_key
    return SiteManifests(ctx.svc.settings.uploads_dir, load_platform_key(ctx.svc.settings)), VideoStore(ctx.svc.files)


def _lesson(ctx: Ctx, lesson_id: int) -> tuple[Lesson, TrainingClass]:
    if not 0 < lesson_id <= MAX_ID:
        raise NotFound("课次", "lesson")
    lesson = ctx.s.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound("课次", "lesson")
    return lesson, get_class(ctx, lesson.class_id)  # tenancy and region scope: 404 when not visible


def _may_upload(ctx: Ctx, lesson: Lesson, cls: TrainingClass) -> bool:
    u = ctx.user
    if u.institution_id != cls.institution_id:
        return False
    if u.role == "institution_admin" or cls.head_teacher_user_id == u.id:
        return True
    return u.role == "lecturer" and (lesson.lecturer_user_id == u.id or ctx.s.get(ClassLecturer, (cls.id, u.id)) is not None)


def _minutes(ctx: Ctx, cls: TrainingClass) -> int:
    profile = ctx.svc.profiles.get(cls.profile)
    return profile.class_hour_minutes if profile else 45


def video_dict(ctx: Ctx, v: SiteVideo, names: dict[int, str] | None = None) -> dict:
    names = names or {}
    out = {"id": v.id, "lesson_id": v.lesson_id, "kind": v.kind, "class_hour": v.class_hour, "seq": v.seq,
           "content_type": v.content_type, "size": v.size, "sha256": v.sha256, "duration_seconds": v.duration_seconds,
           "codec": v.codec, "uploaded_by": v.uploaded_by, "uploaded_by_name": names.get(v.uploaded_by),
           "uploaded_at": _cn(v.uploaded_at), "retention_years": v.retention_years, "retain_until": _cn(v.retain_until),
           "deletable": ctx.now >= v.retain_until and v.status != "deleted", "status": v.status,
           "deleted_at": _cn(v.deleted_at), "url": None}
    if v.status != "deleted":
        t = make_ticket(ctx.svc.cipher, purpose="site_video", subject=f"site:{v.id}", user_id=ctx.user.id,
                        expires=ctx.now + TICKET_TTL)
        out["url"] = f"/api/site-videos/{v.id}/video?t={t}"
    return out


def checklist_row(lesson: Lesson, cls: TrainingClass, videos: list[SiteVideo], now: datetime) -> dict:
    kept = [v for v in videos if v.status != "deleted"]
    hours = sorted({v.class_hour for v in kept if v.kind == "clip"})
    full = any(v.kind == "full" for v in kept)
    missing = [h for h in range(1, lesson.class_hours + 1) if h not in hours]
    return {"lesson_id": lesson.id, "title": lesson.title, "class_id": cls.id, "class_name": cls.name,
            "institution_id": cls.institution_id, "institution_name": cls.institution.name,
            "district_code": cls.district_code, "starts_at": _cn(lesson.starts_at), "ends_at": _cn(lesson.ends_at),
            "venue_name": lesson.venue_name, "held": now >= lesson.ends_at, "class_hours": lesson.class_hours,
            "clips_required": lesson.class_hours, "clips_present": len(hours), "clip_hours": hours,
            "missing_clip_hours": missing, "full_video": full, "complete": not missing and full, "rule": RULE}


# --------------------------------------------------------------------------- uploads

@api.route("POST", "/api/lessons/{lesson_id:int}/site-videos/clips/{class_hour:int}",
           summary="上传线下课时现场短视频 Upload a class-hour's site clip", tag="sitevideos", roles=UPLOADERS, status=201)
def upload_clip(ctx: Ctx, lesson_id: int, class_hour: int):
    """ATT-6: the ~10-second site clip of one class-hour (8–30 s), raw video/mp4 or video/webm body."""
    return _upload(ctx, lesson_id, "clip", class_hour)


@api.route("POST", "/api/lessons/{lesson_id:int}/site-videos/full",
           summary="上传线下课全程视频 Upload an offline lesson's full-session video", tag="sitevideos",
           roles=UPLOADERS, status=201)
def upload_full(ctx: Ctx, lesson_id: int):
    """ATT-6: the full-session video, at least half the scheduled lesson, raw video/mp4 or video/webm body."""
    return _upload(ctx, lesson_id, "full", None)


def _upload(ctx: Ctx, lesson_id: int, kind: str, class_hour: int | None) -> dict:
    from recorder.retention import add_years, iso, retention_years
    lesson, cls = _lesson(ctx, lesson_id)
    if not _may_upload(ctx, lesson, cls):
        raise Forbidden("SITE_VIDEO_NOT_CLASS_STAFF", "只有本班期的机构管理员、授课讲师或班主任可以上传现场视频",
                        "Only the class's institution admin, its lecturers or its head teacher may upload site videos",
                        rule=RULE)
    if lesson.mode != "offline":
        raise _err("NOT_OFFLINE_LESSON", "只有线下课次需要上传现场视频", "Only an offline lesson takes site videos",
                   status=409, field="lesson_id")
    if cls.status not in WRITABLE:
        raise _err("CLASS_NOT_RUNNING", f"班期状态为 {cls.status}，不能上传现场视频",
                   f"The class is {cls.status}; site videos cannot be uploaded", status=409)
    scheduled = (lesson.ends_at - lesson.starts_at).total_seconds()
    if kind == "clip":
        if not 1 <= class_hour <= lesson.class_hours:
            raise _err("SITE_CLIP_HOUR", f"课时序号须在 1–{lesson.class_hours} 之间",
                       f"class_hour must be 1–{lesson.class_hours} for this lesson", field="class_hour")
        opens = lesson.starts_at + timedelta(minutes=_minutes(ctx, cls) * (class_hour - 1))
    else:
        opens = lesson.starts_at + timedelta(seconds=scheduled * FULL_MIN_SHARE)
    if ctx.now < opens:
        raise _err("SITE_VIDEO_TOO_EARLY", f"该视频须在 {_cn(opens)[:16]} 之后上传（尚未发生的培训无法拍摄）",
                   f"This video can be uploaded from {_cn(opens)[:16]} Beijing time on", status=409,
                   field="class_hour" if kind == "clip" else None, opens_at=_cn(opens))
    ctype = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in VIDEO_TYPES:
        raise _err("VIDEO_TYPE", "请以 video/mp4 或 video/webm 上传 MP4 或 WebM 视频",
                   "Send an MP4 or WebM video as video/mp4 or video/webm", field="Content-Type", status=415)
    settings = ctx.svc.settings
    limit = min(CLIP_MAX_MB * MiB, settings.max_video_bytes) if kind == "clip" else settings.max_video_bytes
    try:
        spooled = spool_request(ctx.request, settings.uploads_dir / "incoming", limit)
    except ApiError as exc:
        exc.rule = RULE
        raise
    try:
        if spooled.size == 0:
            raise _err("VIDEO_EMPTY", "上传的视频为空文件", "The uploaded video is empty", field="video")
        if sniff(spooled.head) != ctype:
            raise _err("VIDEO_TYPE_MISMATCH", f"文件内容不是 {ctype} 视频", f"The file's content is not {ctype}",
                       field="video", status=415)
        try:
            facts = probe(spooled.path)
        except ValueError as exc:
            raise _err("VIDEO_UNREADABLE", "视频无法读取或没有画面", f"The video cannot be read: {exc}"[:300],
                       field="video") from None
        _check_length(kind, facts.duration, scheduled)
        store = VideoStore(ctx.svc.files)
        stored = store.save(ctx.s, spooled.path, size=spooled.size, sha256=spooled.sha256, content_type=ctype,
                            kind="site_clip" if kind == "clip" else "site_video", width=facts.width,
                            height=facts.height, owner_user_id=ctx.user.id, institution_id=cls.institution_id)
    finally:
        spooled.path.unlink(missing_ok=True)
    profile = ctx.svc.profiles.get(cls.profile)
    years = retention_years(getattr(profile, "recording_retention_years", None))
    until = add_years(max(ctx.now, lesson.ends_at), years)
    manifests, _ = _tools(ctx)
    with manifests.locked(lesson.id):
        try:
            m = manifests.load(lesson.id)
            known = ctx.s.scalar(select(func.count()).select_from(SiteVideo).where(SiteVideo.lesson_id == lesson.id))
            if known > len(m["entries"]):  # an older signed manifest put back: never sign over a rollback
                raise ManifestBroken(f"it lists {len(m['entries'])} videos, the database {known}")
        except ManifestBroken as exc:
            raise _err("SITE_MANIFEST_BROKEN", "本课次的现场视频清单校验失败（可能被篡改），已拒绝继续写入，请联系平台管理员",
                       f"The lesson's site-video manifest fails its check ({exc}); nothing is added to it",
                       status=409) from None
        fields = {"kind": kind, "class_hour": class_hour, "file_id": stored.id, "storage_key": stored.storage_key,
                  "content_type": ctype, "size": stored.size, "sha256": stored.sha256, "duration_s": facts.duration,
                  "uploaded_by": ctx.user.id, "uploaded_at": iso(ctx.now), "retain_until": iso(until)}
        entry = manifests.chain(m, fields)
        seq = entry["index"]
        row = SiteVideo(lesson_id=lesson.id, class_id=cls.id, institution_id=cls.institution_id,
                        district_code=cls.district_code, kind=kind, class_hour=class_hour, seq=seq,
                        entry_hash=entry["hash"], file_id=stored.id, content_type=ctype, size=stored.size,
                        sha256=stored.sha256, duration_seconds=facts.duration, codec=facts.codec,
                        uploaded_by=ctx.user.id, uploaded_at=ctx.now, retention_years=years, retain_until=until,
                        status="kept")
        ctx.s.add(row)
        ctx.s.flush()  # a database refusal comes before the manifest is touched
        manifests.write(m, at=iso(ctx.now))
        ctx.audit("sitevideo.upload", target_type="site_video", target_id=row.id, institution_id=cls.institution_id,
                  region_code=cls.district_code, rule=RULE, lesson_id=lesson.id, kind=kind, class_hour=class_hour,
                  file_id=stored.id, size=stored.size, sha256=stored.sha256, duration_seconds=facts.duration,
                  seq=seq, entry_hash=entry["hash"], retain_until=iso(until))
        ctx.s.commit()  # under the lock: the manifest and the rows move together
    if settings.recording_storage == "s3":
        from recorder.storage import open_store
        mirror_to_store(open_store(settings), lesson.id, [(stored.storage_key, VideoStore(ctx.svc.files)._path(
            stored.storage_key))], manifests.path(lesson.id), until)
    return dict(video_dict(ctx, row), manifest_head=entry["hash"])


def _check_length(kind: str, duration: float, scheduled: float) -> None:
    lo, hi = CLIP_SECONDS
    if kind == "clip" and duration < lo:
        raise _err("SITE_CLIP_TOO_SHORT", f"现场短视频时长 {duration:.1f} 秒，不足 {lo:g} 秒",
                   f"The site clip lasts {duration:.1f} s, under {lo:g} s", field="video", duration_seconds=duration,
                   min_seconds=lo, max_seconds=hi)
    if kind == "clip" and duration > hi:
        raise _err("SITE_CLIP_TOO_LONG", f"现场短视频时长 {duration:.1f} 秒，超过 {hi:g} 秒（全程视频请另行上传）",
                   f"The site clip lasts {duration:.1f} s, over {hi:g} s (upload the full session separately)",
                   field="video", duration_seconds=duration, min_seconds=lo, max_seconds=hi)
    need = scheduled * FULL_MIN_SHARE
    if kind == "full" and duration < need:
        raise _err("SITE_VIDEO_TOO_SHORT", f"全程视频时长 {duration / 60:.1f} 分钟，不足本课计划时长的一半（{need / 60:.1f} 分钟）",
                   f"The full-session video lasts {duration / 60:.1f} min, under half the scheduled lesson "
                   f"({need / 60:.1f} min)", field="video", duration_seconds=duration, min_seconds=need)


# --------------------------------------------------------------------------- reading

@api.route("GET", "/api/lessons/{lesson_id:int}/site-videos", summary="线下课现场视频 An offline lesson's site videos",
           tag="sitevideos", roles=READERS, query=ListQuery)
def list_lesson_videos(ctx: Ctx, query: ListQuery, lesson_id: int):
    """The files, the checklist and an integrity check (``full=1`` decrypts and hashes every file)."""
    lesson, cls = _lesson(ctx, lesson_id)
    videos = list(ctx.s.scalars(select(SiteVideo).where(SiteVideo.lesson_id == lesson.id).order_by(SiteVideo.seq)))
    names = {u.id: u.display_name for u in ctx.s.scalars(select(User).where(User.id.in_({v.uploaded_by for v in videos})))}
    manifests, store = _tools(ctx)
    v = verify_lesson(ctx.s, manifests, store, lesson.id, manifests.key.public, full=query.full)
    if not v.ok:
        ctx.audit("sitevideo.verify_failed", target_type="lesson", target_id=lesson.id, institution_id=cls.institution_id,
                  region_code=cls.district_code, rule=RULE, mode=v.mode, first_bad=v.summary()["first_bad"])
    return {"lesson_id": lesson.id, "mode": lesson.mode, "checklist": checklist_row(lesson, cls, videos, ctx.now),
            "items": [video_dict(ctx, x, names) for x in videos], "verification": v.summary(),
            "may_upload": _may_upload(ctx, lesson, cls), "clip_seconds": list(CLIP_SECONDS),
            "full_min_seconds": (lesson.ends_at - lesson.starts_at).total_seconds() * FULL_MIN_SHARE}


@api.route("GET", "/api/site-videos/checklist", summary="线下课现场视频核对表 Offline lessons' site-video checklist",
           tag="sitevideos", roles=READERS, query=ChecklistQuery)
def checklist(ctx: Ctx, query: ChecklistQuery):
    """Per offline lesson in scope (newest first): clips per class-hour against required, full video."""
    stmt = scope_classes(select(Lesson, TrainingClass).join(TrainingClass, TrainingClass.id == Lesson.class_id)
                         .where(Lesson.mode == "offline"), ctx.user)
    if query.class_id is not None:
        stmt = stmt.where(Lesson.class_id == query.class_id)
    if query.date_from is not None:
        stmt = stmt.where(Lesson.starts_at >= datetime.combine(query.date_from, time(0), CHINA_TZ))
    if query.date_to is not None:
        stmt = stmt.where(Lesson.starts_at < datetime.combine(query.date_to + timedelta(days=1), time(0), CHINA_TZ))
    rows = ctx.s.execute(stmt.order_by(Lesson.starts_at.desc(), Lesson.id.desc()).limit(query.limit)).all()
    videos: dict[int, list[SiteVideo]] = {}
    for v in ctx.s.scalars(select(SiteVideo).where(SiteVideo.lesson_id.in_({le.id for le, _ in rows}))):
        videos.setdefault(v.lesson_id, []).append(v)
    items = [checklist_row(le, cls, videos.get(le.id, []), ctx.now) for le, cls in rows]
    held = [i for i in items if i["held"]]
    return {"items": items, "rule": RULE, "totals": {
        "lessons": len(items), "held": len(held), "complete": sum(i["complete"] for i in held),
        "clips_required": sum(i["clips_required"] for i in held), "clips_present": sum(i["clips_present"] for i in held),
        "missing_full_video": sum(not i["full_video"] for i in held)}}


@api.route("GET", "/api/site-videos/{video_id:int}/video", summary="播放现场视频（支持 Range） Play a site video",
           tag="sitevideos", public=True, query=PlayQuery)
def play(ctx: Ctx, query: PlayQuery, video_id: int):
    """Staff of the class and supervisors of its region; ``?t=`` carries the ticket from the listing."""
    if ctx.user is None and query.t:
        uid = read_ticket(ctx.svc.cipher, query.t, purpose="site_video", subject=f"site:{video_id}", now=ctx.now)
        user = ctx.s.get(User, uid) if uid is not None else None
        ctx.user = user if user is not None and user.active else None
        if ctx.user is None:
            raise Unauthorized("TICKET_INVALID", "视频链接已失效，请刷新页面", "The video link has expired; reload the page")
    if ctx.user is None:
        raise Unauthorized()
    v = ctx.s.get(SiteVideo, video_id) if 0 < video_id <= MAX_ID else None
    cls = ctx.s.get(TrainingClass, v.class_id) if v else None
    if v is None or ctx.user.role not in READERS or not can_see_class(ctx.user, cls):
        raise NotFound("现场视频", "site video")
    if v.status == "deleted":
        raise _err("SITE_VIDEO_DELETED", "该视频已在保存期满后删除", "This video was deleted after its retention", status=410)
    return range_response(VideoStore(ctx.svc.files), ctx.s.get(StoredFile, v.file_id), ctx.request)


# --------------------------------------------------------------------------- deletion

@api.route("DELETE", "/api/site-videos/{video_id:int}", summary="删除现场视频（保存期满后） Delete a site video",
           tag="sitevideos")
def delete_video(ctx: Ctx, video_id: int):
    """REC-1 / ATT-6: refused before retain_until for every role; afterwards platform admins and the
    institution's admins. Every attempt is in the audit log."""
    from recorder.retention import DELETERS, AlreadyDeleted, RetentionActive, check_deletable, iso
    user = ctx.require()
    v = ctx.s.get(SiteVideo, video_id) if 0 < video_id <= MAX_ID else None
    cls = ctx.s.get(TrainingClass, v.class_id) if v else None
    where = {"institution_id": v.institution_id if v else None, "region_code": v.district_code if v else None}

    def refuse(err: ApiError, reason: str, **detail):
        ctx.audit("sitevideo.delete_refused", target_type="site_video", target_id=video_id, reason=reason,
                  rule=RULE, code=err.code, **where, **detail)
        ctx.s.commit()  # the refusal is evidence: it stays in the log although the request fails
        raise err

    if user.role not in READERS:
        refuse(Forbidden("FORBIDDEN", "现场视频不得删除", "Site videos may not be deleted by your role", rule=RULE), "role")
    if v is None or not can_see_class(user, cls):
        refuse(ApiError("NOT_FOUND", "现场视频不存在或无权查看", "Site video not found or not visible to you", status=404,
                        rule=RULE), "not_found")
    try:
        check_deletable(v, ctx.now)
    except AlreadyDeleted:
        refuse(Conflict("ALREADY_DELETED", "该视频已删除", "This video has already been deleted", rule=RULE),
               "already_deleted")
    except RetentionActive as exc:
        refuse(Conflict("RETENTION_ACTIVE",
                        f"现场视频须保存至 {_cn(exc.retain_until)[:16]}（不少于3年），在此之前任何角色（含平台管理员）均不得删除",
                        f"This site video must be kept until {iso(exc.retain_until)} (at least 3 years); nobody, "
                        "platform admins included, may delete it before", field="video_id", rule=RULE,
                        details={"retain_until": iso(v.retain_until), "retention_years": v.retention_years}),
               "retention", retain_until=iso(v.retain_until))
    if user.role not in DELETERS or (user.role == "institution_admin" and user.institution_id != v.institution_id):
        refuse(Forbidden("FORBIDDEN", "只有平台管理员或本机构管理员可在保存期满后删除现场视频",
                         "Only platform admins or the institution's admins may delete a site video once its retention "
                         "has run out", rule=RULE), "role", retain_until=iso(v.retain_until))
    v.status, v.deleted_at, v.deleted_by = "deleted", ctx.now, user.id
    ctx.s.flush()  # the database guard checks the date before the file goes
    stored = ctx.s.get(StoredFile, v.file_id)
    VideoStore(ctx.svc.files)._path(stored.storage_key).unlink(missing_ok=True)
    ctx.audit("sitevideo.deleted", target_type="site_video", target_id=v.id, rule=RULE, **where, lesson_id=v.lesson_id,
              kind=v.kind, class_hour=v.class_hour, sha256=v.sha256, size=v.size, retain_until=iso(v.retain_until))
    return {"id": v.id, "status": "deleted", "deleted_at": iso(ctx.now)}
