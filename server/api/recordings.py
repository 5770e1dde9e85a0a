"""Lesson recordings (REC-1, SUP-5, ATT-6): their status, retention and integrity; deletion refused
until the retain-until date, for every role.

* ``GET /api/lessons/{id}/recording`` — institution staff of the class, supervisors whose region
  covers it (audited as every supervisor read, SUP-6) and platform admins: status, storage,
  retain-until, the segments from the signed manifest, and a verification run now — quick (chain,
  signature, presence and sizes) or, with ``?full=1``, every segment's SHA-256 (recorder/verify.py).
* ``DELETE /api/lessons/{id}/recording`` — before ``retain_until``: 409 ``RETENTION_ACTIVE`` (REC-1)
  whoever asks, platform admins included; from then on platform admins and the class's institution
  admins may delete (recorder/retention.py). Every attempt is audited — refusals too, in a
  transaction of their own that the refusal does not roll back.
"""
from __future__ import annotations

import json

from models import Lesson, Recording, TrainingClass
from server.api.endpoint import Api, Ctx
from server.auth.scope import can_see_class
from server.errors import ApiError, Conflict, Forbidden
from server.validation import Query

api = Api()
RULE = "REC-1"
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")


class RecordingQuery(Query):
    full: bool = False


def _tools(svc):
    """The signing key and stores, made once per Services (they read files and may open a client)."""
    tools = getattr(svc, "_recording_tools", None)
    if tools is None:
        from recorder.signing import load_platform_key
        from recorder.storage import LocalStore
        tools = {"key": load_platform_key(svc.settings), "local": LocalStore(svc.settings.recordings_root), "s3": None}
        svc._recording_tools = tools
    return tools


def _store(svc, rec: Recording):
    tools = _tools(svc)
    if rec.storage_kind == "s3":
        if tools["s3"] is None:
            from recorder.storage import S3Store
            tools["s3"] = S3Store.from_settings(svc.settings)
        return tools["s3"]
    return tools["local"]


def _lesson(ctx: Ctx, lesson_id: int) -> tuple[Lesson | None, TrainingClass | None]:
    lesson = ctx.s.get(Lesson, lesson_id)
    return (lesson, ctx.s.get(TrainingClass, lesson.class_id)) if lesson else (None, None)


def _not_found() -> ApiError:
    return ApiError("NO_RECORDING", "该课次没有录像或无权查看", "This lesson has no recording, or it is not visible to you",
                    status=404, rule=RULE)


@api.route("GET", "/api/lessons/{lesson_id:int}/recording", summary="课次录像状态与校验 Lesson recording",
           tag="recordings", roles=READERS, query=RecordingQuery)
def get_recording(ctx: Ctx, query: RecordingQuery, lesson_id: int):
    """REC-1: the recording's retention and integrity; ``full=1`` hashes every segment."""
    from recorder.manifest import MANIFEST
    from recorder.retention import iso
    from recorder.verify import verify_recording
    from recorder.registry import RecordingRegistry
    lesson, cls = _lesson(ctx, lesson_id)
    if lesson is None or not can_see_class(ctx.user, cls):
        raise _not_found()
    rec = ctx.s.get(Recording, lesson_id)
    if rec is None or rec.status != "deleted":  # a recorder without a database: the row follows the signed manifest
        store = _store(ctx.svc, rec) if rec else _tools(ctx.svc)["local"]
        RecordingRegistry(None, ctx.svc.profiles, ctx.svc.clock).sync_in(ctx.s, lesson_id, store,
                                                                         _tools(ctx.svc)["key"].public)
        rec = ctx.s.get(Recording, lesson_id)
    if rec is None:
        raise _not_found()
    out = {"lesson_id": lesson_id, "class_id": rec.class_id, "status": rec.status, "storage": rec.storage_kind,
           "opened_at": iso(rec.opened_at), "finished_at": iso(rec.finished_at) if rec.finished_at else None,
           "retention_years": rec.retention_years, "retain_until": iso(rec.retain_until),
           "deletable": ctx.now >= rec.retain_until and rec.status != "deleted", "rule": RULE,
           "segment_count": rec.segments, "bytes": rec.bytes, "duration_s": rec.duration_s,
           "bytes_per_hour": round(rec.bytes * 3600 / rec.duration_s) if rec.duration_s else None,
           "head_hash": rec.head_hash, "key_id": rec.key_id, "segments": [], "verification": None}
    if rec.status == "deleted":
        out["deleted_at"] = iso(rec.deleted_at)
        return out
    store = _store(ctx.svc, rec)
    raw = store.read(lesson_id, MANIFEST)
    try:
        manifest = json.loads(raw) if raw else {}
    except ValueError:
        manifest = {}
    out["segments"] = [{k: e.get(k) for k in ("seq", "file", "size", "sha256", "started_at", "ended_at", "duration_s",
                                              "tracks")} for e in manifest.get("segments") or [] if isinstance(e, dict)]
    v = verify_recording(store, lesson_id, _tools(ctx.svc)["key"].public, full=query.full,
                         expected={"segments": rec.segments, "head_hash": rec.head_hash})
    out["verification"] = v.summary()
    if query.full:
        rec.verified_at, rec.verification = ctx.now, v.summary()
        out["verified_at"] = iso(ctx.now)
    elif rec.verified_at:
        out["verified_at"], out["last_full_verification"] = iso(rec.verified_at), rec.verification
    return out


@api.route("DELETE", "/api/lessons/{lesson_id:int}/recording", summary="删除课次录像（保存期满后） Delete a recording",
           tag="recordings")
def delete_recording(ctx: Ctx, lesson_id: int):
    """REC-1: refused before retain_until for every role (409 RETENTION_ACTIVE); afterwards platform
    admins and the institution's admins may delete. Every attempt is in the audit log."""
    from recorder.retention import DELETERS, AlreadyDeleted, RetentionActive, check_deletable, delete_recording as purge
    from recorder.retention import iso
    from recorder.storage import StorageError
    user = ctx.require()
    lesson, cls = _lesson(ctx, lesson_id)
    rec = ctx.s.get(Recording, lesson_id) if lesson else None
    where = {"institution_id": cls.institution_id if cls else None, "region_code": cls.district_code if cls else None}

    def refuse(err: ApiError, reason: str, **detail):
        ctx.audit("recording.delete_refused", target_type="recording", target_id=lesson_id, reason=reason,
                  rule=RULE, code=err.code, **where, **detail)
        ctx.s.commit()  # the refusal is evidence: it stays in the log although the request fails
        raise err

    if user.role not in READERS:
        refuse(Forbidden("FORBIDDEN", "录像不得删除", "Recordings may not be deleted by your role", rule=RULE), "role")
    if rec is None or not can_see_class(user, cls):
        refuse(_not_found(), "not_found")
    try:
        check_deletable(rec, ctx.now)
    except AlreadyDeleted:
        refuse(Conflict("ALREADY_DELETED", "该录像已删除", "This recording has already been deleted", rule=RULE),
               "already_deleted")
    except RetentionActive as exc:
        refuse(Conflict("RETENTION_ACTIVE", exc.message_zh, exc.message_en, field="lesson_id", rule=RULE,
                        details={"retain_until": iso(rec.retain_until), "retention_years": rec.retention_years}),
               "retention", retain_until=iso(rec.retain_until))
    if user.role not in DELETERS or (user.role == "institution_admin" and user.institution_id != rec.institution_id):
        refuse(Forbidden("FORBIDDEN", "只有平台管理员或本机构管理员可在保存期满后删除录像",
                         "Only platform admins or the institution's admins may delete a recording once its "
                         "retention has run out", rule=RULE), "role", retain_until=iso(rec.retain_until))
    try:
        freed = purge(ctx.s, rec, _store(ctx.svc, rec), now=ctx.now, actor_user_id=user.id)
    except StorageError as exc:
        ctx.s.rollback()
        refuse(Conflict("STORE_REFUSED", "存储拒绝删除录像（仍在对象锁定期内）", f"The store refused: {exc}", rule=RULE),
               "store_refused")
    ctx.audit("recording.deleted", target_type="recording", target_id=lesson_id, rule=RULE, **where, **freed)
    return {"lesson_id": lesson_id, "status": "deleted", "deleted_at": iso(ctx.now), **freed}
