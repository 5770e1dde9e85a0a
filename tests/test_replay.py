"""Replay (CLS-8, REC-1, SUP-5): a lesson's recording on one timeline with its chat, per-source media
remuxed (never decoded) and served with HTTP Range, the student's watched ranges, and the whole lesson
as one downloadable file. Access follows the class: roster, staff, supervisors of its region, admins.

The recording is made as the recorder makes it: VP8 and Opus frames (encoded here once) written by
recorder/segmentwriter.SegmentWriter, each closed segment handed to recorder.ledger.Ledger with the
meta recorder/lessonrecording.py gives; a screen share starts a new segment (a new track set).
"""
from __future__ import annotations

import fractions
import functools
import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote

import av
import numpy as np
import pytest
from sqlalchemy import select

from models import AuditLog, Enrolment, Institution, Lesson, LessonEvent, TrainingClass, User
from recorder.ledger import Ledger
from recorder.segmentwriter import SegmentWriter, TrackSpec
from server.auth.passwords import hash_password
from server.live import eventlog
from tests.world import PASSWORD, auth, ok

FFPROBE = shutil.which("ffprobe")
FPS = 15
PLAN = [(4.0, False), (4.0, True), (3.0, True)]  # seconds per segment, screen shared or not
GAP_S = 0.6  # between segments (the next keyframe; a restart would leave more)
pytestmark = pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed (make install-test installs ffmpeg)")


# --------------------------------------------------------------------------- making a recording

@functools.lru_cache(maxsize=None)
def vp8_frames(n: int, size: tuple[int, int] = (160, 120), seed: int = 0) -> tuple[tuple[bytes, bool], ...]:
    """``n`` encoded VP8 pictures (a keyframe first), as the recorder receives them."""
    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = size[0], size[1], "yuv420p"
    ctx.time_base, ctx.framerate, ctx.bit_rate, ctx.gop_size = fractions.Fraction(1, FPS), FPS, 150_000, 1000
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        img[:, :, seed % 3] = (i * 9) % 255
        img[::8, ::8] = rng.integers(0, 255, img[::8, ::8].shape, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [(bytes(p), p.is_keyframe) for p in ctx.encode(frame)]
    out += [(bytes(p), p.is_keyframe) for p in ctx.encode(None)]
    assert len(out) == n and out[0][1]
    return tuple(out)


@functools.lru_cache(maxsize=None)
def opus_frames(n: int) -> tuple[bytes, ...]:
    """``n`` encoded 20 ms Opus frames of a tone."""
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = 48000, "stereo", "s16"
    out, t = [], 0
    while len(out) < n:
        tone = (np.sin(2 * np.pi * 440 * (np.arange(960) + t) / 48000) * 6000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2)[None, :], format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, t
        t += 960
        out += [bytes(p) for p in ctx.encode(frame)]
    return tuple(out[:n])


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def write_segment(folder: Path, seq: int, start_ms: float, seconds: float, screen: bool) -> SegmentWriter:
    """One closed segment as recorder/segmentwriter.py writes it: camera and mic, and the screen share."""
    tracks = [TrackSpec(1, "camera", "video/vp8", 90000, 160, 120), TrackSpec(2, "mic", "audio/opus", 48000)]
    if screen:
        tracks.append(TrackSpec(3, "screen", "video/vp8", 90000, 240, 160))
    w = SegmentWriter(folder, seq, tracks, start_ms)
    n_video, n_audio = int(seconds * FPS), int(seconds * 50)
    frames = [(start_ms + i * 1000 / FPS, 1, d, k) for i, (d, k) in enumerate(vp8_frames(n_video))]
    frames += [(start_ms + i * 20, 2, d, True) for i, d in enumerate(opus_frames(n_audio))]
    if screen:
        frames += [(start_ms + 7 + i * 1000 / FPS, 3, d, k) for i, (d, k) in enumerate(vp8_frames(n_video, (240, 160), 1))]
    for ms, track, data, key in sorted(frames, key=lambda f: (f[0], f[1])):
        w.write(track, data, ms, key)
    w.close()
    w.counts = {"camera": n_video, "mic": n_audio, "screen": n_video if screen else 0}
    return w


def record(ledger: Ledger, lesson_id: int, start: datetime, plan=PLAN, finish: bool = True) -> list[dict]:
    """Segments as the recorder closes them, with the meta recorder/lessonrecording.py hands the
    ledger; returns what each holds (frames per source, times)."""
    ledger.open_lesson(lesson_id)
    start_ms, made = start.timestamp() * 1000, []
    for seq, (seconds, screen) in enumerate(plan, 1):
        w = write_segment(ledger.lesson_dir(lesson_id), seq, start_ms, seconds, screen)
        meta = {"seq": seq, "started_at": _iso(w.start_ms), "ended_at": _iso(w.end_ms),
                "duration_s": round((w.end_ms - w.start_ms) / 1000, 3), "frames": w.frames,
                "tracks": [{"number": t.number, "source": t.source, "mime": t.mime} for t in w.tracks.values()]}
        ledger.segment_closed(lesson_id, w.path, meta)
        made.append({"seq": seq, "path": w.path, "start_ms": w.start_ms, "duration_s": meta["duration_s"],
                     "frames": w.counts})
        start_ms = w.end_ms + GAP_S * 1000
    if finish:
        ledger.finish(lesson_id)
    return made


def packets(path, source: str) -> list[bytes]:
    """The packet bytes of the track titled ``source`` (demuxed, not decoded)."""
    with av.open(str(path)) as c:
        stream = next(s for s in c.streams if s.metadata.get("title") == source)
        return [bytes(p) for p in c.demux(stream) if p.size]


def probe(path) -> dict:
    out = subprocess.run([FFPROBE, "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,codec_type,nb_read_frames:stream_tags=title:format=duration,format_name",
                          "-of", "json", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# --------------------------------------------------------------------------- the world

def _user(s, username: str, role: str, **kw) -> User:
    u = User(username=username, password_hash=hash_password(PASSWORD), role=role, display_name=kw.pop("name", username), **kw)
    s.add(u)
    s.flush()
    return u


def _class(s, inst: Institution, creator: User, name: str, start: datetime) -> tuple[TrainingClass, Lesson]:
    cls = TrainingClass(institution_id=inst.id, name=name, course_type="SYB", delivery_mode="live", profile="baotou",
                        district_code=inst.region_code, status="in_progress", created_by=creator.id)
    s.add(cls)
    s.flush()
    lesson = Lesson(class_id=cls.id, title="第一课 创业意识", starts_at=start, ends_at=start + timedelta(minutes=90),
                    mode="live", class_hours=2)
    s.add(lesson)
    s.flush()
    return cls, lesson


@pytest.fixture
def rw(svc, client):
    """Two institutions of one district (Baotou: replay counts as study), a class each with a finished
    live lesson; class A's is recorded. Users of every kind, logged in."""
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    with svc.db.session() as s:
        admin = _user(s, "admin", "platform_admin")
        a = Institution(name="甲培训学校", code="JIA", region_code="150202", profile="baotou", status="approved")
        b = Institution(name="乙培训学校", code="YI", region_code="150202", profile="baotou", status="approved")
        s.add_all([a, b])
        s.flush()
        users = {"admin": admin, "a_admin": _user(s, "a_admin", "institution_admin", institution_id=a.id),
                 "lect": _user(s, "lect", "lecturer", institution_id=a.id, name="王老师"),
                 "b_admin": _user(s, "b_admin", "institution_admin", institution_id=b.id),
                 "s1": _user(s, "s1", "student", name="张三"), "s2": _user(s, "s2", "student", name="李四"),
                 "sup_in": _user(s, "sup_in", "supervisor", region_level="district", region_code="150202"),
                 "sup_out": _user(s, "sup_out", "supervisor", region_level="district", region_code="150203")}
        cls_a, lesson_a = _class(s, a, admin, "SYB 第1期", start)
        cls_b, lesson_b = _class(s, b, admin, "SYB 第2期", start)
        for uid, cls in ((users["s1"].id, cls_a), (users["s2"].id, cls_b)):
            s.add(Enrolment(class_id=cls.id, student_user_id=uid, status="enrolled", year=2026, course_type="SYB"))
        ids = {k: u.id for k, u in users.items()}
        out = {"lesson": lesson_a.id, "other_lesson": lesson_b.id, "class": cls_a.id, "ids": ids, "start": start}
    out["tokens"] = {k: ok(client.post("/api/auth/login", json={"username": k, "password": PASSWORD}))["token"]
                     for k in ids}
    ledger = Ledger.from_settings(svc.settings, svc.db, clock=svc.clock)
    out["segments"] = record(ledger, out["lesson"], start + timedelta(minutes=1))
    seg = {m["seq"]: m for m in out["segments"]}
    at = lambda seq, s_: datetime.fromtimestamp(seg[seq]["start_ms"] / 1000 + s_, timezone.utc)  # noqa: E731
    with svc.db.session() as s:
        def say(kind, who, role, when, **payload):
            return eventlog.append(s, out["lesson"], kind, user_id=ids[who], role=role, node_id="t", at=when,
                                   payload=payload).id
        out["chat"] = say("chat", "lect", "lecturer", at(1, 1.0), text="大家好")
        say("chat", "sup_in", "spectator", at(1, 2.0), text="督导旁听")
        out["question"] = say("question", "s1", "student", at(2, 2.0), text="营业执照怎么办？")
        out["answer"] = say("answer", "lect", "lecturer", at(2, 4.3), question_id=out["question"], text="去政务中心")
    return out


def h(rw, who: str) -> dict:
    return auth(rw["tokens"][who])


# --------------------------------------------------------------------------- the timeline

def test_timeline_segments_add_up_and_chat_sits_on_it(client, rw):
    body = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "s1")))
    segs, made = body["segments"], rw["segments"]
    assert [s["seq"] for s in segs] == [1, 2, 3]
    assert [s["duration_s"] for s in segs] == [m["duration_s"] for m in made]
    assert segs[0]["offset_s"] == 0
    for prev, seg in zip(segs, segs[1:]):  # end to end: the gaps between segments are not played
        assert seg["offset_s"] == pytest.approx(prev["offset_s"] + prev["duration_s"], abs=0.002)
    assert body["duration_s"] == pytest.approx(sum(m["duration_s"] for m in made), abs=0.005)
    assert [s["sources"] for s in segs] == [["camera", "mic"], ["camera", "mic", "screen"], ["camera", "mic", "screen"]]
    assert segs[0]["screen"] is None and segs[1]["screen"]["content_type"] == "video/webm"
    assert segs[0]["main"]["url"].startswith(f"/api/lessons/{rw['lesson']}/replay/1/main?t=")
    msgs = body["messages"]  # the hidden supervisor's message is not shown to a student (SUP-4)
    assert [(m["kind"], m["display_name"]) for m in msgs] == [("chat", "王老师"), ("question", "张三"), ("answer", "王老师")]
    assert msgs[0]["position_s"] == pytest.approx(1.0, abs=0.01)
    assert msgs[1]["position_s"] == pytest.approx(segs[1]["offset_s"] + 2.0, abs=0.01)
    assert msgs[2]["question_id"] == rw["question"] and msgs[2]["text"] == "去政务中心"
    # said in the gap after segment 2 (not recorded): placed where the replay resumes
    assert msgs[2]["position_s"] == pytest.approx(segs[2]["offset_s"], abs=0.01)
    assert body["progress"]["report"] and body["replay_counts_as_study"] and body["watched_seconds"] == 0
    staff = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "lect")))
    assert [m["role"] for m in staff["messages"]] == ["lecturer", "spectator", "student", "lecturer"]
    assert not staff["progress"]["report"] and "watched_seconds" not in staff


def test_per_source_files_are_remuxed_packet_for_packet(client, rw, svc):
    body = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "s1")))
    seg2, source = body["segments"][1], rw["segments"][1]["path"]
    main = client.get(seg2["main"]["url"])  # the ticket alone: <video> sends no Authorization header
    screen = client.get(seg2["screen"]["url"])
    assert main.status_code == 200 and main.headers["content-type"] == "video/webm"
    assert main.headers["accept-ranges"] == "bytes" and int(main.headers["content-length"]) == len(main.content)
    tmp = Path(svc.settings.data_dir)
    (tmp / "main.webm").write_bytes(main.content)
    (tmp / "screen.webm").write_bytes(screen.content)
    info = probe(tmp / "main.webm")
    assert [(s["codec_name"], s["tags"]["title"]) for s in info["streams"]] == [("vp8", "camera"), ("opus", "mic")]
    assert [int(s["nb_read_frames"]) for s in info["streams"]] == [60, 200]
    assert info["format"]["format_name"].startswith("matroska,webm")
    assert [(s["codec_name"], int(s["nb_read_frames"])) for s in probe(tmp / "screen.webm")["streams"]] == [("vp8", 60)]
    # no decoding: every packet is the recorded one, byte for byte
    assert packets(tmp / "main.webm", "camera") == packets(source, "camera")
    assert packets(tmp / "main.webm", "mic") == packets(source, "mic")
    assert packets(tmp / "screen.webm", "screen") == packets(source, "screen")
    # cached by the segment's hash in the signed manifest
    sha = json.loads((tmp / "recordings" / str(rw["lesson"]) / "manifest.json").read_text())["segments"][1]["sha256"]
    cached = sorted(p.name for p in (tmp / "cache" / "replay" / str(rw["lesson"])).glob("seg-*[!k]"))
    assert cached == [f"seg-00002-{sha[:16]}-main.webm", f"seg-00002-{sha[:16]}-screen.webm"]
    assert client.get(seg2["main"]["url"]).content == main.content  # served again from the cache
    assert client.get(body["segments"][0]["main"]["url"].replace("/main?", "/screen?")).status_code == 404


def test_range_requests(client, rw):
    url = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "s1")))["segments"][0]["main"]["url"]
    whole = client.get(url).content
    size = len(whole)
    part = client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == whole[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{size}" and part.headers["content-length"] == "1000"
    tail = client.get(url, headers={"Range": "bytes=-64"})
    assert tail.status_code == 206 and tail.content == whole[-64:]
    rest = client.get(url, headers={"Range": f"bytes={size - 10}-"})
    assert rest.status_code == 206 and rest.content == whole[-10:]
    for bad in (f"bytes={size}-", "bytes=500-100", "bytes=x-1"):
        r = client.get(url, headers={"Range": bad})
        assert r.status_code == 416, bad
        assert r.headers["content-range"] == f"bytes */{size}"
        assert r.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE" and r.json()["error"]["field"] == "Range"
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(size) and head.content == b""


# --------------------------------------------------------------------------- access

def test_access_follows_the_class(client, rw, svc):
    lesson, path = rw["lesson"], f"/api/lessons/{rw['lesson']}/replay"
    for who in ("s1", "lect", "a_admin", "sup_in", "admin"):
        assert client.get(path, headers=h(rw, who)).status_code == 200, who
    r = client.get(path, headers=h(rw, "s2"))  # another class's student
    assert r.status_code == 403 and r.json()["error"]["code"] == "NOT_ON_ROSTER" and r.json()["error"]["rule"] == "CLS-8"
    for who in ("b_admin", "sup_out"):  # another institution, another district: not there at all
        r = client.get(path, headers=h(rw, who))
        assert r.status_code == 404 and r.json()["error"]["code"] == "NO_RECORDING", who
    assert client.get(path).status_code == 401
    r = client.get(f"/api/lessons/{rw['other_lesson']}/replay", headers=h(rw, "s2"))  # never recorded
    assert r.status_code == 404 and r.json()["error"]["message_en"]
    assert client.get("/api/lessons/999999/replay", headers=h(rw, "admin")).status_code == 404
    with svc.db.session() as s:  # SUP-6: the supervisor's look is in the audit log
        reads = s.scalars(select(AuditLog).where(AuditLog.action == "supervisor.read",
                                                 AuditLog.actor_user_id == rw["ids"]["sup_in"])).all()
        assert any(a.target_id == path for a in reads)
    # media URLs: the ticket is bound to the user and lesson and re-checked; a forged one is refused
    url = ok(client.get(path, headers=h(rw, "s1")))["segments"][0]["main"]["url"]
    assert client.get(url.split("?")[0]).status_code == 401
    forged = re.sub(r"t=(\d+)\.", f"t={rw['ids']['s2']}.", url)
    assert client.get(forged).status_code == 401
    assert client.get(url.replace(f"/lessons/{lesson}/", f"/lessons/{rw['other_lesson']}/")).status_code == 401
    with svc.db.session() as s:
        s.scalars(select(Enrolment).where(Enrolment.student_user_id == rw["ids"]["s1"])).one().status = "withdrawn"
    assert client.get(url).status_code == 403  # left the class: the ticket no longer opens anything
    assert client.get(f"/api/me/replays", headers=h(rw, "s1")).json()["items"] == []


def test_me_replays_lists_finished_recorded_lessons(client, rw):
    items = ok(client.get("/api/me/replays", headers=h(rw, "s1")))["items"]
    assert [(i["lesson_id"], i["url"]) for i in items] == [(rw["lesson"], f"/replay?lesson={rw['lesson']}")]
    assert ok(client.get("/api/me/replays", headers=h(rw, "s2")))["items"] == []
    assert client.get("/api/me/replays", headers=h(rw, "lect")).status_code == 403


# --------------------------------------------------------------------------- progress

def test_progress_is_validated_and_logged_as_replay_progress(client, rw, svc):
    path = f"/api/lessons/{rw['lesson']}/replay/progress"
    total = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "s1")))["duration_s"]
    r = ok(client.post(path, headers=h(rw, "s1"), json={"ranges": [[0, 3.5], [2, 6]], "reason": "pause",
                                                         "session_id": "tab1"}))
    assert r["ranges"] == [[0, 3.5], [2, 6]] and r["watched_seconds"] == 6 and r["length_s"] == pytest.approx(total)
    r = ok(client.post(path, headers=h(rw, "s1"), json={"ranges": [[8, total + 0.4]]}))  # a frame past the end: clipped
    assert r["ranges"] == [[8, total]] and r["watched_seconds"] == pytest.approx(6 + total - 8, abs=0.01)
    with svc.db.session() as s:
        evs = eventlog.events(s, rw["lesson"], kinds=["replay_progress"], limit=None)
        assert [(e.user_id, e.role, e.payload["ranges"]) for e in evs] == [
            (rw["ids"]["s1"], "student", [[0, 3.5], [2, 6]]), (rw["ids"]["s1"], "student", [[8, total]])]
        assert evs[0].payload["reason"] == "pause" and evs[0].session_id == "tab1"
    cases = [([[3, 3]], "ranges.0"), ([[4, 2]], "ranges.0"), ([[-1, 2]], "ranges.0.0"), ([[0, total + 5]], "ranges.0.1"),
             ([[total + 0.5, total + 0.9]], "ranges.0.0"), ([[0, "9"]], "ranges.0.1"), ([[0, 1], [1]], "ranges.1"),
             ([[True, 2]], "ranges.0.0"), ([], "ranges"), ([[0, 1]] * 51, "ranges"), ("0-5", "ranges")]
    for ranges, where in cases:
        r = client.post(path, headers=h(rw, "s1"), json={"ranges": ranges})
        assert r.status_code == 422, (ranges, r.text)
        err = r.json()["error"]
        assert err["field"] == where and err["message_zh"] and err["message_en"], (ranges, err)
    r = client.post(path, headers={**h(rw, "s1"), "Content-Type": "application/json"},
                    content=b'{"ranges": [[0, NaN]]}')  # Python's parser takes NaN: refused as not finite
    assert r.status_code == 422 and r.json()["error"]["field"] == "ranges.0.1"
    assert client.post(path, headers=h(rw, "s2"), json={"ranges": [[0, 1]]}).status_code == 403
    assert client.post(path, headers=h(rw, "lect"), json={"ranges": [[0, 1]]}).status_code == 403
    with svc.db.session() as s:  # refused calls left nothing in the log
        assert len(s.scalars(select(LessonEvent).where(LessonEvent.kind == "replay_progress")).all()) == 2


def test_make_up_is_read_from_the_replay_progress_events(client, rw, svc):
    """The logged events feed server/attendance/absences.py as they are (its rules unchanged): the
    union of the ranges — here the whole recording — is make-up study in Baotou, where replay counts."""
    from server.attendance.absences import AbsenceRules, LessonFacts, judge
    total = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "s1")))["duration_s"]
    for ranges in ([[0, 5]], [[4, total]]):
        ok(client.post(f"/api/lessons/{rw['lesson']}/replay/progress", headers=h(rw, "s1"), json={"ranges": ranges}))
    s1, start = rw["ids"]["s1"], rw["start"]
    with svc.db.session() as s:
        watched = [r for e in eventlog.events(s, rw["lesson"], kinds=["replay_progress"], limit=None)
                   if e.user_id == s1 for r in e.payload["ranges"]]
    facts = LessonFacts(rw["lesson"], start, start + timedelta(minutes=90), 2, live=timedelta(minutes=90), replay={s1: watched})
    mark = judge([facts], [s1], [], now=start + timedelta(days=1),
                 rules=AbsenceRules.from_profile(svc.profiles["baotou"], "SYB"))[s1].marks[0]
    assert mark.status == "absent" and mark.replay_watched == pytest.approx(total) and mark.makeup == pytest.approx(total)


# --------------------------------------------------------------------------- one file

def test_download_is_one_file_that_plays_through(client, rw, svc):
    body = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "sup_in")))
    r = client.get(f"/api/lessons/{rw['lesson']}/recording/download", headers=h(rw, "sup_in"))
    assert r.status_code == 200 and r.headers["content-type"] == "video/webm"
    cd = r.headers["content-disposition"]
    assert cd.startswith('attachment; filename="') and ".webm" in cd
    utf8 = unquote(cd.split("filename*=UTF-8''")[1])
    assert utf8 == f"SYB 第1期-第一课 创业意识-{rw['start'].astimezone(timezone(timedelta(hours=8))).date()}.webm"
    f = Path(svc.settings.data_dir) / "lesson.webm"
    f.write_bytes(r.content)
    info = probe(f)
    made = rw["segments"]
    assert float(info["format"]["duration"]) == pytest.approx(sum(m["duration_s"] for m in made), abs=0.5)
    frames = {s["tags"]["title"]: int(s["nb_read_frames"]) for s in info["streams"]}
    assert frames == {src: sum(m["frames"][src] for m in made) for src in ("camera", "mic", "screen")}
    camera = packets(f, "camera")
    assert camera == [p for m in made for p in packets(m["path"], "camera")]  # copied, in order
    with av.open(str(f)) as c:  # continuous: timestamps rise across the joins, within a frame or two
        pts = [float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.size]
    steps = [b - a for a, b in zip(pts, pts[1:])]
    assert min(steps) > 0 and max(steps) < 0.2 and pts[-1] == pytest.approx(body["duration_s"], abs=0.3)
    part = client.get(body["download"]["url"], headers={"Range": "bytes=0-15"})  # the ticket link, resumable
    assert part.status_code == 206 and part.content == r.content[:16]
    with svc.db.session() as s:
        logged = s.scalars(select(AuditLog).where(AuditLog.action == "recording.download")).all()
        assert [(a.actor_user_id, a.detail["range"]) for a in logged] == [(rw["ids"]["sup_in"], None),
                                                                          (rw["ids"]["sup_in"], "bytes=0-15")]
    assert client.get(f"/api/lessons/{rw['lesson']}/recording/download", headers=h(rw, "b_admin")).status_code == 404
    assert client.get(f"/api/lessons/{rw['other_lesson']}/recording/download",
                      headers=h(rw, "admin")).status_code == 404


# --------------------------------------------------------------------------- tampering

def test_an_altered_segment_is_not_played_and_a_bad_manifest_plays_nothing(client, rw, svc):
    folder = Path(svc.settings.recordings_root) / str(rw["lesson"])
    seg1 = folder / "seg-00001.mkv"
    data = bytearray(seg1.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the hash shows it
    seg1.write_bytes(bytes(data))
    body = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "s1")))
    r = client.get(body["segments"][0]["main"]["url"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "SEGMENT_UNAVAILABLE" and r.json()["error"]["rule"] == "REC-1"
    assert client.get(body["segments"][1]["main"]["url"]).status_code == 200
    (folder / "seg-00002.mkv").unlink()  # a missing segment leaves the timeline; the others close up
    body = ok(client.get(f"/api/lessons/{rw['lesson']}/replay", headers=h(rw, "s1")))
    assert [s["seq"] for s in body["segments"]] == [1, 3] and body["recording"]["unplayable"] == [2]
    assert body["segments"][1]["offset_s"] == body["segments"][0]["duration_s"]
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["segments"][2]["duration_s"] = 1.0
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for url in (f"/api/lessons/{rw['lesson']}/replay", f"/api/lessons/{rw['lesson']}/recording/download"):
        r = client.get(url, headers=h(rw, "s1"))
        assert r.status_code == 409 and r.json()["error"]["code"] == "RECORDING_UNVERIFIED", url
    r = client.post(f"/api/lessons/{rw['lesson']}/replay/progress", headers=h(rw, "s1"), json={"ranges": [[0, 1]]})
    assert r.status_code == 409


def test_a_repaired_segment_without_meta_is_probed_from_its_file(client, rw, svc):
    """A segment repaired after a crash reaches the ledger with only its seq (recorder/lessonrecording.py
    ``recover``): its sources and length are read from the file's header, once."""
    ledger = Ledger.from_settings(svc.settings, svc.db, clock=svc.clock)
    lesson = rw["other_lesson"]  # class B's: s2 is on its roster
    made = record(ledger, lesson, rw["start"] + timedelta(minutes=1), plan=[(3.0, False)], finish=False)
    w = write_segment(ledger.lesson_dir(lesson), 2, made[0]["start_ms"] + 5000, 2.0, True)
    ledger.segment_closed(lesson, w.path, {"seq": 2, "recovered": True})
    body = ok(client.get(f"/api/lessons/{lesson}/replay", headers=h(rw, "s2")))
    seg1, seg2 = body["segments"]
    assert seg2["sources"] == ["camera", "mic", "screen"] and seg2["offset_s"] == seg1["duration_s"]
    assert seg2["duration_s"] == pytest.approx(2.0, abs=0.1)
    # its start is not known: taken as where the segment before ended (chat in the lost seconds sits there)
    assert datetime.fromisoformat(seg2["started_at"]) == pytest.approx(
        datetime.fromisoformat(seg1["started_at"]) + timedelta(seconds=seg1["duration_s"]), abs=timedelta(milliseconds=2))
    main = client.get(seg2["main"]["url"])
    assert main.status_code == 200 and main.headers["content-type"] == "video/webm"
    assert client.get(seg2["screen"]["url"]).status_code == 200
    probed = list((Path(svc.settings.data_dir) / "cache" / "replay" / str(lesson)).glob("seg-00002.mkv.*.json"))
    assert len(probed) == 1 and json.loads(probed[0].read_text())["tracks"][2]["source"] == "screen"


def test_media_helpers():
    from server.replaymedia import attachment, container_for
    assert container_for(["vp8", "opus"]) == ("webm", "video/webm", "webm")
    assert container_for(["h264", "opus"]) == ("matroska", "video/x-matroska", "mkv")  # H.264 is not WebM
    cd = attachment("SYB 第1期-第一课.webm")
    assert cd == ("attachment; filename=\"SYB_1_-.webm\"; "
                  "filename*=UTF-8''SYB%20%E7%AC%AC1%E6%9C%9F-%E7%AC%AC%E4%B8%80%E8%AF%BE.webm")
