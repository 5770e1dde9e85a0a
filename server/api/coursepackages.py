"""Recorded course packages (COURSE-1/2/3, CLS-4).

* An institution admin builds a package for the institution; a platform admin builds shared ones
  (``institution_id`` null, any institution may plan them once published).
* ``POST /api/course-packages`` — the introduction (COURSE-2: name, total hours, audience, content,
  objectives, each required; a missing one is named in the error).
* ``POST …/chapters`` — the catalogue, in order; ``POST …/chapters/{id}/resources?title=`` — a course
  video as the raw body (video/mp4 or video/webm); its play time is read from the file with PyAV,
  never taken from the client. Only videos count towards play time (see server/coursepackages/rules.py).
* ``PUT …/resources/{id}/proof`` (a PDF/JPEG/PNG as the raw body) or ``PUT …/resources/{id}/licence``
  (holder, licence type, valid until) — COURSE-3's proof of copyright or licence.
* ``POST …/publish`` — draft → published once every rule holds (≥ 45 minutes of play, declared
  hours = computed class-hours, proof on every resource); all problems are listed at once.
  ``POST …/retire`` — published → retired: no longer plannable.
* Reads: the institution's staff, platform admins, and supervisors of the institution's region
  (SUP-3; their reads are audited by the framework, SUP-6). Shared packages: everyone once published.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field
from sqlalchemy import and_, or_, select

from models import Institution, StoredFile
from models.coursepackages import LICENCE_TYPES, CourseChapter, CoursePackage, CourseResource
from server.api.endpoint import Api, Ctx
from server.auth.scope import region_covers, region_prefix
from server.coursepackages import rules
from server.errors import ApiError, NotFound, RuleViolations
from server.services import CHINA_TZ
from server.validation import Body, Query
from server.videoserve import VIDEO_TYPES, VideoStore, range_response, receive_video, spool_request

api = Api()
TAG = "course-packages"
AUTHORS = ("institution_admin", "platform_admin")
READERS = ("platform_admin", "institution_admin", "lecturer", "assistant", "supervisor")
PROOF_TYPES = {"application/pdf": b"%PDF", "image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG"}
OptText = str | None


class IntroBody(Body):
    """COURSE-2; every field is checked by the server so a missing one is named (INTRO_FIELD_MISSING)."""
    name: OptText = Field(default=None, max_length=200)
    total_hours: int | None = Field(default=None, ge=1, le=1000)
    audience: OptText = Field(default=None, max_length=2000)
    content: OptText = Field(default=None, max_length=4000)
    objectives: OptText = Field(default=None, max_length=2000)
    profile: str | None = Field(default=None, max_length=32)  # a platform admin's shared package names it


class ChapterBody(Body):
    title: str = Field(min_length=1, max_length=200)


class ResourceQuery(Query):
    title: str = Field(min_length=1, max_length=200)


class LicenceBody(Body):
    holder: str = Field(min_length=1, max_length=200)
    licence_type: Literal[LICENCE_TYPES]  # type: ignore[valid-type]
    valid_until: date | None = None  # None: without end (e.g. the institution's own copyright)


class ListQuery(Query):
    status: Literal["draft", "published", "retired"] | None = None


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _minutes(ctx: Ctx, pkg: CoursePackage) -> int:
    profile = ctx.svc.profiles.get(pkg.profile)
    return profile.class_hour_minutes if profile else 45


def _region(ctx: Ctx, pkg: CoursePackage) -> str | None:
    inst = ctx.s.get(Institution, pkg.institution_id) if pkg.institution_id else None
    return inst.region_code if inst else None


def _may_read(ctx: Ctx, pkg: CoursePackage) -> bool:
    u = ctx.user
    if u.role == "platform_admin":
        return True
    if pkg.institution_id is None:
        return pkg.status != "draft"
    if u.role == "supervisor":
        region = _region(ctx, pkg)
        return region is not None and region_covers(u, region)
    return u.institution_id == pkg.institution_id


def _package(ctx: Ctx, package_id: int, *, write: bool = False) -> CoursePackage:
    pkg = ctx.s.get(CoursePackage, package_id) if 0 < package_id < 2**31 else None
    if pkg is None or not _may_read(ctx, pkg):
        raise NotFound("课程包", "course package")
    if write:
        mine = (pkg.institution_id is None and ctx.user.role == "platform_admin") or (
            pkg.institution_id is not None and ctx.user.role == "institution_admin"
            and ctx.user.institution_id == pkg.institution_id)
        if not mine:
            raise ApiError("NOT_PACKAGE_OWNER", "只有课程包所属机构的管理员（共享课程包为平台管理员）可以修改",
                           "Only the package's institution admin (a platform admin for shared packages) may change it",
                           status=403, rule="COURSE-1")
    return pkg


def _draft(pkg: CoursePackage) -> None:
    if pkg.status != "draft":
        raise ApiError("PACKAGE_NOT_DRAFT", f"课程包状态为 {pkg.status}，目录和资源只能在草稿状态修改",
                       f"The package is {pkg.status}; its introduction, catalogue and resources change only as a draft",
                       status=409, rule="COURSE-1")


def _resource(ctx: Ctx, pkg: CoursePackage, resource_id: int) -> CourseResource:
    r = ctx.s.get(CourseResource, resource_id) if 0 < resource_id < 2**31 else None
    if r is None or r.chapter.package_id != pkg.id:
        raise NotFound("课程资源", "resource")
    return r


def _audit(ctx: Ctx, action: str, pkg: CoursePackage, **detail) -> None:
    ctx.audit(action, target_type="course_package", target_id=pkg.id, institution_id=pkg.institution_id,
              region_code=_region(ctx, pkg), **detail)


def _resource_dict(r: CourseResource, today: date) -> dict:
    return {"id": r.id, "title": r.title, "kind": r.kind, "position": r.position,
            "duration_seconds": r.duration_seconds, "codec": r.codec, "file_id": r.file_id,
            "proof": rules.proof_state(r, today), "proof_file_id": r.proof_file_id,
            "licence": {"holder": r.licence_holder, "licence_type": r.licence_type,
                        "valid_until": r.licence_valid_until.isoformat() if r.licence_valid_until else None}
            if r.licence_holder else None}


def package_dict(ctx: Ctx, pkg: CoursePackage, *, detail: bool = True) -> dict:
    minutes = _minutes(ctx, pkg)
    seconds = pkg.play_seconds if pkg.status != "draft" else rules.play_seconds(pkg)
    d = {"id": pkg.id, "institution_id": pkg.institution_id, "shared": pkg.institution_id is None,
         "profile": pkg.profile, "status": pkg.status, "name": pkg.name, "total_hours": pkg.total_hours,
         "audience": pkg.audience, "content": pkg.content, "objectives": pkg.objectives,
         "play_seconds": seconds, "class_hour_minutes": minutes,
         "class_hours": pkg.class_hours if pkg.status != "draft" else rules.class_hours_of(seconds, minutes),
         "created_at": _cn(pkg.created_at), "published_at": _cn(pkg.published_at), "retired_at": _cn(pkg.retired_at)}
    if detail:
        d["chapters"] = [{"id": c.id, "position": c.position, "title": c.title,
                          "resources": [_resource_dict(r, ctx.today) for r in c.resources]} for c in pkg.chapters]
    return d


# --------------------------------------------------------------------------- the package and its introduction

@api.route("POST", "/api/course-packages", summary="新建课程包 Create a course package", tag=TAG, roles=AUTHORS,
           body=IntroBody, status=201)
def create_package(ctx: Ctx, body: IntroBody):
    """COURSE-2: the introduction, every field required. An institution admin's package is the
    institution's, under its profile; a platform admin's is shared and names its profile."""
    values = body.model_dump()
    problems = rules.intro_problems(values)
    if problems:
        raise problems[0] if len(problems) == 1 else RuleViolations(
            problems, f"课程简介缺少 {len(problems)} 项", f"The introduction misses {len(problems)} field(s)")
    if ctx.user.role == "platform_admin":
        if not body.profile:
            raise ApiError("PROFILE_REQUIRED", "共享课程包须指定适用的地区政策（profile），以确定每课时分钟数",
                           "A shared package names its policy profile (it sets the minutes of a class-hour)",
                           field="profile", status=422, rule="COURSE-1")
        institution_id, profile = None, body.profile
    else:
        institution_id, profile = ctx.user.institution_id, body.profile or ctx.user.institution.profile
    if profile not in ctx.svc.profiles:
        raise ApiError("UNKNOWN_PROFILE", f"未知的地区政策：{profile}", f"Unknown policy profile: {profile}",
                       field="profile", status=422)
    pkg = CoursePackage(institution_id=institution_id, profile=profile, name=body.name.strip(),
                        total_hours=body.total_hours, audience=body.audience.strip(), content=body.content.strip(),
                        objectives=body.objectives.strip(), status="draft", created_by=ctx.user.id,
                        created_at=ctx.now, updated_at=ctx.now)
    ctx.s.add(pkg)
    ctx.s.flush()
    _audit(ctx, "course_package.create", pkg, name=pkg.name, total_hours=pkg.total_hours)
    return package_dict(ctx, pkg)


@api.route("PATCH", "/api/course-packages/{package_id:int}", summary="修改课程简介 Edit the introduction", tag=TAG,
           roles=AUTHORS, body=IntroBody)
def patch_package(ctx: Ctx, body: IntroBody, package_id: int):
    pkg = _package(ctx, package_id, write=True)
    _draft(pkg)
    changes = body.model_dump(exclude_unset=True)
    if "profile" in changes:
        raise ApiError("PROFILE_FIXED", "课程包的地区政策创建后不能修改", "A package's profile is fixed at creation",
                       field="profile", status=422)
    for name, value in changes.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            raise rules.missing_intro_field(name)
        setattr(pkg, name, value.strip() if isinstance(value, str) else value)
    pkg.updated_at = ctx.now
    _audit(ctx, "course_package.update", pkg, changes=sorted(changes))
    return package_dict(ctx, pkg)


@api.route("GET", "/api/course-packages", summary="课程包列表 List course packages", tag=TAG, roles=READERS,
           query=ListQuery)
def list_packages(ctx: Ctx, query: ListQuery):
    """The caller's institution's packages, shared published ones, and for supervisors those of
    institutions in their region (SUP-3)."""
    u = ctx.user
    shared = and_(CoursePackage.institution_id.is_(None), CoursePackage.status != "draft")
    stmt = select(CoursePackage).order_by(CoursePackage.id.desc())
    if u.role == "supervisor":
        if u.region_level and u.region_code:
            inside = select(Institution.id).where(
                Institution.region_code.startswith(region_prefix(u.region_level, u.region_code)))
            stmt = stmt.where(or_(CoursePackage.institution_id.in_(inside), shared))
        else:
            stmt = stmt.where(shared)
    elif u.role != "platform_admin":
        stmt = stmt.where(or_(CoursePackage.institution_id == u.institution_id, shared))
    if query.status:
        stmt = stmt.where(CoursePackage.status == query.status)
    return {"items": [package_dict(ctx, p, detail=False) for p in ctx.s.scalars(stmt)]}


@api.route("GET", "/api/course-packages/{package_id:int}", summary="课程包详情 Course package detail", tag=TAG,
           roles=READERS)
def show_package(ctx: Ctx, package_id: int):
    return package_dict(ctx, _package(ctx, package_id))


@api.route("GET", "/api/course-packages/{package_id:int}/checks", summary="发布前检查 Pre-publication checks",
           tag=TAG, roles=READERS)
def package_checks(ctx: Ctx, package_id: int):
    pkg = _package(ctx, package_id)
    problems = rules.publish_problems(pkg, _minutes(ctx, pkg), ctx.today)
    seconds = rules.play_seconds(pkg)
    return {"ok": not problems, "violations": [p.body()["error"] for p in problems], "play_seconds": seconds,
            "class_hours": rules.class_hours_of(seconds, _minutes(ctx, pkg))}


# --------------------------------------------------------------------------- catalogue and resources

@api.route("POST", "/api/course-packages/{package_id:int}/chapters", summary="添加章节 Add a chapter", tag=TAG,
           roles=AUTHORS, body=ChapterBody, status=201)
def add_chapter(ctx: Ctx, body: ChapterBody, package_id: int):
    pkg = _package(ctx, package_id, write=True)
    _draft(pkg)
    if len(pkg.chapters) >= 200:
        raise ApiError("TOO_MANY_CHAPTERS", "课程目录最多 200 个章节", "A catalogue holds at most 200 chapters",
                       field="title", status=422)
    chapter = CourseChapter(position=len(pkg.chapters) + 1, title=body.title.strip())
    pkg.chapters.append(chapter)
    pkg.updated_at = ctx.now
    ctx.s.flush()
    _audit(ctx, "course_package.chapter", pkg, chapter_id=chapter.id, title=chapter.title)
    return package_dict(ctx, pkg)


@api.route("POST", "/api/course-packages/{package_id:int}/chapters/{chapter_id:int}/resources",
           summary="上传课程视频资源 Upload a video resource", tag=TAG, roles=AUTHORS, query=ResourceQuery, status=201)
def add_resource(ctx: Ctx, query: ResourceQuery, package_id: int, chapter_id: int):
    """COURSE-1: the raw body is the video (video/mp4 or video/webm, at most QIHANG_MAX_VIDEO_MB); its
    play time is what PyAV reads from the file."""
    pkg = _package(ctx, package_id, write=True)
    _draft(pkg)
    chapter = next((c for c in pkg.chapters if c.id == chapter_id), None)
    if chapter is None:
        raise NotFound("章节", "chapter")
    ctype = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in VIDEO_TYPES:
        raise ApiError("VIDEO_TYPE", "请以 video/mp4 或 video/webm 上传 MP4 或 WebM 视频（只有视频计入播放时长）",
                       "Send an MP4 or WebM video as video/mp4 or video/webm (only videos count as play time)",
                       field="Content-Type", status=415, rule="COURSE-1")
    row, facts = receive_video(ctx, ctype, kind="course_package_video", institution_id=pkg.institution_id)
    r = CourseResource(position=len(chapter.resources) + 1, title=query.title.strip(), kind="video", file_id=row.id,
                       duration_seconds=facts.duration, codec=facts.codec, uploaded_by=ctx.user.id,
                       uploaded_at=ctx.now)
    chapter.resources.append(r)
    pkg.updated_at = ctx.now
    ctx.s.flush()
    _audit(ctx, "course_package.resource", pkg, resource_id=r.id, file_id=row.id, sha256=row.sha256,
           duration_seconds=facts.duration)
    return _resource_dict(r, ctx.today)


@api.route("DELETE", "/api/course-packages/{package_id:int}/resources/{resource_id:int}",
           summary="删除课程资源 Remove a resource", tag=TAG, roles=AUTHORS)
def remove_resource(ctx: Ctx, package_id: int, resource_id: int):
    """Draft only; the stored file stays (REC-1 keeps uploaded course videos)."""
    pkg = _package(ctx, package_id, write=True)
    _draft(pkg)
    r = _resource(ctx, pkg, resource_id)
    chapter = r.chapter
    chapter.resources.remove(r)
    for i, other in enumerate(chapter.resources, 1):
        other.position = i
    pkg.updated_at = ctx.now
    _audit(ctx, "course_package.resource_remove", pkg, resource_id=resource_id)
    return package_dict(ctx, pkg)


@api.route("GET", "/api/course-packages/{package_id:int}/resources/{resource_id:int}/video",
           summary="播放课程资源（支持 Range） Play a resource (seekable)", tag=TAG, roles=READERS)
def resource_video(ctx: Ctx, package_id: int, resource_id: int):
    """For review by the package's readers (supervisors included, SUP-3)."""
    r = _resource(ctx, _package(ctx, package_id), resource_id)
    return range_response(VideoStore(ctx.svc.files), ctx.s.get(StoredFile, r.file_id), ctx.request)


# --------------------------------------------------------------------------- copyright / licence proof (COURSE-3)

@api.route("PUT", "/api/course-packages/{package_id:int}/resources/{resource_id:int}/proof",
           summary="上传版权证明 Upload copyright proof", tag=TAG, roles=AUTHORS)
def upload_proof(ctx: Ctx, package_id: int, resource_id: int):
    """COURSE-3: the raw body is the proof document (application/pdf, image/jpeg or image/png), kept
    encrypted. Allowed after publishing too (a renewed licence)."""
    pkg = _package(ctx, package_id, write=True)
    if pkg.status == "retired":
        _draft(pkg)
    r = _resource(ctx, pkg, resource_id)
    ctype = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in PROOF_TYPES:
        raise ApiError("PROOF_TYPE", "版权证明请以 PDF、JPEG 或 PNG 上传", "Send the proof as a PDF, JPEG or PNG",
                       field="Content-Type", status=415, rule="COURSE-3")
    settings = ctx.svc.settings
    spooled = spool_request(ctx.request, settings.uploads_dir / "incoming", settings.max_upload_bytes)
    try:
        data = spooled.path.read_bytes()
    finally:
        spooled.path.unlink(missing_ok=True)
    if not data:
        raise ApiError("PROOF_EMPTY", "上传的证明文件为空", "The proof file is empty", field="proof", status=422,
                       rule="COURSE-3")
    if not data.startswith(PROOF_TYPES[ctype]):
        raise ApiError("PROOF_TYPE_MISMATCH", f"文件内容不是 {ctype}", f"The file's content is not {ctype}",
                       field="proof", status=415, rule="COURSE-3")
    row = ctx.svc.files.save_bytes(ctx.s, data, kind="copyright_proof", content_type=ctype,
                                   owner_user_id=ctx.user.id, institution_id=pkg.institution_id)
    r.proof_file_id, r.proof_recorded_by, r.proof_recorded_at = row.id, ctx.user.id, ctx.now
    _audit(ctx, "course_package.proof", pkg, resource_id=r.id, file_id=row.id, sha256=row.sha256)
    return _resource_dict(r, ctx.today)


@api.route("PUT", "/api/course-packages/{package_id:int}/resources/{resource_id:int}/licence",
           summary="登记授权信息 Record a licence", tag=TAG, roles=AUTHORS, body=LicenceBody)
def put_licence(ctx: Ctx, body: LicenceBody, package_id: int, resource_id: int):
    """COURSE-3: who holds the rights, under which licence, until when (none: without end)."""
    pkg = _package(ctx, package_id, write=True)
    if pkg.status == "retired":
        _draft(pkg)
    r = _resource(ctx, pkg, resource_id)
    if body.valid_until is not None and body.valid_until < ctx.today:
        raise ApiError("LICENCE_EXPIRED", f"授权有效期 {body.valid_until} 已过", f"The licence ended on {body.valid_until}",
                       field="valid_until", status=422, rule="COURSE-3")
    r.licence_holder, r.licence_type, r.licence_valid_until = body.holder.strip(), body.licence_type, body.valid_until
    r.proof_recorded_by, r.proof_recorded_at = ctx.user.id, ctx.now
    _audit(ctx, "course_package.licence", pkg, resource_id=r.id, holder=r.licence_holder,
           licence_type=r.licence_type, valid_until=body.valid_until.isoformat() if body.valid_until else None)
    return _resource_dict(r, ctx.today)


# --------------------------------------------------------------------------- life cycle

@api.route("POST", "/api/course-packages/{package_id:int}/publish", summary="发布课程包 Publish", tag=TAG,
           roles=AUTHORS)
def publish(ctx: Ctx, package_id: int):
    """COURSE-1/2/3 checked together; the measured play time and class-hours are frozen on the package."""
    pkg = _package(ctx, package_id, write=True)
    _draft(pkg)
    minutes = _minutes(ctx, pkg)
    problems = rules.publish_problems(pkg, minutes, ctx.today)
    if problems:
        raise RuleViolations(problems, f"课程包有 {len(problems)} 项不符合规定，不能发布",
                             f"The package breaks {len(problems)} rule(s) and cannot be published")
    pkg.play_seconds = rules.play_seconds(pkg)
    pkg.class_hours = rules.class_hours_of(pkg.play_seconds, minutes)
    pkg.status, pkg.published_at, pkg.published_by, pkg.updated_at = "published", ctx.now, ctx.user.id, ctx.now
    _audit(ctx, "course_package.publish", pkg, play_seconds=pkg.play_seconds, class_hours=pkg.class_hours)
    return package_dict(ctx, pkg)


@api.route("POST", "/api/course-packages/{package_id:int}/retire", summary="下架课程包 Retire", tag=TAG,
           roles=AUTHORS)
def retire(ctx: Ctx, package_id: int):
    """Published → retired: no new plans may use it; plans not yet submitted that do are refused then."""
    pkg = _package(ctx, package_id, write=True)
    if pkg.status != "published":
        raise ApiError("PACKAGE_NOT_PUBLISHED", f"课程包状态为 {pkg.status}，只有已发布的课程包可以下架",
                       f"The package is {pkg.status}; only a published package can be retired", status=409,
                       rule="COURSE-1")
    pkg.status, pkg.retired_at, pkg.updated_at = "retired", ctx.now, ctx.now
    _audit(ctx, "course_package.retire", pkg)
    return package_dict(ctx, pkg)
