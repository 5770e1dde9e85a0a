"""Online final exam (EXAM-1) and its supervision (SUP-3).

Seed 000/001: "通过基础知识结业在线考试合格", "系统应能自动生成……结业考试成绩单"; supervisors
"查看学员基础知识及实习操作考试内容".

* **Bank** (``/api/exam-questions``): per course type; platform admins fill the shared bank,
  institution admins their own. Questions are immutable (papers refer to them); a wrong one is retired.
* **Paper** (``POST /api/classes/{id}/exam-papers``, the class's institution admin): drawn from the
  institution's and the shared bank by counts per kind with a seed (server/exams/draw.py), a
  duration and a window. Keys are shown to the institution admin, the class's lecturers, platform
  admins and supervisors of the class's region (SUP-3, reads audited); never to students.
* **Attempt**: a rostered student starts in the window; deadline = min(start + duration, closes_at).
  Every answer is saved at once (``PUT …/answers/{question_id}``, last write wins, each save kept
  with its time) so a reload or reconnect resumes; after the deadline saves are refused (409) and
  the attempt counts as submitted at the deadline. ``GET /api/me/exam-papers`` gives the student's
  phone page (/exam) the papers of their classes with the window and their own attempt's status.
* **Grading**: objective questions at submission (multiple choice all-or-nothing), short answers by
  the institution admin or a class lecturer; the result is final when every short answer is graded;
  passed when score ≥ the pass mark (% of the total, ``exam_pass_mark`` of the profile, default 60).
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field
from sqlalchemy import or_, select
from starlette.responses import JSONResponse

from models import ClassLecturer, Enrolment, TrainingClass, User
from models.exams import ExamAnswer, ExamAttempt, ExamPaper, ExamQuestion
from server.api.endpoint import Api, Ctx
from server.attendance import classfigures
from server.auth.scope import region_covers
from server.errors import ApiError, Forbidden, NotFound
from server.exams import bank, draw, grading
from server.policy.profiles import COURSE_TYPES
from server.services import CHINA_TZ
from server.validation import Body, Query

api = Api()
RULE = "EXAM-1"
MAX_ID = 2**31 - 1
DEFAULT_PASS_MARK = 60
MAX_SAVES_KEPT = 100
BANK_WRITERS = ("platform_admin", "institution_admin")
BANK_READERS = ("platform_admin", "institution_admin", "lecturer")
PAPER_READERS = ("platform_admin", "supervisor", "institution_admin", "lecturer", "assistant", "student")
STAFF_READERS = ("platform_admin", "supervisor", "institution_admin", "lecturer", "assistant")
GRADERS = ("institution_admin", "lecturer")
Count = Annotated[int, Field(ge=0, le=200)]


class QuestionBody(Body):
    course_type: Literal[COURSE_TYPES]  # type: ignore[valid-type]
    kind: Literal[bank.KINDS]  # type: ignore[valid-type]
    stem: str = Field(min_length=1, max_length=5000)
    options: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list, max_length=bank.MAX_OPTIONS)
    answer: Any = None
    points: int = Field(ge=1, le=100)
    tags: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(default_factory=list, max_length=20)


class QuestionQuery(Query):
    course_type: Literal[COURSE_TYPES] | None = None  # type: ignore[valid-type]
    kind: Literal[bank.KINDS] | None = None  # type: ignore[valid-type]
    include_retired: bool = False


class Counts(Body):
    single: Count = 0
    multiple: Count = 0
    truefalse: Count = 0
    short: Count = 0


class PaperBody(Body):
    title: str = Field(min_length=1, max_length=200)
    counts: Counts
    seed: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    duration_minutes: int = Field(ge=5, le=600)
    opens_at: AwareDatetime
    closes_at: AwareDatetime


class AnswerBody(Body):
    response: Any


class GradeBody(Body):
    points: float = Field(ge=0, le=100)
    comment: str | None = Field(default=None, max_length=2000)


# --------------------------------------------------------------------------- helpers

def _cn(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA_TZ).isoformat() if moment else None


def _ids(*ids: int) -> None:
    if any(not 0 < i <= MAX_ID for i in ids):
        raise NotFound()


def _err(code: str, zh: str, en: str, *, field: str | None = None, status: int = 422, **details) -> ApiError:
    return ApiError(code, zh, en, field=field, status=status, rule=RULE, details=details or None)


def _enrolled(ctx: Ctx, class_id: int, user_id: int) -> bool:
    return ctx.s.scalars(select(Enrolment.id).where(
        Enrolment.class_id == class_id, Enrolment.student_user_id == user_id,
        Enrolment.status != "withdrawn")).first() is not None


def _is_class_lecturer(ctx: Ctx, class_id: int) -> bool:
    return ctx.user.role == "lecturer" and ctx.s.get(ClassLecturer, (class_id, ctx.user.id)) is not None


def may_see_keys(ctx: Ctx, paper: ExamPaper) -> bool:
    """SUP-3: region supervisors, platform admins, the institution admin and the class's lecturers."""
    u = ctx.user
    if u.role == "platform_admin":
        return True
    if u.role == "supervisor":
        return region_covers(u, paper.district_code)
    if u.institution_id != paper.institution_id:
        return False
    return u.role == "institution_admin" or _is_class_lecturer(ctx, paper.class_id)


def _may_grade(ctx: Ctx, paper: ExamPaper) -> bool:
    u = ctx.user
    return u.role in GRADERS and u.institution_id == paper.institution_id and (
        u.role == "institution_admin" or _is_class_lecturer(ctx, paper.class_id))


def _may_see_paper(ctx: Ctx, paper: ExamPaper) -> bool:
    u = ctx.user
    if may_see_keys(ctx, paper):
        return True
    if u.role == "student":
        return _enrolled(ctx, paper.class_id, u.id)
    return u.role == "assistant" and u.institution_id == paper.institution_id


def _paper(ctx: Ctx, paper_id: int) -> ExamPaper:
    _ids(paper_id)
    p = ctx.s.get(ExamPaper, paper_id)
    if p is None or not _may_see_paper(ctx, p):
        raise NotFound("试卷", "exam paper")
    return p


def _class(ctx: Ctx, class_id: int) -> TrainingClass:
    _ids(class_id)
    cls = ctx.s.get(TrainingClass, class_id)
    u = ctx.user
    visible = cls is not None and (
        u.role == "platform_admin" or (u.role == "supervisor" and region_covers(u, cls.district_code))
        or (u.role in ("institution_admin", "lecturer", "assistant") and u.institution_id == cls.institution_id)
        or (u.role == "student" and _enrolled(ctx, cls.id, u.id)))
    if not visible:
        raise NotFound("班期", "class")
    return cls


def _questions(ctx: Ctx, paper: ExamPaper) -> dict[int, ExamQuestion]:
    ids = [qid for qid, _ in paper.items]
    return {q.id: q for q in ctx.s.scalars(select(ExamQuestion).where(ExamQuestion.id.in_(ids)))} if ids else {}


def _answers(ctx: Ctx, attempt: ExamAttempt) -> dict[int, ExamAnswer]:
    return {a.question_id: a for a in ctx.s.scalars(select(ExamAnswer).where(ExamAnswer.attempt_id == attempt.id))}


def question_dict(q: ExamQuestion, *, with_key: bool, points: int | None = None) -> dict:
    out = {"id": q.id, "kind": q.kind, "course_type": q.course_type, "stem": q.stem,
           "options": [{"label": lab, "text": t} for lab, t in zip(bank.labels(q.options), q.options)],
           "points": q.points if points is None else points}
    if with_key:
        out.update(answer=q.answer, tags=q.tags, shared=q.institution_id is None,
                   institution_id=q.institution_id, active=q.active, created_at=_cn(q.created_at))
    return out


def paper_dict(ctx: Ctx, p: ExamPaper, *, with_questions: bool) -> dict:
    out = {"id": p.id, "class_id": p.class_id, "institution_id": p.institution_id, "district_code": p.district_code,
           "course_type": p.course_type, "title": p.title, "counts": p.counts, "question_count": len(p.items),
           "total_points": p.total_points, "pass_mark": p.pass_mark, "duration_minutes": p.duration_minutes,
           "opens_at": _cn(p.opens_at), "closes_at": _cn(p.closes_at), "created_at": _cn(p.created_at),
           "rule": RULE}
    if ctx.user.role == "student":
        a = _attempt_of(ctx, p.id, ctx.user.id)
        out["my_attempt_id"] = a.id if a else None
    elif with_questions and may_see_keys(ctx, p):
        out.update(seed=p.seed, algorithm=draw.ALGORITHM, items=p.items)
        qs = _questions(ctx, p)
        out["questions"] = [question_dict(qs[qid], with_key=True, points=pts) for qid, pts in p.items]
    return out


def _attempt_of(ctx: Ctx, paper_id: int, user_id: int) -> ExamAttempt | None:
    return ctx.s.scalars(select(ExamAttempt).where(ExamAttempt.paper_id == paper_id,
                                                   ExamAttempt.student_user_id == user_id)).first()


# --------------------------------------------------------------------------- submission and grading

def _submit(ctx: Ctx, a: ExamAttempt, p: ExamPaper, *, by: str, at: datetime) -> None:
    """Grades the objective answers; blank short answers score 0; final when no short answer waits."""
    qs, answers = _questions(ctx, p), _answers(ctx, a)
    for qid, pts in p.items:
        q, ans = qs[qid], answers.get(qid)
        if q.kind == "short":
            if ans is None or not (ans.response or "").strip():
                if ans is None:
                    ans = ExamAnswer(attempt_id=a.id, question_id=qid, response=None, saved_at=at, saves=[])
                    ctx.s.add(ans)
                ans.points, ans.graded_at = 0.0, at
            continue
        if ans is not None:
            ans.points = grading.auto_points(q.kind, q.answer, ans.response, pts)
    a.status, a.submitted_at, a.submitted_by = "submitted", at, by
    ctx.s.flush()
    _finalise_if_done(ctx, a, p)


def _finalise_if_done(ctx: Ctx, a: ExamAttempt, p: ExamPaper) -> None:
    qs, answers = _questions(ctx, p), _answers(ctx, a)
    if any(qs[qid].kind == "short" and (answers.get(qid) is None or answers[qid].points is None)
           for qid, _ in p.items):
        return
    a.score = round(sum(ans.points or 0.0 for ans in answers.values()), 2)
    a.passed = grading.passed(a.score, p.total_points, p.pass_mark)
    a.status, a.graded_at = "graded", ctx.now


def _settle(ctx: Ctx, a: ExamAttempt, p: ExamPaper) -> None:
    """EXAM-1: an attempt still open at its deadline is submitted as of the deadline."""
    if a.status == "in_progress" and ctx.now >= a.deadline:
        _submit(ctx, a, p, by="deadline", at=a.deadline)
        ctx.audit("exam.auto_submit", target_type="exam_attempt", target_id=a.id, institution_id=p.institution_id,
                  region_code=p.district_code, rule=RULE, paper_id=p.id, deadline=_cn(a.deadline))


def _pending_short(ctx: Ctx, a: ExamAttempt, p: ExamPaper) -> int:
    if a.status == "in_progress":
        return 0
    qs, answers = _questions(ctx, p), _answers(ctx, a)
    return sum(1 for qid, _ in p.items if qs[qid].kind == "short"
               and (answers.get(qid) is None or answers[qid].points is None))


def attempt_dict(ctx: Ctx, a: ExamAttempt, p: ExamPaper) -> dict:
    staff = ctx.user.role != "student"
    with_key = staff and may_see_keys(ctx, p)
    qs, answers = _questions(ctx, p), _answers(ctx, a)
    done = a.status != "in_progress"
    questions = []
    for n, (qid, pts) in enumerate(p.items, start=1):
        ans = answers.get(qid)
        row = question_dict(qs[qid], with_key=with_key, points=pts)
        row.update(no=n, response=ans.response if ans else None, saved_at=_cn(ans.saved_at) if ans else None)
        if done and (staff or a.status == "graded"):
            row.update(awarded=ans.points if ans else (0.0 if qs[qid].kind != "short" else None),
                       comment=ans.comment if ans else None)
        questions.append(row)
    remaining = max(0, int((a.deadline - ctx.now).total_seconds())) if not done else 0
    out = {"id": a.id, "paper_id": p.id, "class_id": p.class_id, "title": p.title, "student_id": a.student_user_id,
           "status": a.status, "started_at": _cn(a.started_at), "deadline": _cn(a.deadline),
           "remaining_seconds": remaining, "submitted_at": _cn(a.submitted_at), "submitted_by": a.submitted_by,
           "total_points": p.total_points, "pass_mark": p.pass_mark, "questions": questions, "rule": RULE,
           "score": a.score, "passed": a.passed, "final": a.status == "graded"}
    if staff:
        out["pending_short"] = _pending_short(ctx, a, p)
    return out


def _attempt(ctx: Ctx, attempt_id: int, *, lock: bool = False) -> tuple[ExamAttempt, ExamPaper]:
    """``lock``: writes hold the attempt's row (PostgreSQL) so a save cannot slip past a submission."""
    _ids(attempt_id)
    a = ctx.s.get(ExamAttempt, attempt_id, with_for_update=lock and not ctx.svc.settings.is_sqlite)
    p = ctx.s.get(ExamPaper, a.paper_id) if a else None
    u = ctx.user
    visible = p is not None and (a.student_user_id == u.id if u.role == "student"
                                 else (may_see_keys(ctx, p) or _may_grade(ctx, p)))
    if not visible:
        raise NotFound("答卷", "exam attempt")
    return a, p


def _own_open_attempt(ctx: Ctx, attempt_id: int) -> tuple[ExamAttempt, ExamPaper]:
    a, p = _attempt(ctx, attempt_id, lock=True)
    if a.student_user_id != ctx.user.id:
        raise NotFound("答卷", "exam attempt")
    _settle(ctx, a, p)
    if a.status != "in_progress":
        late = a.submitted_by == "deadline"
        zh = f"考试已于 {_cn(a.deadline)} 截止，不能再作答" if late else "试卷已交，不能再作答"
        en = f"The exam closed at its deadline {_cn(a.deadline)}; no more answers" if late \
            else "The exam is submitted; no more answers"
        raise _err("EXAM_DEADLINE_PASSED" if late else "EXAM_SUBMITTED", zh, en, field="response", status=409,
                   deadline=_cn(a.deadline), submitted_at=_cn(a.submitted_at))
    return a, p


# --------------------------------------------------------------------------- bank

@api.route("POST", "/api/exam-questions", summary="新增考试题目 Add a bank question", tag="exams",
           roles=BANK_WRITERS, body=QuestionBody, status=201)
def create_question(ctx: Ctx, body: QuestionBody):
    """EXAM-1: platform admins add to the shared bank, institution admins to their own."""
    options, key = bank.check_question(body.kind, body.options, body.answer)
    inst = None if ctx.user.role == "platform_admin" else ctx.user.institution_id
    q = ExamQuestion(institution_id=inst, course_type=body.course_type, kind=body.kind, stem=body.stem,
                     options=options, answer=key, points=body.points, tags=sorted(set(body.tags)), active=True,
                     created_by=ctx.user.id, created_at=ctx.now)
    ctx.s.add(q)
    ctx.s.flush()
    ctx.audit("exam.question.create", target_type="exam_question", target_id=q.id, institution_id=inst, rule=RULE,
              course_type=q.course_type, kind=q.kind, points=q.points)
    return question_dict(q, with_key=True)


@api.route("GET", "/api/exam-questions", summary="题库 The question bank", tag="exams", roles=BANK_READERS,
           query=QuestionQuery)
def list_questions(ctx: Ctx, query: QuestionQuery):
    """Institution staff see their own bank and the shared one; platform admins every bank."""
    stmt = select(ExamQuestion).order_by(ExamQuestion.id)
    if ctx.user.role != "platform_admin":
        stmt = stmt.where(or_(ExamQuestion.institution_id.is_(None),
                              ExamQuestion.institution_id == ctx.user.institution_id))
    if query.course_type:
        stmt = stmt.where(ExamQuestion.course_type == query.course_type)
    if query.kind:
        stmt = stmt.where(ExamQuestion.kind == query.kind)
    if not query.include_retired:
        stmt = stmt.where(ExamQuestion.active.is_(True))
    return {"items": [question_dict(q, with_key=True) for q in ctx.s.scalars(stmt)]}


@api.route("POST", "/api/exam-questions/{question_id:int}/retire", summary="停用题目 Retire a question",
           tag="exams", roles=BANK_WRITERS)
def retire_question(ctx: Ctx, question_id: int):
    """Papers already drawn keep it; new draws no longer pick it."""
    _ids(question_id)
    q = ctx.s.get(ExamQuestion, question_id)
    mine = q is not None and (q.institution_id is None if ctx.user.role == "platform_admin"
                              else q.institution_id == ctx.user.institution_id)
    if not mine:
        raise NotFound("题目", "question")
    q.active, q.retired_at = False, q.retired_at or ctx.now
    ctx.audit("exam.question.retire", target_type="exam_question", target_id=q.id,
              institution_id=q.institution_id, rule=RULE)
    return question_dict(q, with_key=True)


# --------------------------------------------------------------------------- papers

@api.route("POST", "/api/classes/{class_id:int}/exam-papers", summary="组卷 Draw an exam paper", tag="exams",
           roles=("institution_admin",), body=PaperBody, status=201)
def create_paper(ctx: Ctx, body: PaperBody, class_id: int):
    """EXAM-1: drawn from the institution's and the shared bank of the class's course type."""
    cls = _class(ctx, class_id)
    counts = body.counts.model_dump()
    if sum(counts.values()) == 0:
        raise _err("EXAM_EMPTY_PAPER", "试卷至少要有一道题", "A paper needs at least one question", field="counts")
    if body.closes_at <= body.opens_at:
        raise _err("EXAM_WINDOW", "关闭时间须晚于开放时间", "closes_at must be after opens_at", field="closes_at")
    if body.closes_at <= ctx.now:
        raise _err("EXAM_WINDOW_PAST", "关闭时间已过", "closes_at is in the past", field="closes_at")
    rows = ctx.s.execute(select(ExamQuestion.kind, ExamQuestion.id, ExamQuestion.points).where(
        ExamQuestion.course_type == cls.course_type, ExamQuestion.active.is_(True),
        or_(ExamQuestion.institution_id.is_(None), ExamQuestion.institution_id == cls.institution_id))).all()
    pool: dict[str, list[tuple[int, int]]] = {}
    for kind, qid, pts in rows:
        pool.setdefault(kind, []).append((qid, pts))
    seed = body.seed or secrets.token_hex(8)
    try:
        items = draw.draw(seed, pool, counts)
    except draw.PoolTooSmall as exc:
        raise _err("EXAM_BANK_TOO_SMALL",
                   f"{cls.course_type} 题库中可用的该类题目只有 {exc.available} 道，少于 {exc.wanted} 道",
                   f"The {cls.course_type} bank has only {exc.available} active {exc.kind} questions, "
                   f"fewer than {exc.wanted}", field=f"counts.{exc.kind}", available=exc.available)
    profile = ctx.svc.profiles.get(cls.profile)
    pass_mark = profile.exam_pass_mark if profile is not None else DEFAULT_PASS_MARK
    p = ExamPaper(class_id=cls.id, institution_id=cls.institution_id, district_code=cls.district_code,
                  course_type=cls.course_type, title=body.title, seed=seed, counts=counts, items=items,
                  total_points=sum(pts for _, pts in items), pass_mark=pass_mark,
                  duration_minutes=body.duration_minutes, opens_at=body.opens_at, closes_at=body.closes_at,
                  created_by=ctx.user.id, created_at=ctx.now)
    ctx.s.add(p)
    ctx.s.flush()
    ctx.audit("exam.paper.create", target_type="exam_paper", target_id=p.id, institution_id=p.institution_id,
              region_code=p.district_code, rule=RULE, class_id=cls.id, seed=seed, counts=counts, items=items,
              pass_mark=pass_mark)
    return paper_dict(ctx, p, with_questions=True)


@api.route("GET", "/api/classes/{class_id:int}/exam-papers", summary="班期试卷 A class's exam papers",
           tag="exams", roles=PAPER_READERS)
def list_papers(ctx: Ctx, class_id: int):
    cls = _class(ctx, class_id)
    papers = ctx.s.scalars(select(ExamPaper).where(ExamPaper.class_id == cls.id).order_by(ExamPaper.id))
    return {"items": [paper_dict(ctx, p, with_questions=False) for p in papers]}


@api.route("GET", "/api/me/exam-papers", summary="我的考试 My exam papers", tag="exams", roles=("student",))
def my_papers(ctx: Ctx):
    """EXAM-1: the phone page's list — every paper of the student's classes, its window and their attempt."""
    class_ids = select(Enrolment.class_id).where(Enrolment.student_user_id == ctx.user.id,
                                                 Enrolment.status != "withdrawn")
    papers = ctx.s.scalars(select(ExamPaper).where(ExamPaper.class_id.in_(class_ids)).order_by(
        ExamPaper.opens_at, ExamPaper.id)).all()
    attempts = {a.paper_id: a for a in ctx.s.scalars(select(ExamAttempt).where(
        ExamAttempt.student_user_id == ctx.user.id, ExamAttempt.paper_id.in_([p.id for p in papers])))} \
        if papers else {}
    names = dict(ctx.s.execute(select(TrainingClass.id, TrainingClass.name).where(
        TrainingClass.id.in_({p.class_id for p in papers}))).all()) if papers else {}
    items = []
    for p in papers:
        a = attempts.get(p.id)
        if a is not None:
            _settle(ctx, a, p)
        window = "upcoming" if ctx.now < p.opens_at else "open" if ctx.now < p.closes_at else "closed"
        row = {"id": p.id, "class_id": p.class_id, "class_name": names.get(p.class_id), "title": p.title,
               "course_type": p.course_type, "question_count": len(p.items), "total_points": p.total_points,
               "pass_mark": p.pass_mark, "duration_minutes": p.duration_minutes, "opens_at": _cn(p.opens_at),
               "closes_at": _cn(p.closes_at), "window": window, "attempt": None}
        if a is not None:
            row["attempt"] = {"id": a.id, "status": a.status, "deadline": _cn(a.deadline),
                              "remaining_seconds": max(0, int((a.deadline - ctx.now).total_seconds()))
                              if a.status == "in_progress" else 0,
                              "submitted_at": _cn(a.submitted_at), "submitted_by": a.submitted_by,
                              "score": a.score, "passed": a.passed, "final": a.status == "graded"}
        items.append(row)
    return {"items": items, "rule": RULE}


@api.route("GET", "/api/exam-papers/{paper_id:int}", summary="试卷（含答案，SUP-3） An exam paper", tag="exams",
           roles=PAPER_READERS)
def show_paper(ctx: Ctx, paper_id: int):
    """Questions and keys for staff who may see them and region supervisors (SUP-3); students: the summary."""
    return paper_dict(ctx, _paper(ctx, paper_id), with_questions=True)


@api.route("GET", "/api/exam-papers/{paper_id:int}/scores", summary="成绩单 Score sheet", tag="exams",
           roles=STAFF_READERS)
def score_sheet(ctx: Ctx, paper_id: int):
    """EXAM-1 成绩单: every rostered student, their score and whether they passed."""
    p = _paper(ctx, paper_id)
    roster = ctx.s.execute(select(Enrolment.student_user_id, User.display_name).join(
        User, User.id == Enrolment.student_user_id).where(
        Enrolment.class_id == p.class_id, Enrolment.status != "withdrawn").order_by(Enrolment.student_user_id)).all()
    attempts = {a.student_user_id: a for a in ctx.s.scalars(select(ExamAttempt).where(ExamAttempt.paper_id == p.id))}
    rows = []
    for sid, name in roster:
        a = attempts.get(sid)
        if a is not None:
            _settle(ctx, a, p)
        rows.append({"student_id": sid, "name": name, "attempt_id": a.id if a else None,
                     "status": a.status if a else "absent", "score": a.score if a else None,
                     "passed": a.passed if a else False if ctx.now >= p.closes_at else None,
                     "final": bool(a and a.status == "graded"),
                     "pending_short": _pending_short(ctx, a, p) if a else 0,
                     "started_at": _cn(a.started_at) if a else None,
                     "submitted_at": _cn(a.submitted_at) if a else None})
    return {"paper": paper_dict(ctx, p, with_questions=False), "items": rows,
            "passed": sum(1 for r in rows if r["passed"]), "rule": RULE}


# --------------------------------------------------------------------------- attempts

def _not_barred(ctx: Ctx, p: ExamPaper) -> None:
    """CLS-7 (Hohhot SYB/IYB/WLC): more than the allowed absences and leaves bars the final assessment.
    Judged from the class's attendance records when the student first opens the paper."""
    figures = classfigures.load(ctx.s, p.class_id, ctx.svc.profiles, ctx.now, students=[ctx.user.id])
    verdict = figures.absences().get(ctx.user.id)
    if verdict is not None and verdict.barred:
        why = verdict.explanation()
        raise ApiError("EXAM_BARRED_BY_ABSENCES", why["zh"], why["en"], field="paper_id", status=409, rule="CLS-7",
                       details={"absences": verdict.absences, "leaves": verdict.leaves,
                                "max_absences": verdict.rules.max_absences})


@api.route("POST", "/api/exam-papers/{paper_id:int}/attempts", summary="开始/继续考试 Start or resume the exam",
           tag="exams", roles=("student",), status=201)
def start_attempt(ctx: Ctx, paper_id: int):
    """A rostered student in the window; a second call resumes the same attempt (one per student)."""
    p = _paper(ctx, paper_id)
    existing = _attempt_of(ctx, p.id, ctx.user.id)
    if existing is not None:
        _settle(ctx, existing, p)
        return JSONResponse(attempt_dict(ctx, existing, p), status_code=200)
    now = ctx.now
    if now < p.opens_at:
        raise _err("EXAM_NOT_OPEN", f"考试将于 {_cn(p.opens_at)} 开放", f"The exam opens at {_cn(p.opens_at)}",
                   field="paper_id", status=409, opens_at=_cn(p.opens_at))
    if now >= p.closes_at:
        raise _err("EXAM_CLOSED", f"考试已于 {_cn(p.closes_at)} 关闭", f"The exam closed at {_cn(p.closes_at)}",
                   field="paper_id", status=409, closes_at=_cn(p.closes_at))
    _not_barred(ctx, p)
    a = ExamAttempt(paper_id=p.id, student_user_id=ctx.user.id, started_at=now, status="in_progress",
                    deadline=min(now + timedelta(minutes=p.duration_minutes), p.closes_at))
    ctx.s.add(a)
    ctx.s.flush()
    ctx.audit("exam.start", target_type="exam_attempt", target_id=a.id, institution_id=p.institution_id,
              region_code=p.district_code, rule=RULE, paper_id=p.id, deadline=_cn(a.deadline))
    return attempt_dict(ctx, a, p)


@api.route("GET", "/api/exam-attempts/{attempt_id:int}", summary="答卷 An exam attempt", tag="exams",
           roles=PAPER_READERS)
def show_attempt(ctx: Ctx, attempt_id: int):
    """The student: questions without keys and every saved answer (resume after a reload); staff: grading."""
    a, p = _attempt(ctx, attempt_id)
    _settle(ctx, a, p)
    return attempt_dict(ctx, a, p)


@api.route("PUT", "/api/exam-attempts/{attempt_id:int}/answers/{question_id:int}", summary="保存答案 Save an answer",
           tag="exams", roles=("student",), body=AnswerBody)
def save_answer(ctx: Ctx, body: AnswerBody, attempt_id: int, question_id: int):
    """Autosave: idempotent, last write wins, each save kept with its time; 409 after the deadline."""
    a, p = _own_open_attempt(ctx, attempt_id)
    _ids(question_id)
    if question_id not in {qid for qid, _ in p.items}:
        raise NotFound("试题", "question", field="question_id")
    q = ctx.s.get(ExamQuestion, question_id)
    response = bank.check_response(q.kind, q.options, body.response)
    ans = ctx.s.scalars(select(ExamAnswer).where(ExamAnswer.attempt_id == a.id,
                                                 ExamAnswer.question_id == question_id)).first()
    if ans is None:
        ans = ExamAnswer(attempt_id=a.id, question_id=question_id, saves=[])
        ctx.s.add(ans)
    ans.response, ans.saved_at = response, ctx.now
    ans.saves = (list(ans.saves or []) + [{"at": ctx.now.isoformat(), "response": response}])[-MAX_SAVES_KEPT:]
    ctx.s.flush()
    ctx.audit("exam.answer.save", target_type="exam_attempt", target_id=a.id, institution_id=p.institution_id,
              region_code=p.district_code, rule=RULE, question_id=question_id)
    return {"attempt_id": a.id, "question_id": question_id, "response": response, "saved_at": _cn(ans.saved_at),
            "saves": len(ans.saves), "deadline": _cn(a.deadline),
            "remaining_seconds": max(0, int((a.deadline - ctx.now).total_seconds()))}


@api.route("POST", "/api/exam-attempts/{attempt_id:int}/submit", summary="交卷 Submit", tag="exams",
           roles=("student",))
def submit_attempt(ctx: Ctx, attempt_id: int):
    """Objective questions are graded at once; the result is final when no short answer waits."""
    a, p = _own_open_attempt(ctx, attempt_id)
    _submit(ctx, a, p, by="student", at=ctx.now)
    ctx.audit("exam.submit", target_type="exam_attempt", target_id=a.id, institution_id=p.institution_id,
              region_code=p.district_code, rule=RULE, paper_id=p.id, status=a.status, score=a.score)
    return attempt_dict(ctx, a, p)


@api.route("POST", "/api/exam-attempts/{attempt_id:int}/answers/{question_id:int}/grade",
           summary="批改简答题 Grade a short answer", tag="exams", roles=GRADERS, body=GradeBody)
def grade_answer(ctx: Ctx, body: GradeBody, attempt_id: int, question_id: int):
    """The institution admin or a class lecturer; points ≤ the question's; final once all are graded."""
    a, p = _attempt(ctx, attempt_id, lock=True)
    if not _may_grade(ctx, p):
        raise Forbidden("EXAM_NOT_GRADER", "只有本机构管理员或本班讲师可以阅卷",
                        "Only the institution admin or a lecturer of the class grades", rule=RULE)
    _settle(ctx, a, p)
    _ids(question_id)
    points = dict((qid, pts) for qid, pts in p.items)
    if question_id not in points:
        raise NotFound("试题", "question", field="question_id")
    q = ctx.s.get(ExamQuestion, question_id)
    if q.kind != "short":
        raise _err("EXAM_NOT_SHORT", "客观题自动评分，不能人工批改", "Objective questions are graded automatically",
                   field="question_id")
    if a.status == "in_progress":
        raise _err("EXAM_NOT_SUBMITTED", "学员尚未交卷", "The student has not submitted yet", field="attempt_id",
                   status=409)
    if a.status == "graded":
        raise _err("EXAM_RESULT_FINAL", "成绩已全部批改完成，不能再改", "The result is final; it cannot be changed",
                   field="points", status=409)
    if body.points > points[question_id]:
        raise _err("EXAM_POINTS_TOO_HIGH", f"得分不能超过本题分值 {points[question_id]}",
                   f"Points cannot exceed the question's {points[question_id]}", field="points",
                   max_points=points[question_id])
    ans = ctx.s.scalars(select(ExamAnswer).where(ExamAnswer.attempt_id == a.id,
                                                 ExamAnswer.question_id == question_id)).first()
    if ans is None:  # pragma: no cover - submission makes a row for every short question
        raise NotFound("答案", "answer", field="question_id")
    ans.points, ans.comment = float(body.points), (body.comment or "").strip() or None
    ans.graded_by, ans.graded_at = ctx.user.id, ctx.now
    ctx.s.flush()
    _finalise_if_done(ctx, a, p)
    ctx.audit("exam.grade", target_type="exam_attempt", target_id=a.id, institution_id=p.institution_id,
              region_code=p.district_code, rule=RULE, question_id=question_id, points=ans.points,
              comment=ans.comment, final=a.status == "graded", score=a.score)
    return attempt_dict(ctx, a, p)
