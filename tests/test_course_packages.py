"""Recorded course packages (COURSE-1/2/3) and their place in class planning (CLS-4, CLS-6), on SQLite and
PostgreSQL. Videos are made here with PyAV: 16×16 pixels, one frame every 30 s, so 45 minutes of play
is a few kilobytes and the duration the server reads from the file is exact.
"""
from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from models import Base
from models.coursepackages import CourseResource
from models.db import alembic_config
from server.services import CHINA_TZ
from tests.world import err, ok

MONDAY = datetime(2025, 9, 22, 2, 0, tzinfo=timezone.utc)
START = date(2025, 10, 13)
PDF = b"%PDF-1.4\n% copyright licence\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
INTRO = {"name": "创业基础录播课", "total_hours": 2, "audience": "登记失业人员、高校毕业生",
         "content": "创业意识、市场评估、企业组织", "objectives": "掌握创业基本知识，完成创业计划书"}

_VIDEOS: dict[int, bytes] = {}


def webm(minutes: int) -> bytes:
    """A real WebM of exactly ``minutes`` of play (a frame every 30 s), cached per length."""
    if minutes not in _VIDEOS:
        import av
        buf, fps = io.BytesIO(), Fraction(1, 30)
        with av.open(buf, "w", format="webm") as container:
            stream = container.add_stream("libvpx", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
            for i in range(minutes * 2):
                frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), (i * 7) % 255, np.uint8), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        _VIDEOS[minutes] = buf.getvalue()
    return _VIDEOS[minutes]


def codes(resp) -> set[str]:
    e = resp.json()["error"]
    return {d["code"] for d in e.get("details") or [] if isinstance(d, dict) and "code" in d} | {e["code"]}


@pytest.fixture
def bj(clock, client, svc):
    """Beijing: institutions in Chaoyang and Haidian, their district supervisors, Hohhot's alpha."""
    from tests.world import World
    clock.set(MONDAY)
    w = World(client, svc)
    w.bootstrap_admin()
    w.institution("cy", region="110105", profile="beijing")
    w.institution("hd", region="110108", profile="beijing")
    w.institution("alpha")
    w.supervisor("chaoyang", "district", "110105")
    w.supervisor("haidian", "district", "110108")
    return w


def create(w, who="cy_admin", **changes):
    return w.client.post("/api/course-packages", headers=w.h(who), json={**INTRO, **changes})


def chapter(w, pid, title="第一章 创业意识", who="cy_admin") -> int:
    return ok(w.client.post(f"/api/course-packages/{pid}/chapters", headers=w.h(who), json={"title": title}),
              201)["chapters"][-1]["id"]


def upload(w, pid, cid, minutes, title="第1讲", who="cy_admin", data=None, ctype="video/webm"):
    return w.client.post(f"/api/course-packages/{pid}/chapters/{cid}/resources", params={"title": title},
                         content=webm(minutes) if data is None else data, headers={**w.h(who), "Content-Type": ctype})


def licence(w, pid, rid, who="cy_admin", **changes):
    body = {"holder": "朝阳培训学校", "licence_type": "own_copyright", "valid_until": None, **changes}
    return w.client.put(f"/api/course-packages/{pid}/resources/{rid}/licence", headers=w.h(who), json=body)


def published(w, minutes: list[int], who="cy_admin", **intro) -> dict:
    """A package of one chapter whose videos play ``minutes``, each licensed, published."""
    total = sum(minutes) // 45
    pid = ok(create(w, who, **{"total_hours": total, **intro}), 201)["id"]
    cid = chapter(w, pid, who=who)
    for i, m in enumerate(minutes):
        rid = ok(upload(w, pid, cid, m, title=f"第{i + 1}讲", who=who), 201)["id"]
        ok(licence(w, pid, rid, who=who))
    return ok(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h(who)))


# --------------------------------------------------------------------------- COURSE-2 introduction

def test_course2_every_introduction_field_is_required_and_named(bj):
    w = bj
    for name in INTRO:
        e = err(create(w, **{name: None}), 422)
        assert (e["code"], e["field"], e["rule"]) == ("INTRO_FIELD_MISSING", name, "COURSE-2")
        assert name in e["message_en"] and name in e["message_zh"]
    e = err(create(w, content="   "), 422)
    assert (e["code"], e["field"]) == ("INTRO_FIELD_MISSING", "content")
    e = err(create(w, audience=None, objectives=""), 422)
    assert e["code"] == "RULES_NOT_MET" and [d["field"] for d in e["details"]] == ["audience", "objectives"]
    e = err(w.client.post("/api/course-packages", headers=w.h("cy_admin"), json={"name": "只有名称"}), 422)
    assert [d["field"] for d in e["details"]] == ["total_hours", "audience", "content", "objectives"]
    assert err(create(w, total_hours=0), 422)["field"] == "total_hours"  # a class-hour count is ≥ 1

    pkg = ok(create(w), 201)
    assert (pkg["status"], pkg["profile"], pkg["shared"], pkg["class_hour_minutes"]) == ("draft", "beijing", False, 45)
    e = err(w.client.patch(f"/api/course-packages/{pkg['id']}", headers=w.h("cy_admin"), json={"objectives": " "}), 422)
    assert (e["code"], e["field"]) == ("INTRO_FIELD_MISSING", "objectives")
    patched = ok(w.client.patch(f"/api/course-packages/{pkg['id']}", headers=w.h("cy_admin"),
                                json={"name": "创业基础（录播）"}))
    assert patched["name"] == "创业基础（录播）" and patched["audience"] == INTRO["audience"]
    # a shared package (platform admin) names the profile whose class-hour it counts in
    e = err(create(w, "admin"), 422)
    assert (e["code"], e["field"]) == ("PROFILE_REQUIRED", "profile")
    assert err(create(w, "admin", profile="atlantis"), 422)["code"] == "UNKNOWN_PROFILE"
    shared = ok(create(w, "admin", profile="beijing"), 201)
    assert shared["shared"] and shared["institution_id"] is None
    # only admins author packages
    w.lecturer("cy", "cy_lect")
    w.tokens["cy_lect"] = w.login("cy_lect")
    assert create(w, "cy_lect").status_code == 403
    assert create(w, "chaoyang").status_code == 403


# --------------------------------------------------------------------------- COURSE-1 play time and class-hours

def test_course1_play_time_is_read_from_the_files_and_counts_class_hours(bj, svc):
    w = bj
    pid = ok(create(w, total_hours=3), 201)["id"]
    assert {"CATALOGUE_EMPTY", "PLAY_TIME_TOO_SHORT"} <= codes(w.client.post(
        f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")))
    c1 = chapter(w, pid)
    c2 = chapter(w, pid, "第二章 市场评估")
    r1 = ok(upload(w, pid, c1, 50), 201)
    assert r1["duration_seconds"] == pytest.approx(50 * 60, abs=1) and r1["codec"] == "vp8"
    assert r1["proof"] == "missing" and r1["position"] == 1
    assert "CHAPTER_EMPTY" in codes(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")))
    r2 = ok(upload(w, pid, c2, 45, title="第2讲"), 201)
    for r in (r1, r2):
        ok(licence(w, pid, r["id"]))
    checks = ok(w.client.get(f"/api/course-packages/{pid}/checks", headers=w.h("cy_admin")))
    assert checks["play_seconds"] == pytest.approx(95 * 60, abs=1) and checks["class_hours"] == 2  # floor(95 / 45)
    # the declared total must equal the computed class-hours; the error carries both and the minutes
    e = err(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")), 422)
    (mismatch,) = e["details"]
    assert (mismatch["code"], mismatch["rule"]) == ("TOTAL_HOURS_MISMATCH", "COURSE-1")
    assert mismatch["field"] == "total_hours"
    assert (mismatch["details"]["declared"], mismatch["details"]["computed"]) == (3, 2)
    assert "95.0" in mismatch["message_en"] and "95.0" in mismatch["message_zh"]
    ok(w.client.patch(f"/api/course-packages/{pid}", headers=w.h("cy_admin"), json={"total_hours": 2}))
    pkg = ok(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")))
    assert (pkg["status"], pkg["class_hours"]) == ("published", 2)
    assert pkg["play_seconds"] == pytest.approx(95 * 60, abs=1)
    assert [c["title"] for c in pkg["chapters"]] == ["第一章 创业意识", "第二章 市场评估"]
    assert [[r["title"] for r in c["resources"]] for c in pkg["chapters"]] == [["第1讲"], ["第2讲"]]
    # published packages are frozen: no new chapters, resources or introduction edits
    for resp in (w.client.post(f"/api/course-packages/{pid}/chapters", headers=w.h("cy_admin"), json={"title": "x"}),
                 upload(w, pid, c1, 45),
                 w.client.patch(f"/api/course-packages/{pid}", headers=w.h("cy_admin"), json={"name": "新名称"}),
                 w.client.delete(f"/api/course-packages/{pid}/resources/{r1['id']}", headers=w.h("cy_admin")),
                 w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin"))):
        assert err(resp, 409)["code"] == "PACKAGE_NOT_DRAFT"
    audit = ok(w.client.get("/api/audit?target_type=course_package", headers=w.h("admin")))["items"]
    assert {"course_package.create", "course_package.resource", "course_package.licence",
            "course_package.publish"} <= {a["action"] for a in audit}
    retired = ok(w.client.post(f"/api/course-packages/{pid}/retire", headers=w.h("cy_admin")))
    assert retired["status"] == "retired"
    assert err(w.client.post(f"/api/course-packages/{pid}/retire", headers=w.h("cy_admin")), 409)["code"] == \
        "PACKAGE_NOT_PUBLISHED"


def test_course1_under_45_minutes_of_play_is_refused_with_the_measured_figure(bj):
    w = bj
    pid = ok(create(w, total_hours=1), 201)["id"]
    cid = chapter(w, pid)
    rid = ok(upload(w, pid, cid, 44), 201)["id"]
    ok(licence(w, pid, rid))
    e = err(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")), 422)
    short = next(d for d in e["details"] if d["code"] == "PLAY_TIME_TOO_SHORT")
    assert short["rule"] == "COURSE-1" and short["details"] == {"play_minutes": 44.0, "required_minutes": 45}
    assert "44.0" in short["message_zh"] and "44.0" in short["message_en"]
    # removing and replacing the resource with 45 minutes makes it publishable
    ok(w.client.delete(f"/api/course-packages/{pid}/resources/{rid}", headers=w.h("cy_admin")))
    rid = ok(upload(w, pid, cid, 45), 201)["id"]
    ok(licence(w, pid, rid))
    assert ok(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")))["class_hours"] == 1


def test_course1_uploads_must_be_real_videos(bj):
    w = bj
    pid = ok(create(w), 201)["id"]
    cid = chapter(w, pid)
    assert err(upload(w, pid, cid, 45, data=PDF, ctype="application/pdf"), 415)["code"] == "VIDEO_TYPE"
    assert err(upload(w, pid, cid, 45, data=b"not a video at all", ctype="video/webm"), 415)["code"] == \
        "VIDEO_TYPE_MISMATCH"
    assert err(upload(w, pid, cid, 45, data=b""), 422)["code"] == "VIDEO_EMPTY"
    broken = webm(45)[:60]  # a WebM header and nothing playable
    assert err(upload(w, pid, cid, 45, data=broken), 422)["code"] == "VIDEO_UNREADABLE"
    assert upload(w, pid, 999999, 45).status_code == 404
    assert w.client.post(f"/api/course-packages/{pid}/chapters/{cid}/resources", content=webm(45),
                         headers={**w.h("cy_admin"), "Content-Type": "video/webm"}).status_code == 422  # no title
    assert ok(w.client.get(f"/api/course-packages/{pid}", headers=w.h("cy_admin")))["chapters"][0]["resources"] == []


# --------------------------------------------------------------------------- COURSE-3 copyright / licence proof

def test_course3_a_resource_without_proof_blocks_publishing(bj, svc):
    w = bj
    pid = ok(create(w, total_hours=2), 201)["id"]
    cid = chapter(w, pid)
    a = ok(upload(w, pid, cid, 45, title="自有课件"), 201)["id"]
    b = ok(upload(w, pid, cid, 45, title="外购课件"), 201)["id"]
    c = ok(upload(w, pid, cid, 10, title="授权短片"), 201)["id"]
    e = err(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")), 422)
    missing = [d for d in e["details"] if d["code"] == "RESOURCE_PROOF_MISSING"]
    assert [d["details"]["resource_id"] for d in missing] == [a, b, c] and missing[0]["rule"] == "COURSE-3"
    assert "外购课件" in missing[1]["message_zh"]
    # a proof document: PDF, JPEG or PNG, its content checked
    url = f"/api/course-packages/{pid}/resources/{a}/proof"
    assert err(w.client.put(url, content=b"plain", headers={**w.h("cy_admin"), "Content-Type": "text/plain"}), 415)[
        "code"] == "PROOF_TYPE"
    assert err(w.client.put(url, content=b"GIF89a", headers={**w.h("cy_admin"), "Content-Type": "application/pdf"}),
               415)["code"] == "PROOF_TYPE_MISMATCH"
    assert err(w.client.put(url, content=b"", headers={**w.h("cy_admin"), "Content-Type": "application/pdf"}),
               422)["code"] == "PROOF_EMPTY"
    proof = ok(w.client.put(url, content=PDF, headers={**w.h("cy_admin"), "Content-Type": "application/pdf"}))
    assert proof["proof"] == "file" and proof["proof_file_id"]
    with svc.db.session() as s:  # kept encrypted like every upload (PLAT-3)
        from models import StoredFile
        row = s.get(StoredFile, proof["proof_file_id"])
        assert row.kind == "copyright_proof" and svc.files.read(row) == PDF
    # a licence record: holder, type, valid until (an end in the past is refused)
    e = err(licence(w, pid, b, holder="某某出版社", licence_type="authorised", valid_until="2025-01-01"), 422)
    assert (e["code"], e["field"], e["rule"]) == ("LICENCE_EXPIRED", "valid_until", "COURSE-3")
    assert licence(w, pid, b, licence_type="stolen").status_code == 422
    assert licence(w, pid, b, holder="").status_code == 422
    lic = ok(licence(w, pid, b, holder="某某出版社", licence_type="authorised", valid_until="2027-12-31"))
    assert lic["proof"] == "licence" and lic["licence"] == {"holder": "某某出版社", "licence_type": "authorised",
                                                           "valid_until": "2027-12-31"}
    ok(licence(w, pid, c, holder="素材网", licence_type="cc_by", valid_until="2026-06-30"))
    with svc.db.session() as s:  # the licence runs out before publishing
        s.get(CourseResource, c).licence_valid_until = date(2025, 9, 1)
    e = err(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")), 422)
    assert [d["code"] for d in e["details"]] == ["RESOURCE_LICENCE_EXPIRED"]
    assert e["details"][0]["details"] == {"resource_id": c, "valid_until": "2025-09-01"}
    ok(licence(w, pid, c, holder="素材网", licence_type="cc_by", valid_until="2026-06-30"))
    pkg = ok(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("cy_admin")))
    assert pkg["class_hours"] == 2 and {r["proof"] for r in pkg["chapters"][0]["resources"]} == {"file", "licence"}
    # another institution cannot touch it (not even see it)
    assert licence(w, pid, c, who="hd_admin").status_code == 404


# --------------------------------------------------------------------------- SUP-3 reading, tenancy, shared packages

def test_sup3_region_supervisors_read_packages_and_tenancy_holds(bj):
    w = bj
    mine = published(w, [45])
    draft = ok(create(w), 201)["id"]
    rid = mine["chapters"][0]["resources"][0]["id"]
    listed = {p["id"] for p in ok(w.client.get("/api/course-packages", headers=w.h("chaoyang")))["items"]}
    assert {mine["id"], draft} <= listed
    detail = ok(w.client.get(f"/api/course-packages/{mine['id']}", headers=w.h("chaoyang")))
    assert detail["chapters"][0]["resources"][0]["proof"] == "licence"
    video = w.client.get(f"/api/course-packages/{mine['id']}/resources/{rid}/video", headers=w.h("chaoyang"))
    assert video.status_code == 200 and video.content == webm(45)
    reads = ok(w.client.get("/api/audit?action=supervisor.read", headers=w.h("admin")))["items"]
    assert any(r["target_id"] == f"/api/course-packages/{mine['id']}" for r in reads)  # SUP-6
    # another region's supervisor and another institution see nothing of it
    for who in ("haidian", "hd_admin"):
        assert w.client.get(f"/api/course-packages/{mine['id']}", headers=w.h(who)).status_code == 404
        assert mine["id"] not in {p["id"] for p in ok(w.client.get("/api/course-packages", headers=w.h(who)))["items"]}
    # supervisors read, never write
    assert w.client.post(f"/api/course-packages/{draft}/chapters", headers=w.h("chaoyang"),
                         json={"title": "x"}).status_code == 403
    # a shared package: invisible while draft, everyone's once published; only platform admins edit it
    shared_draft = ok(create(w, "admin", profile="beijing"), 201)["id"]
    assert w.client.get(f"/api/course-packages/{shared_draft}", headers=w.h("cy_admin")).status_code == 404
    shared = published(w, [45], who="admin", profile="beijing")
    for who in ("cy_admin", "hd_admin", "haidian", "alpha_admin"):
        assert shared["id"] in {p["id"] for p in ok(w.client.get("/api/course-packages", headers=w.h(who)))["items"]}
    e = err(w.client.post(f"/api/course-packages/{shared['id']}/retire", headers=w.h("cy_admin")), 403)
    assert e["code"] == "NOT_PACKAGE_OWNER"
    status = ok(w.client.get("/api/course-packages?status=published", headers=w.h("admin")))["items"]
    assert {p["status"] for p in status} == {"published"} and len(status) == 2


# --------------------------------------------------------------------------- class planning (CLS-4, CLS-6)

def lesson(day: date, begin: time, hours: int | None, mode="live", package_id=None, minutes=None) -> dict:
    start = datetime.combine(day, begin, CHINA_TZ)
    out = {"title": f"{day} {begin}", "mode": mode, "starts_at": start.isoformat(),
           "ends_at": (start + timedelta(minutes=minutes or 45 * (hours or 8))).isoformat()}
    if hours is not None:
        out["class_hours"] = hours
    if package_id is not None:
        out["package_id"] = package_id
    return out


def live_days(n: int, hours: int = 8) -> list[dict]:
    return [lesson(START + timedelta(days=i), time(8, 30), hours) for i in range(n)]


def recorded_class(w, who="cy_admin") -> int:
    return ok(w.client.post("/api/classes", headers=w.h(who), json={
        "name": "创业基础 录播+直播", "course_type": "SYB", "delivery_mode": "recorded"}), 201)["id"]


def put_lessons(w, cid, lessons, who="cy_admin"):
    return w.client.put(f"/api/classes/{cid}/lessons", headers=w.h(who), json={"lessons": lessons})


def test_cls4_a_recorded_lesson_counts_its_package_hours(bj):
    w = bj
    pkg = published(w, [180, 180])  # 360 minutes → 8 class-hours
    assert pkg["class_hours"] == 8
    cid = recorded_class(w)
    day = START + timedelta(days=8)
    detail = ok(put_lessons(w, cid, live_days(7) + [lesson(day, time(8, 0), None, "recorded", pkg["id"])]))
    rec = next(l for l in detail["lessons"] if l["mode"] == "recorded")
    assert (rec["class_hours"], rec["package_id"]) == (8, pkg["id"])  # the hours come from the package
    assert detail["class_hours"] == 64
    assert all(l["package_id"] is None for l in detail["lessons"] if l["mode"] == "live")
    checks = ok(w.client.get(f"/api/classes/{cid}/checks", headers=w.h("cy_admin")))
    assert not {"RECORDED_SHARE_EXCEEDED", "PACKAGE_NOT_PUBLISHED", "PACKAGE_HOURS_EXCEEDED"} & \
        {v["code"] for v in checks["violations"]}
    # two lessons may split the package, within its hours
    split = [lesson(day, time(8, 0), 4, "recorded", pkg["id"]), lesson(day, time(14, 0), 4, "recorded", pkg["id"])]
    detail = ok(put_lessons(w, cid, live_days(7) + split))
    assert [l["package_id"] for l in detail["lessons"] if l["mode"] == "recorded"] == [pkg["id"]] * 2
    split[1]["class_hours"] = 5
    split[1]["ends_at"] = (datetime.fromisoformat(split[1]["starts_at"]) + timedelta(minutes=225)).isoformat()
    e = err(put_lessons(w, cid, live_days(7) + split), 422)
    assert (e["code"], e["rule"]) == ("PACKAGE_HOURS_EXCEEDED", "COURSE-1")
    assert e["details"] == {"package_id": pkg["id"], "planned": 9, "package_hours": 8}
    e = err(put_lessons(w, cid, live_days(7) + [lesson(day, time(8, 0), 9, "recorded", pkg["id"])]), 422)
    assert (e["code"], e["field"]) == ("PACKAGE_HOURS_EXCEEDED", "lessons.7.class_hours")
    # retiring the package after planning: the plan no longer passes its checks
    ok(put_lessons(w, cid, live_days(7) + [lesson(day, time(8, 0), None, "recorded", pkg["id"])]))
    ok(w.client.post(f"/api/course-packages/{pkg['id']}/retire", headers=w.h("cy_admin")))
    checks = ok(w.client.get(f"/api/classes/{cid}/checks", headers=w.h("cy_admin")))
    bad = [v for v in checks["violations"] if v["code"] == "PACKAGE_NOT_PUBLISHED"]
    assert len(bad) == 1 and bad[0]["rule"] == "COURSE-1"
    r = w.client.post(f"/api/classes/{cid}/transitions", headers=w.h("cy_admin"), json={"action": "submit"})
    assert "PACKAGE_NOT_PUBLISHED" in codes(r)
    e = err(put_lessons(w, cid, live_days(7) + [lesson(day, time(8, 0), None, "recorded", pkg["id"])]), 422)
    assert (e["code"], e["field"]) == ("PACKAGE_NOT_PUBLISHED", "lessons.7.package_id")
    # replacing the schedule drops the old links with the old lessons
    detail = ok(put_lessons(w, cid, live_days(7)))
    assert all(l["package_id"] is None for l in detail["lessons"])


def test_cls4_beijing_refuses_plans_over_half_recorded_with_the_numbers(bj):
    w = bj
    pkg = published(w, [180, 180])  # 8 class-hours
    cid = recorded_class(w)
    day = START + timedelta(days=8)
    half = live_days(1) + [lesson(day, time(8, 0), None, "recorded", pkg["id"])]  # 8 live + 8 recorded = 50 %
    ok(put_lessons(w, cid, half))
    over = [lesson(START, time(8, 30), 6)] + [lesson(day, time(8, 0), None, "recorded", pkg["id"])]  # 8 of 14
    e = err(put_lessons(w, cid, over), 422)
    assert (e["code"], e["rule"]) == ("RECORDED_SHARE_EXCEEDED", "CLS-4")
    assert e["details"] == {"recorded": 8, "total": 14, "max_share": 0.5}
    assert "8" in e["message_zh"] and "14" in e["message_zh"] and "57%" in e["message_en"]
    # package lessons and plain recorded lessons count together
    plain = [lesson(START + timedelta(days=9), time(8, 0), 1, "recorded")]
    e = err(put_lessons(w, cid, half + plain), 422)
    assert e["code"] == "RECORDED_SHARE_EXCEEDED" and e["details"]["recorded"] == 9
    # the submission check reports the same if a plan got there another way (e.g. a changed profile)
    from models import Lesson
    with w.svc.db.session() as s:
        live = s.query(Lesson).filter_by(class_id=cid, mode="live").one()
        live.mode = "recorded"
    checks = ok(w.client.get(f"/api/classes/{cid}/checks", headers=w.h("cy_admin")))
    share = next(v for v in checks["violations"] if v["code"] == "RECORDED_SHARE_EXCEEDED")
    assert share["details"]["recorded"] == 16 and share["details"]["total"] == 16


def test_cls6_package_lessons_refusals(bj):
    w = bj
    pkg = published(w, [45])
    cid = recorded_class(w)
    day = START + timedelta(days=8)
    base = live_days(7)

    def refused(extra, code, field, status=422):
        e = err(put_lessons(w, cid, base + [extra]), status)
        assert (e["code"], e["field"]) == (code, field), e
        return e

    e = refused(lesson(day, time(8, 0), 1, "live", pkg["id"]), "PACKAGE_NEEDS_RECORDED", "lessons.7.mode")
    assert e["rule"] == "CLS-6"
    draft = ok(create(w), 201)["id"]
    refused(lesson(day, time(8, 0), 1, "recorded", draft), "PACKAGE_NOT_PUBLISHED", "lessons.7.package_id")
    theirs = published(w, [45], who="hd_admin")
    refused(lesson(day, time(8, 0), 1, "recorded", theirs["id"]), "PACKAGE_NOT_FOUND", "lessons.7.package_id")
    refused(lesson(day, time(8, 0), 1, "recorded", 987654), "PACKAGE_NOT_FOUND", "lessons.7.package_id")
    refused(lesson(day, time(8, 0), None, "recorded"), "LESSON_HOURS_MISSING", "lessons.7.class_hours")
    # the lesson's window still has to hold its class-hours (CLS-4)
    refused(lesson(day, time(8, 0), None, "recorded", pkg["id"], minutes=30), "LESSON_TOO_SHORT", "lessons.7")
    # a shared package of the class's profile may be planned; one of another profile may not
    shared = published(w, [45], who="admin", profile="beijing")
    ok(put_lessons(w, cid, base + [lesson(day, time(8, 0), None, "recorded", shared["id"])]))
    hohhot = ok(w.client.post("/api/classes", headers=w.h("alpha_admin"), json={
        "name": "SYB 录播", "course_type": "SYB", "delivery_mode": "recorded"}), 201)["id"]
    e = err(put_lessons(w, hohhot, base + [lesson(day, time(8, 0), None, "recorded", shared["id"])], "alpha_admin"),
            422)
    assert (e["code"], e["field"]) == ("PACKAGE_PROFILE_MISMATCH", "lessons.7.package_id")


# --------------------------------------------------------------------------- schema

def test_migration_0014_matches_the_models_in_one_linear_chain(database):
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "course_" in repr(d) or "lesson_course_packages" in repr(d)] == []
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_revision("0014").down_revision == "0013"
