"""Sensitive-content screening (LIVE-5): the word list, content warnings, and a preview.

Seed 003: "直播内容敏感信息筛查并预警". Chat, Q&A and uploaded text pass the screener
(server/screening/); a hit is held back from students, shown to the lecturer, and recorded here as
a **content warning** with its context, for the supervisors of the class's region (SUP-1) to see
and review. Every act is audited (SUP-6): edits and reviews explicitly, supervisors' reads
automatically.

* ``GET/POST/DELETE /api/sensitive-words`` — platform admins keep the list: the packaged default
  merged with database rows (server/screening/wordlist.py). POST adds a word or, for a word
  already listed (compared after folding: 賭博 is 赌博), changes its category or switches it off;
  DELETE removes a database row, which restores a default word it had overridden. Screeners
  pick the change up at their next version check (at most a second later).
* ``GET /api/content-warnings`` — region-scoped: supervisors see warnings whose district lies in
  their region, institution admins their institution's, platform admins all.
* ``POST /api/content-warnings/{id}/review`` — a supervisor covering the warning's district closes
  it with a note; once.
* ``POST /api/screening/check`` — admins try a text against the current list.

Other modules record warnings through server/screening/warnings.py (the live room for held chat
and Q&A, ``screen_upload`` for uploaded text).
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import false, func, select
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse

from models import ContentWarning, Institution, Lesson, SensitiveWord, TrainingClass, User
from server.api.endpoint import Api, Ctx
from server.auth.scope import region_covers, region_prefix
from server.errors import ApiError, Conflict, NotFound
from server.screening import fold, screener_from_db
from server.screening.screener import LATIN
from server.screening.warnings import SOURCES
from server.screening.wordlist import CATEGORY_RE, find_row, listing
from server.services import CHINA_TZ
from server.validation import Body, Query

api = Api()
RULE = "LIVE-5"
STATUSES = ("open", "reviewed")
READERS = ("platform_admin", "supervisor", "institution_admin")
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]


class WordBody(Body):
    word: str = Field(min_length=1, max_length=64)
    category: str = Field(default="general", min_length=1, max_length=32, pattern=CATEGORY_RE.pattern)
    active: bool = True


class WarningQuery(Query):
    class_id: DbId | None = None
    lesson_id: DbId | None = None
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]
    source: Literal[SOURCES] | None = None  # type: ignore[valid-type]
    before_id: DbId | None = None  # paging: warnings older than this one
    limit: int = Field(default=100, ge=1, le=500)


class ReviewBody(Body):
    note: str | None = Field(default=None, max_length=2000)


class CheckBody(Body):
    text: str = Field(min_length=1, max_length=20000)


def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _err(code: str, zh: str, en: str, *, field: str | None = None, status: int = 422) -> ApiError:
    return ApiError(code, zh, en, field=field, status=status, rule=RULE)


# --------------------------------------------------------------------------- word list

def _word_dict(w) -> dict:
    return {"id": w.id, "word": w.word, "category": w.category, "active": w.active, "source": w.source,
            "aliases": list(w.aliases)}


@api.route("GET", "/api/sensitive-words", summary="敏感词列表 Sensitive words", tag="screening",
           roles=("platform_admin",))
def list_words(ctx: Ctx):
    """LIVE-5: every word, default or added, active or switched off, and the list's version."""
    words, version = listing(ctx.s)
    words.sort(key=lambda w: (w.category, w.source != "custom", w.word))
    return {"version": version, "rule": RULE, "words": [_word_dict(w) for w in words],
            "active": sum(1 for w in words if w.active)}


@api.route("POST", "/api/sensitive-words", summary="添加或修改敏感词 Add or change a sensitive word",
           tag="screening", roles=("platform_admin",), body=WordBody, status=201)
def add_word(ctx: Ctx, body: WordBody):
    """LIVE-5: add a word (201) or change a listed one's category or state (200); used at once."""
    key = fold(body.word)
    if not key:
        raise _err("SENSITIVE_WORD_EMPTY", "敏感词须含有文字或数字（标点、空格会被忽略）",
                   "A sensitive word needs letters or digits (punctuation and spaces are ignored)", field="word")
    if LATIN.fullmatch(key) and len(key) < 2:
        raise _err("SENSITIVE_WORD_TOO_SHORT", "拉丁字母词至少 2 个字符", "A Latin-letter word needs at least 2 characters",
                   field="word")
    row = find_row(ctx.s, body.word)
    created = row is None
    if created:
        row = SensitiveWord(word=body.word, category=body.category, active=body.active, created_by=ctx.user.id,
                            created_at=ctx.now)
        ctx.s.add(row)
    else:
        row.category, row.active = body.category, body.active
    ctx.s.flush()
    ctx.audit("sensitive_word.add" if created else "sensitive_word.update", target_type="sensitive_word",
              target_id=row.id, word=row.word, category=row.category, active=row.active, rule=RULE)
    out = {"id": row.id, "word": row.word, "category": row.category, "active": row.active, "source": "custom",
           "created": created, "rule": RULE}
    return out if created else JSONResponse(out, status_code=200)


@api.route("DELETE", "/api/sensitive-words/{word_id:int}", summary="删除敏感词 Remove a sensitive word",
           tag="screening", roles=("platform_admin",))
def delete_word(ctx: Ctx, word_id: int):
    """LIVE-5: remove an added word; a removed override of a default word restores the default."""
    row = ctx.s.get(SensitiveWord, word_id) if 0 < word_id <= MAX_ID else None
    if row is None:
        raise NotFound("敏感词", "sensitive word")
    word = row.word
    ctx.s.delete(row)
    ctx.s.flush()
    restored = next((w for w in listing(ctx.s)[0] if w.key == fold(word)), None)
    ctx.audit("sensitive_word.delete", target_type="sensitive_word", target_id=word_id, word=word, rule=RULE)
    return {"deleted": word_id, "word": word, "default_restored": restored is not None, "rule": RULE}


@api.route("POST", "/api/screening/check", summary="敏感内容检测预览 Screening preview", tag="screening",
           roles=("platform_admin", "institution_admin"), body=CheckBody)
def check_text(ctx: Ctx, body: CheckBody):
    """LIVE-5: what the screener says about a text now (nothing is recorded but the audit entry)."""
    screener = screener_from_db(ctx.s)
    verdict = screener.screen(body.text)
    ctx.audit("screening.check", target_type="screening", held=verdict.held, chars=len(body.text), rule=RULE)
    return {**verdict.to_dict(), "version": screener.version, "rule": RULE}


# --------------------------------------------------------------------------- warnings

def _scoped(stmt, user: User):
    """SUP-1 / PLAT-3 on warnings: region for supervisors, institution for its admin."""
    if user.role == "platform_admin":
        return stmt
    if user.role == "supervisor":
        if not user.region_level or not user.region_code:
            return stmt.where(false())
        return stmt.where(ContentWarning.district_code.startswith(region_prefix(user.region_level, user.region_code)))
    if user.role == "institution_admin" and user.institution_id is not None:
        return stmt.where(ContentWarning.institution_id == user.institution_id)
    return stmt.where(false())


def _visible(user: User, w: ContentWarning) -> bool:
    if user.role == "platform_admin":
        return True
    if user.role == "supervisor":
        return w.district_code is not None and region_covers(user, w.district_code)
    return user.role == "institution_admin" and w.institution_id is not None and w.institution_id == user.institution_id


def warning_dicts(s: Session, warnings: list[ContentWarning]) -> list[dict]:
    """Warnings as the dashboards show them, with names looked up in three queries."""
    lessons = {le.id: le.title for le in s.scalars(select(Lesson).where(
        Lesson.id.in_({w.lesson_id for w in warnings if w.lesson_id})))}
    classes = {c.id: c.name for c in s.scalars(select(TrainingClass).where(
        TrainingClass.id.in_({w.class_id for w in warnings if w.class_id})))}
    insts = {i.id: i.name for i in s.scalars(select(Institution).where(
        Institution.id.in_({w.institution_id for w in warnings if w.institution_id})))}
    users = {u.id: u for u in s.scalars(select(User).where(
        User.id.in_({w.user_id for w in warnings if w.user_id} | {w.reviewed_by for w in warnings if w.reviewed_by})))}
    out = []
    for w in warnings:
        writer, reviewer = users.get(w.user_id), users.get(w.reviewed_by)
        out.append({
            "id": w.id, "at": _cn(w.at), "source": w.source, "lesson_id": w.lesson_id,
            "lesson_title": lessons.get(w.lesson_id), "class_id": w.class_id, "class_name": classes.get(w.class_id),
            "institution_id": w.institution_id, "institution_name": insts.get(w.institution_id),
            "district_code": w.district_code, "user_id": w.user_id,
            "user_name": writer.display_name if writer else None, "user_role": writer.role if writer else None,
            "event_id": w.event_id, "text": w.text, "matches": w.matches, "context": w.context,
            "categories": sorted({m.get("category") for m in w.matches or [] if m.get("category")}),
            "status": w.status, "reviewed_by": w.reviewed_by,
            "reviewed_by_name": reviewer.display_name if reviewer else None, "reviewed_at": _cn(w.reviewed_at),
            "review_note": w.review_note, "rule": RULE,
        })
    return out


def _check_filter_target(ctx: Ctx, query: WarningQuery) -> None:
    """Filtering by a class or lesson the reader cannot see answers 404, as reading it would."""
    cls = None
    if query.lesson_id is not None:
        lesson = ctx.s.get(Lesson, query.lesson_id)
        cls = ctx.s.get(TrainingClass, lesson.class_id) if lesson else None
        if cls is None:
            raise NotFound("课次", "lesson")
    elif query.class_id is not None:
        cls = ctx.s.get(TrainingClass, query.class_id)
        if cls is None:
            raise NotFound("班期", "class")
    if cls is None:
        return
    u = ctx.user
    visible = (u.role == "platform_admin" or (u.role == "supervisor" and region_covers(u, cls.district_code))
               or (u.role == "institution_admin" and u.institution_id == cls.institution_id))
    if not visible:
        raise NotFound("课次" if query.lesson_id else "班期", "lesson" if query.lesson_id else "class")


@api.route("GET", "/api/content-warnings", summary="敏感内容预警 Content warnings", tag="screening",
           roles=READERS, query=WarningQuery)
def list_warnings(ctx: Ctx, query: WarningQuery):
    """LIVE-5 / SUP-1: warnings in the reader's region or institution, newest first."""
    _check_filter_target(ctx, query)
    stmt = _scoped(select(ContentWarning), ctx.user)
    if query.class_id is not None:
        stmt = stmt.where(ContentWarning.class_id == query.class_id)
    if query.lesson_id is not None:
        stmt = stmt.where(ContentWarning.lesson_id == query.lesson_id)
    if query.source is not None:
        stmt = stmt.where(ContentWarning.source == query.source)
    open_count = ctx.s.scalar(stmt.where(ContentWarning.status == "open")
                              .with_only_columns(func.count(ContentWarning.id)))
    if query.status is not None:
        stmt = stmt.where(ContentWarning.status == query.status)
    if query.before_id is not None:
        stmt = stmt.where(ContentWarning.id < query.before_id)
    rows = list(ctx.s.scalars(stmt.order_by(ContentWarning.id.desc()).limit(query.limit)))
    return {"items": warning_dicts(ctx.s, rows), "open": open_count, "rule": RULE}


@api.route("POST", "/api/content-warnings/{warning_id:int}/review", summary="复核预警 Review a content warning",
           tag="screening", roles=("supervisor",), body=ReviewBody)
def review_warning(ctx: Ctx, body: ReviewBody, warning_id: int):
    """LIVE-5 / SUP-6: a supervisor covering the warning's district closes it, once, with a note."""
    w = None
    if 0 < warning_id <= MAX_ID:
        q = ctx.s.query(ContentWarning).filter_by(id=warning_id)
        if not ctx.svc.settings.is_sqlite:
            q = q.with_for_update()  # two supervisors at once: the second sees "reviewed"
        w = q.one_or_none()
    if w is None or not _visible(ctx.user, w):
        raise NotFound("预警", "content warning")
    if w.status == "reviewed":
        raise Conflict("CONTENT_WARNING_REVIEWED", "该预警已复核", "This warning has already been reviewed",
                       field="warning_id", rule=RULE)
    w.status, w.reviewed_by, w.reviewed_at, w.review_note = "reviewed", ctx.user.id, ctx.now, body.note or None
    ctx.audit("content_warning.review", target_type="content_warning", target_id=w.id,
              institution_id=w.institution_id, region_code=w.district_code, note=w.review_note, rule=RULE)
    return warning_dicts(ctx.s, [w])[0]
