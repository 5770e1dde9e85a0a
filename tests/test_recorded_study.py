"""ATT-5 recorded lessons: the course video (upload, Range serving, access) and a student's study of
it — random human-machine prompts, face snapshots and the credited time they leave — on SQLite and
PostgreSQL. Time is the settable test clock: a "phone" sends heartbeats as the page would.
"""
from __future__ import annotations

import io
import secrets
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from models import Lesson, TrainingClass
from server.attendance.recordedstudy import study
from server.live import eventlog
from server.study import prompts
from tests.world import ok

VIDEO_SECONDS = 240


def make_video(seconds: float = VIDEO_SECONDS, fmt: str = "webm", size=(64, 48), fps: int = 1) -> bytes:
    """A small real video made here with PyAV (nothing is downloaded): a grey ramp, one frame a second."""
    import av
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream("libvpx" if fmt == "webm" else "libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def webm() -> bytes:
    return make_video()


def snapshot_jpeg(name: str) -> bytes:
    """A phone-camera snapshot showing one of the two packaged faces (media/samplefaces.py)."""
    from media.samplefaces import load_rgb, scene
    ok_, data = cv2.imencode(".jpg", cv2.cvtColor(scene(load_rgb(name), 40, 0, 0.45), cv2.COLOR_RGB2BGR))
    assert ok_
    return data.tobytes()


@pytest.fixture
def rec(world, svc, clock, webm):
    """An open class whose first lesson is recorded and runs now, its video uploaded, three students
    on the roster and one registered elsewhere; prompts every 30–60 s of watching, no snapshots."""
    w = world
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    detail = w.running_lesson("alpha", district="yuquan", city="hohhot", students=3)
    lesson_id = detail["lesson_id"]
    with svc.db.session() as s:
        s.get(Lesson, lesson_id).mode = "recorded"
        s.get(TrainingClass, detail["id"]).delivery_mode = "recorded"
    svc.settings = svc.settings.with_(study_prompt_seconds=(30.0, 60.0), study_face_share=0.0)
    resp = w.client.put(f"/api/lessons/{lesson_id}/video", content=webm,
                        headers={**w.h("alpha_admin"), "Content-Type": "video/webm"})
    video = ok(resp)
    assert video["duration_seconds"] == pytest.approx(VIDEO_SECONDS, abs=1.5) and video["codec"] == "vp8"
    assert video["warnings"] and video["warnings"][0]["rule"] == "COURSE-1"  # 4 minutes < 4 class-hours
    students = [s["id"] for s in detail["roster"]]
    outsider = w.student("alpha")
    clock.set(datetime.now(timezone.utc))
    return {"w": w, "lesson_id": lesson_id, "class_id": detail["id"], "students": students, "outsider": outsider,
            "webm": webm}


class Phone:
    """One student's study page: heartbeats as client_web/static/study.js sends them."""

    def __init__(self, rec, clock, student: int):
        self.w, self.clock, self.lesson = rec["w"], clock, rec["lesson_id"]
        self.uid, self.h = student, rec["w"].h(f"student{student}")
        self.session, self.pos, self.shown = secrets.token_hex(8), 0.0, []

    @property
    def now(self) -> datetime:
        return self.clock()

    def tick(self, seconds: float, *, playing: bool = True) -> None:
        self.clock.set(self.now + timedelta(seconds=seconds))
        if playing:
            self.pos += seconds

    def beat(self, reason: str = "tick", *, playing: bool = True, visible: bool = True, status: int = 200) -> dict:
        resp = self.w.client.post(f"/api/lessons/{self.lesson}/study/heartbeat", headers=self.h, json={
            "session_id": self.session, "position": self.pos, "playing": playing, "visible": visible, "reason": reason})
        assert resp.status_code == status, resp.text
        body = resp.json()
        if status == 200 and body["prompt"] is not None:
            self.shown.append(body["prompt"])
        return body

    def play(self, seconds: float, step: float = 10, *, visible: bool = True, until_prompt: bool = False) -> dict | None:
        """Play for ``seconds`` with a heartbeat every ``step``; with ``until_prompt``, stop at the
        first prompt not shown before."""
        done, seen = 0.0, {p["id"] for p in self.shown}
        while done < seconds:
            self.tick(step)
            done += step
            prompt = self.beat(visible=visible)["prompt"]
            if until_prompt and prompt is not None and prompt["id"] not in seen:
                return prompt
        return None

    def wait(self, seconds: float, step: float = 10) -> None:
        """Paused (under a prompt, say): the page still sends its heartbeats."""
        done = 0.0
        while done < seconds:
            self.tick(step, playing=False)
            done += step
            self.beat("tick", playing=False)

    def answer(self, prompt_id: int, given: str) -> dict:
        return ok(self.w.client.post(f"/api/lessons/{self.lesson}/study/answer", headers=self.h,
                                     json={"prompt_id": prompt_id, "answer": given}))

    def snapshot(self, prompt_id: int, jpeg: bytes):
        return self.w.client.post(f"/api/lessons/{self.lesson}/study/snapshot", headers=self.h,
                                  data={"prompt_id": str(prompt_id)}, files={"photo": ("snap.jpg", jpeg, "image/jpeg")})


def expected(svc, prompt_id: int) -> str:
    with svc.db.session() as s:
        return next(e for e in eventlog.events(s, _lesson_of(s, prompt_id), kinds=["hm_prompt"], limit=None)
                    if e.id == prompt_id).payload["answer"]


def _lesson_of(s, event_id: int) -> int:
    from models import LessonEvent
    return s.get(LessonEvent, event_id).lesson_id


def wrong(svc, prompt: dict) -> str:
    return next(c for c in prompt["choices"] if c != expected(svc, prompt["id"]))


def figures(svc, rec, uid: int, until: datetime | None = None):
    with svc.db.session() as s:
        events = eventlog.events(s, rec["lesson_id"], limit=None)
    return study(events, [uid], until=until or events[-1].at)[uid]


def seconds(segments, reason) -> float:
    return sum((s.end - s.start).total_seconds() for s in segments if s.reason == reason)


# --------------------------------------------------------------------------- prompt scheduling

def test_att5_prompt_draws_are_random_within_bounds_and_unpredictable(svc):
    lo, hi = 300.0, 900.0
    plans = [prompts.draw(prompts.seed(svc.cipher, 7, uid, n), n, interval=(lo, hi), face_share=0.5)
             for uid in (1, 2, 3) for n in range(100)]
    waits = [p.interval_s for p in plans]
    assert all(lo <= w <= hi for w in waits)
    assert max(waits) - min(waits) > 0.8 * (hi - lo) and len(set(waits)) == len(waits)  # spread, never repeating
    thirds = [sum(lo + k * (hi - lo) / 3 <= w < lo + (k + 1) * (hi - lo) / 3 for w in waits) for k in range(3)]
    assert all(60 <= t <= 140 for t in thirds), thirds  # roughly uniform over 300 draws
    assert {p.type for p in plans} == set(prompts.TYPES)
    for p in plans:
        assert p.answer in p.choices and len(set(p.choices)) == len(p.choices)
        assert len(p.choices) == (10 if p.type == "digit" else 4)
        assert p.answer in p.question_zh or p.type == "sum"
    assert all(p.snapshot for p in plans if p.n == 0)  # the first prompt checks the face
    share = sum(p.snapshot for p in plans if p.n) / sum(1 for p in plans if p.n)
    assert 0.35 <= share <= 0.65
    # the same (lesson, student, n) draws the same prompt on every node; another student gets others
    again = prompts.draw(prompts.seed(svc.cipher, 7, 1, 5), 5, interval=(lo, hi), face_share=0.5)
    assert again == plans[5] and plans[5] != plans[105]
    assert not any(p.snapshot for p in (prompts.draw(prompts.seed(svc.cipher, 7, 1, n), n, interval=(lo, hi),
                                                     face_share=0.0) for n in range(20)))


# --------------------------------------------------------------------------- prompts over the API

def test_att5_prompt_after_random_watching_right_answer_keeps_credit(rec, svc, clock):
    phone = Phone(rec, clock, rec["students"][0])
    info = ok(rec["w"].client.get(f"/api/lessons/{rec['lesson_id']}/study", headers=phone.h))
    assert info["video"]["url"].startswith(f"/api/lessons/{rec['lesson_id']}/video?part=0&t=") and info["prompt"] is None
    assert info["heartbeat_seconds"] == 10 and info["progress"]["study_seconds"] == 0
    assert phone.beat("start")["prompt"] is None
    prompt = phone.play(120, until_prompt=True)
    assert prompt is not None and 30 <= phone.pos <= 60 + 10  # due after 30–60 s of watching, seen at a heartbeat
    assert "answer" not in prompt and prompt["expires_in"] == 60 and not prompt["snapshot"]
    phone.beat("prompt", playing=False)  # the page pauses the video under the prompt
    phone.tick(5, playing=False)
    result = phone.answer(prompt["id"], expected(svc, prompt["id"]))
    assert result["outcome"] == "correct" and result["prompt"] is None
    phone.beat("play")
    phone.play(20)
    phone.beat("pause", playing=False)
    f = figures(svc, rec, phone.uid)
    watched = phone.pos
    assert f.study.total_seconds() == pytest.approx(watched, abs=0.01)  # every played second counts
    assert seconds(f.timeline, "prompt_open") == pytest.approx(5, abs=0.01)
    assert (f.prompts_due, f.prompts_passed) == (1, 1) and f.covered == pytest.approx(watched, abs=0.01)
    with svc.db.session() as s:
        kinds = [e.kind for e in eventlog.events(s, rec["lesson_id"], limit=None) if e.user_id == phone.uid]
    assert kinds.count("hm_prompt") == 1 and kinds.count("hm_answer") == 1 and kinds.count("study_progress") >= 10
    # a closed prompt cannot be answered again
    again = rec["w"].client.post(f"/api/lessons/{rec['lesson_id']}/study/answer", headers=phone.h,
                                 json={"prompt_id": prompt["id"], "answer": "1"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "PROMPT_CLOSED"


def test_att5_wrong_answer_pauses_credit_until_the_next_right_answer(rec, svc, clock):
    phone = Phone(rec, clock, rec["students"][0])
    phone.beat("start")
    prompt = phone.play(120, until_prompt=True)
    phone.beat("prompt", playing=False)
    phone.tick(3, playing=False)
    result = phone.answer(prompt["id"], wrong(svc, prompt))
    assert result["outcome"] == "wrong" and result["prompt"]["retry"] and result["prompt"]["id"] != prompt["id"]
    wrong_at = phone.now
    phone.tick(10, playing=False)
    assert phone.beat("prompt", playing=False)["prompt"]["id"] == result["prompt"]["id"]  # shown until answered
    phone.tick(7, playing=False)
    assert phone.answer(result["prompt"]["id"], expected(svc, result["prompt"]["id"]))["outcome"] == "correct"
    right_at = phone.now
    phone.beat("play")
    phone.play(30)
    f = figures(svc, rec, phone.uid)
    paused = [s for s in f.timeline if s.reason == "prompt_failed"]
    assert paused and paused[0].start == wrong_at and paused[-1].end == right_at
    assert (f.prompts_due, f.prompts_passed) == (2, 1)
    assert f.study.total_seconds() == pytest.approx(phone.pos, abs=0.01)  # the video was paused meanwhile


def test_att5_missed_prompt_pauses_credit_until_the_next_right_answer(rec, svc, clock):
    """A page that keeps playing through a prompt (tampered, or the student away) earns nothing from
    the prompt on: waiting, then missed from its deadline until a prompt is answered right."""
    phone = Phone(rec, clock, rec["students"][1])
    phone.beat("start")
    prompt = phone.play(120, until_prompt=True)
    issued = phone.now
    before = phone.pos
    phone.play(70)  # past the 60 s window: the heartbeat after the deadline records the miss and retries
    retry = phone.shown[-1]
    assert retry["id"] != prompt["id"] and retry["retry"]
    with svc.db.session() as s:
        missed = [e for e in eventlog.events(s, rec["lesson_id"], kinds=["hm_answer"], limit=None)
                  if e.payload["prompt"] == prompt["id"]]
    assert [e.payload["outcome"] for e in missed] == ["missed"]
    deadline = datetime.fromisoformat(missed[0].payload["deadline"])
    assert deadline == issued + timedelta(seconds=60)
    phone.play(20)
    assert phone.answer(retry["id"], expected(svc, retry["id"]))["outcome"] == "correct"
    answered = phone.now
    phone.play(30)
    f = figures(svc, rec, phone.uid)
    assert seconds(f.timeline, "prompt_open") >= 60  # the missed prompt's window (and the retry's)
    failed = [s for s in f.timeline if s.reason == "prompt_failed"]
    assert failed and failed[0].start == deadline and failed[-1].end == answered
    assert f.study.total_seconds() == pytest.approx(before + 30, abs=0.01)
    assert (f.prompts_due, f.prompts_passed) == (2, 1)


def test_att5_late_answer_does_not_count(rec, svc, clock):
    phone = Phone(rec, clock, rec["students"][2])
    phone.beat("start")
    prompt = phone.play(120, until_prompt=True)
    phone.beat("prompt", playing=False)
    phone.wait(60)
    phone.tick(5, playing=False)  # answered after the 60 s window and its 2 s grace
    result = phone.answer(prompt["id"], expected(svc, prompt["id"]))
    assert result["outcome"] == "late" and not result["correct"] and result["prompt"]["retry"]
    phone.tick(4, playing=False)
    assert phone.answer(result["prompt"]["id"], expected(svc, result["prompt"]["id"]))["outcome"] == "correct"
    phone.beat("play")
    phone.play(20)
    f = figures(svc, rec, phone.uid)
    deadline = datetime.fromisoformat(result["answered"]["deadline"])
    failed = [s for s in f.timeline if s.reason == "prompt_failed"]
    assert failed[0].start == deadline and (f.prompts_due, f.prompts_passed) == (2, 1)


# --------------------------------------------------------------------------- what earns time

def test_att5_seek_forward_earns_nothing_rewatching_counts_time_not_content(rec, svc, clock):
    svc.settings = svc.settings.with_(study_prompt_seconds=(10_000.0, 10_000.0))  # no prompt in the way
    phone = Phone(rec, clock, rec["students"][0])
    phone.beat("start")
    phone.play(30)  # 0 → 30
    phone.tick(2)
    phone.pos = 150.0  # dragged forward to 150 (the span with the jump earns nothing)
    phone.beat("seeked")
    phone.play(30)  # 150 → 180
    phone.tick(2)
    phone.pos = 0.0  # back to the start: rewatching
    phone.beat("seeked")
    phone.play(30)  # 0 → 30 again
    phone.beat("pause", playing=False)
    f = figures(svc, rec, phone.uid)
    assert f.study.total_seconds() == pytest.approx(90, abs=0.01)  # 30 + 30 + 30: rewatching counts time
    assert seconds(f.timeline, "seek") == pytest.approx(4, abs=0.01)
    assert f.covered == pytest.approx(60, abs=0.01)  # 0–30 and 150–180: the rewatch adds no content
    assert f.completion == pytest.approx(60 / VIDEO_SECONDS, abs=0.01) and not f.meets_completion
    # ATT-2: the class report carries the recorded lesson — credited minutes, the video's length,
    # the share of it covered (rewatching earns time, not completion)
    from server.attendance.report import class_attendance
    with svc.db.session() as s:
        rows = class_attendance(s, rec["class_id"], svc.profiles, phone.now)
    mine = next(r for r in rows if r["lesson_id"] == rec["lesson_id"] and r["student_user_id"] == phone.uid)
    assert (mine["study_minutes"], mine["study_ratio"], mine["meets_live_time_ATT3"]) == (1.5, 0.25, False)
    assert mine["live_minutes"] == pytest.approx(VIDEO_SECONDS / 60, abs=0.05)


def test_att5_hidden_page_earns_nothing_and_gets_no_prompt(rec, svc, clock):
    svc.settings = svc.settings.with_(study_prompt_seconds=(20.5, 20.5))  # due while hidden
    phone = Phone(rec, clock, rec["students"][0])
    phone.beat("start")
    phone.play(20)
    phone.tick(1)
    phone.beat("visibility", visible=False)  # the phone switched apps; audio plays on
    assert phone.play(40, visible=False, until_prompt=True) is None  # due, but a hidden page is not asked
    phone.tick(1)
    prompt = phone.beat("visibility")["prompt"]
    assert prompt is not None  # asked as soon as the page is back
    f = figures(svc, rec, phone.uid)
    assert seconds(f.timeline, "page_hidden") == pytest.approx(41, abs=0.01)
    assert f.study.total_seconds() == pytest.approx(21, abs=0.01)
    # a gap longer than 2.5 heartbeats (the phone locked) is not credited either
    phone.answer(prompt["id"], expected(svc, prompt["id"]))
    phone.beat("play")
    phone.tick(60)
    phone.beat()
    f = figures(svc, rec, phone.uid)
    assert seconds(f.timeline, "no_heartbeat") == pytest.approx(60, abs=0.01)


# --------------------------------------------------------------------------- face snapshots

def test_att5_snapshot_of_another_person_fails_and_pauses_credit_until_a_match(rec, svc, clock):
    svc.settings = svc.settings.with_(study_face_share=1.0)
    phone = Phone(rec, clock, rec["students"][0])  # registered with the astronaut's photo
    phone.beat("start")
    prompt = phone.play(120, until_prompt=True)
    assert prompt["snapshot"] and prompt["snapshots_left"] == 3
    phone.beat("prompt", playing=False)
    phone.tick(2, playing=False)
    other = phone.snapshot(prompt["id"], snapshot_jpeg("grace_hopper.jpg"))
    body = ok(other)
    assert body["verdict"] == "mismatch" and not body["passed"] and body["message_en"]
    failed_at = phone.now
    phone.tick(2, playing=False)
    assert phone.answer(prompt["id"], expected(svc, prompt["id"]))["outcome"] == "correct"
    phone.tick(3, playing=False)
    me = ok(phone.snapshot(prompt["id"], snapshot_jpeg("astronaut.png")))
    assert me["verdict"] == "match" and me["passed"] and me["prompt"]["face_ok"]
    matched_at = phone.now
    phone.beat("play")
    phone.play(20)
    with svc.db.session() as s:
        checks = [e.payload for e in eventlog.events(s, rec["lesson_id"], kinds=["face_check"], limit=None)]
    assert [c["verdict"] for c in checks] == ["mismatch", "match"]
    assert all(c["source"] == "study" and c["prompt"] == prompt["id"] and c["file_id"] for c in checks)
    f = figures(svc, rec, phone.uid)
    assert (f.faces_due, f.faces_passed) == (1, 1)
    face = [s for s in f.timeline if s.reason == "face_failed"]
    assert not face or (face[0].start >= failed_at and face[-1].end <= matched_at)  # the video was paused too
    # a snapshot nobody asked for, or after the window, is refused
    late = phone.snapshot(prompt["id"], snapshot_jpeg("astronaut.png"))
    assert late.status_code == 409 and late.json()["error"]["rule"] == "ATT-5"


def test_att5_snapshot_never_sent_fails_the_face_check_and_triggers_a_retry(rec, svc, clock):
    svc.settings = svc.settings.with_(study_face_share=1.0)
    phone = Phone(rec, clock, rec["students"][1])
    phone.beat("start")
    prompt = phone.play(120, until_prompt=True)
    phone.beat("prompt", playing=False)
    phone.tick(4, playing=False)
    assert phone.answer(prompt["id"], expected(svc, prompt["id"]))["outcome"] == "correct"  # but no photo
    phone.beat("play")
    retry = phone.play(80, until_prompt=True)  # the window closes without a snapshot: a retry with one
    assert retry["retry"] and retry["snapshot"]
    with svc.db.session() as s:
        checks = [e.payload for e in eventlog.events(s, rec["lesson_id"], kinds=["face_check"], limit=None)]
    assert checks[0]["verdict"] == "no_sample" and checks[0]["prompt"] == prompt["id"]
    f = figures(svc, rec, phone.uid)
    assert seconds(f.timeline, "face_failed") > 0 and (f.faces_due, f.faces_passed) == (1, 0)


def test_att5_wrong_answer_before_the_photo_moves_the_face_check_to_the_retry(rec, svc, clock):
    svc.settings = svc.settings.with_(study_face_share=1.0)
    phone = Phone(rec, clock, rec["students"][2])
    phone.beat("start")
    prompt = phone.play(120, until_prompt=True)
    phone.beat("prompt", playing=False)
    retry = phone.answer(prompt["id"], wrong(svc, prompt))["prompt"]  # tapped before the camera was ready
    assert retry["snapshot"]
    phone.tick(3, playing=False)
    assert ok(phone.snapshot(retry["id"], snapshot_jpeg("astronaut.png")))["passed"]
    assert phone.answer(retry["id"], expected(svc, retry["id"]))["outcome"] == "correct"
    phone.beat("play")
    phone.play(90)  # past both deadlines
    with svc.db.session() as s:
        verdicts = [e.payload["verdict"] for e in eventlog.events(s, rec["lesson_id"], kinds=["face_check"], limit=None)]
    assert verdicts == ["match"]  # no "no_sample" for the first prompt: its photo was the retry's
    f = figures(svc, rec, phone.uid)
    assert (f.faces_due, f.faces_passed) == (1, 1) and seconds(f.timeline, "face_failed") == 0


# --------------------------------------------------------------------------- the video

def test_video_range_requests_tickets_and_access(rec, svc, monkeypatch):
    from server import videoserve
    w, lid, data = rec["w"], rec["lesson_id"], rec["webm"]
    url = f"/api/lessons/{lid}/video"
    student = w.h(f"student{rec['students'][0]}")
    whole = w.client.get(url, headers=student)
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/webm"
    size = len(data)
    for header, (first, last) in {"bytes=0-99": (0, 99), "bytes=100-": (100, size - 1), "bytes=-50": (size - 50, size - 1),
                                  f"bytes=10-{size + 500}": (10, size - 1)}.items():
        r = w.client.get(url, headers={**student, "Range": header})
        assert r.status_code == 206, (header, r.text)
        assert r.content == data[first:last + 1] and r.headers["content-range"] == f"bytes {first}-{last}/{size}"
    for bad in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=20-10", "bytes=abc", "bytes=-0"):
        r = w.client.get(url, headers={**student, "Range": bad})
        assert r.status_code == 416, bad
        assert r.headers["content-range"] == f"bytes */{size}" and r.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"
    assert w.client.get(url, headers={**student, "Range": "bytes=0-1,5-9"}).status_code == 200  # several: whole
    head = w.client.head(url, headers={**student, "Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10" and head.content == b""
    # the page's <video> has no bearer token: the signed ticket from GET /study
    info = ok(w.client.get(f"/api/lessons/{lid}/study", headers=student))
    r = w.client.get(info["video"]["url"], headers={"Range": "bytes=0-15"})
    assert r.status_code == 206 and r.content == data[:16]
    tampered = info["video"]["url"][:-3] + ("000" if not info["video"]["url"].endswith("000") else "111")
    assert w.client.get(tampered).status_code == 401 and w.client.get(url).status_code == 401
    assert w.client.get(f"/api/lessons/{lid + 1}/video?t={info['video']['url'].split('t=')[1]}").status_code == 401
    # staff and the region's supervisor may watch; a student of no class of this lesson may not
    assert w.client.get(url, headers={**w.h("alpha_admin"), "Range": "bytes=0-0"}).status_code == 206
    assert w.client.get(url, headers={**w.h("yuquan"), "Range": "bytes=0-0"}).status_code == 206
    outsider = w.client.get(url, headers=w.h(f"student{rec['outsider']}"))
    assert outsider.status_code == 403 and outsider.json()["error"]["code"] == "NOT_ON_ROSTER"
    # chunk boundaries: stored again with tiny chunks, every range still decrypts to the same bytes
    monkeypatch.setattr(videoserve, "CHUNK", 1000)
    store = videoserve.VideoStore(svc.files)
    src = svc.settings.data_dir / "src.webm"
    src.write_bytes(data)
    import hashlib
    with svc.db.session() as s:
        row = store.save(s, src, size=size, sha256=hashlib.sha256(data).hexdigest(), content_type="video/webm",
                         kind="course_video", width=64, height=48, owner_user_id=None, institution_id=None)
        for first, last in ((0, 999), (999, 1000), (1500, 3999), (size - 7, size - 1), (0, size - 1)):
            assert b"".join(store.read(row, first, last)) == data[first:last + 1]
        assert store.verify(row)
        raw = (svc.files.root / row.storage_key[:2] / row.storage_key).read_bytes()
        assert data[:200] not in raw  # encrypted at rest (PLAT-3)


def test_att5_non_roster_student_is_refused(rec, clock):
    w, lid = rec["w"], rec["lesson_id"]
    h = w.h(f"student{rec['outsider']}")
    for resp in (w.client.get(f"/api/lessons/{lid}/study", headers=h),
                 w.client.post(f"/api/lessons/{lid}/study/heartbeat", headers=h, json={
                     "session_id": "outsider1", "position": 0, "playing": True, "visible": True, "reason": "start"}),
                 w.client.get(f"/api/lessons/{lid}/video", headers=h)):
        assert resp.status_code == 403, resp.text
        err = resp.json()["error"]
        assert err["code"] == "NOT_ON_ROSTER" and err["rule"] == "ATT-5" and err["message_zh"] and err["message_en"]
    # staff do not study; the report is theirs (and the region's supervisor's)
    assert w.client.get(f"/api/lessons/{lid}/study", headers=w.h("alpha_admin")).status_code == 403
    report = ok(w.client.get(f"/api/lessons/{lid}/study/report", headers=w.h("yuquan")))
    assert {i["user_id"] for i in report["items"]} == set(rec["students"])


def test_att5_bad_uploads_are_refused_with_reasons(rec, svc, webm):
    w, lid = rec["w"], rec["lesson_id"]
    admin = w.h("alpha_admin")

    def put(body: bytes, ctype: str, who=admin, lesson=lid):
        return w.client.put(f"/api/lessons/{lesson}/video", content=body, headers={**who, "Content-Type": ctype})

    png = io.BytesIO()
    from PIL import Image
    Image.new("RGB", (8, 8)).save(png, "PNG")
    cases = [
        (put(webm, "image/png"), 415, "VIDEO_TYPE"),
        (put(png.getvalue(), "video/webm"), 415, "VIDEO_TYPE_MISMATCH"),
        (put(b"\x1a\x45\xdf\xa3" + b"webm" + b"\x00" * 500, "video/webm"), 422, "VIDEO_UNREADABLE"),
        (put(b"", "video/mp4"), 422, "VIDEO_EMPTY"),
        (put(webm, "video/webm", who=w.h(f"student{rec['students'][0]}")), 403, "FORBIDDEN"),
    ]
    svc.settings = svc.settings.with_(max_video_bytes=1000)
    cases.append((put(webm, "video/webm"), 413, "VIDEO_TOO_LARGE"))
    svc.settings = svc.settings.with_(max_video_bytes=50 * 1024 * 1024)
    with svc.db.session() as s:
        live_lesson = s.scalars(select(Lesson.id).where(
            Lesson.class_id == rec["class_id"], Lesson.id != lid)).first()
    cases.append((put(webm, "video/webm", lesson=live_lesson), 409, "NOT_RECORDED_LESSON"))
    for resp, status, code in cases:
        assert resp.status_code == status, (code, resp.text)
        err = resp.json()["error"]
        assert err["code"] == code and err["message_zh"] and err["message_en"]
        assert code == "FORBIDDEN" or err["rule"] in ("COURSE-1", "CLS-6")
    # an MP4 replaces the WebM while nobody has studied; after the first heartbeat it is final
    mp4 = make_video(seconds=5, fmt="mp4", fps=5)
    assert ok(put(mp4, "video/mp4"))["content_type"] == "video/mp4"
    ok(w.client.post(f"/api/lessons/{lid}/study/heartbeat", headers=w.h(f"student{rec['students'][0]}"), json={
        "session_id": "firsttab1", "position": 0, "playing": False, "visible": True, "reason": "start"}))
    in_use = put(webm, "video/webm")
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "VIDEO_IN_USE"
    got = w.client.get(f"/api/lessons/{lid}/video", headers=w.h(f"student{rec['students'][0]}"))
    assert got.content == mp4 and got.headers["content-type"] == "video/mp4"
