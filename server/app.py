"""The ASGI application: API routes, static pages, error handlers."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from server.api import audit, auth, classes, institutions, lecturers, leaves, reference, students, users
from server.api import offlinesignin  # ATT-6 / CLS-6
from server.api import mylessons  # a student's lessons and where to go for each
from server.api import study  # ATT-5: recorded lessons
from server.api import liveness  # ATT-1: liveness challenges answered by upload (offline, recorded)
from server.api import attendance  # ATT-2/3/4/7/8: figures, timelines, roll calls, study photos
from server.api import recordings  # REC-1: recording status, integrity, retention
from server.api import sitevideos, spotcheck  # ATT-6 offline site videos; SUP-5 spot checks
from server.api import replay  # CLS-8 / REC-1: lesson replay, progress, one-file download
from server.api import dailysummaries, screening, spectatorlinks, supervision, webhooks  # SUP-1..6, LIVE-5, ATT-9
from server.api import certificates, exams  # CERT-1..4, EXAM-1 (issue 7)
from server.api import businessplans, coursepackages, documents, eligibility, homework, subsidies  # issue 7
from server.api.endpoint import Api, error_response, identity_error
from server.api.openapi import build_openapi
from server.errors import ApiError
from server.identity.errors import IdentityError
from server.services import Services
from server.settings import Settings

log = logging.getLogger("qihang")
CLIENT_DIR = Path(__file__).resolve().parent.parent / "client_web"
MODULES = (auth, institutions, users, lecturers, students, classes, reference, audit, leaves, offlinesignin,
           study, liveness, attendance, recordings, replay, spotcheck, sitevideos, spectatorlinks, supervision,
           dailysummaries, screening, webhooks, exams, certificates, homework, businessplans, eligibility,
           subsidies, documents, coursepackages, mylessons)
PAGES = {"/": "index.html", "/login": "login.html", "/planner": "planner.html", "/register": "register.html",
         "/review": "review.html", "/docs": "docs.html", "/room": "room.html", "/leave": "leave.html",
         "/signin": "signin.html",  # ATT-6: offline-lesson sign-in on the phone
         "/study": "study.html",  # ATT-5: a recorded lesson on the phone
         "/attendance": "attendance.html",  # ATT-2/3/4/7/8: figures and the timelines behind them
         "/replay": "replay.html",  # CLS-8: a lesson's replay with screen share and chat
         "/spotcheck": "spotcheck.html",  # SUP-5 spot checks; ATT-6 offline site-video checklist
         "/supervise": "supervise.html",  # SUP-1/2/3: region dashboards, class detail, exports
         "/verify": "verify.html",  # CERT-4: public certificate verification (no login)
         "/exam": "exam.html",  # EXAM-1: the timed final exam on the phone
         "/coursework": "coursework.html",  # LIVE-7 homework, EXAM-2 business plans
         "/my-certificates": "certificates.html",  # CERT-1: a student's certificates to download
         "/disclosure": "disclosure.html",  # SUB-3: public subsidy disclosure (no login)
         "/subsidy": "subsidy.html"}  # SUB-1..4: an institution's subsidy claim


def all_endpoints() -> list:
    return [ep for m in MODULES for ep in m.api.endpoints]


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    svc = services or Services.build(settings or Settings.from_env())
    api = Api()
    api.endpoints = all_endpoints()
    spec = build_openapi(api.endpoints, version="0.1.0")

    async def openapi(_request: Request) -> JSONResponse:
        return JSONResponse(spec)

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def exam_worker(_request: Request):
        """EXAM-1: the exam page's service worker, from the root so that its scope can be /exam."""
        return FileResponse(CLIENT_DIR / "static" / "exam-sw.js", media_type="text/javascript",
                            headers={"Cache-Control": "no-cache"})

    def page(name: str):
        async def serve(_request: Request):
            return FileResponse(CLIENT_DIR / name, headers={"Cache-Control": "no-cache"})
        return serve

    live: dict = {}

    async def lesson_socket(ws):
        from server.live.signalling import LessonSocket
        await LessonSocket(ws, svc, live["hub"], live["bus"].node_id).run()

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        from server.live.bus import make_bus
        from server.live.roomhub import RoomHub
        live["bus"] = make_bus(svc.settings)
        live["hub"] = RoomHub(live["bus"])
        if svc.settings.face_attendance:
            from server.live.faceattendance import FaceAttendance
            live["hub"].faces = FaceAttendance(svc, live["hub"], live["bus"].node_id,
                                               interval=svc.settings.face_sample_seconds,
                                               liveness_every=svc.settings.liveness_seconds,
                                               liveness_on=svc.settings.liveness)
        if svc.settings.recording:
            from recorder.client import RecorderClient
            live["hub"].recorder = RecorderClient(svc.settings.recordings_root, svc.settings.data_dir,
                                                  segment_s=svc.settings.recording_segment_seconds,
                                                  database_url=svc.settings.database_url,
                                                  profiles_dir=svc.settings.profiles_dir)

            async def lesson_over(lesson_id: int) -> bool:
                def check() -> bool:
                    from models import Lesson
                    with svc.db.session() as s:
                        lesson = s.get(Lesson, lesson_id)
                        return lesson is None or lesson.ends_at <= svc.now()
                return await run_in_threadpool(check)
            live["hub"].lesson_over = lesson_over
        # Background work every node runs; each claims rows safely, so several nodes may share it.
        from server.attendance.dailyscheduler import DailySummaryScheduler
        from server.webhooks.dispatcher import Dispatcher
        from server.documents.reportjob import ReportScheduler
        background = ([Dispatcher(svc), DailySummaryScheduler(svc), ReportScheduler(svc)]
                      if svc.settings.background_jobs else [])
        for job in background:
            await job.start()
        try:
            yield
        finally:
            for job in background:
                await job.close()
            await live["hub"].close()
            await live["bus"].close()

    routes = api.routes(svc) + [
        WebSocketRoute("/ws/lessons/{lesson_id:int}", lesson_socket),
        Route("/openapi.json", openapi),
        Route("/healthz", healthz),
        Route("/exam-sw.js", exam_worker),
        *[Route(path, page(name)) for path, name in PAGES.items()],
        Mount("/static", StaticFiles(directory=CLIENT_DIR / "static"), name="static"),
    ]

    async def on_api_error(_request: Request, exc: ApiError):
        return error_response(exc)

    async def on_identity_error(_request: Request, exc: IdentityError):
        return error_response(identity_error(exc))

    async def on_http(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            return error_response(ApiError("NOT_FOUND", "地址不存在", f"No such address: {request.url.path}", status=404))
        if exc.status_code == 405:
            return error_response(ApiError("METHOD_NOT_ALLOWED", "不支持该请求方法", "Method not allowed", status=405))
        return error_response(ApiError("HTTP_ERROR", "请求错误", str(exc.detail), status=exc.status_code))

    async def on_crash(_request: Request, exc: Exception):
        log.exception("unhandled error", exc_info=exc)
        return error_response(ApiError("INTERNAL", "服务器内部错误，已记录", "Internal error; it has been logged", status=500))

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ApiError: on_api_error, IdentityError: on_identity_error, HTTPException: on_http, Exception: on_crash})
    app.state.services = svc
    app.state.live = live  # bus and room hub, once started (diagnostics and tests)
    return app
