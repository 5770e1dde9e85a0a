"""Studying a recorded lesson that plays a course package (ATT-5, COURSE-1, CLS-4).

The package's videos are the lesson's material, end to end in catalogue order; two lessons of a
class that split a package each play their share in schedule order (45 minutes of play a
class-hour), the last one to the end. The page reports positions on the lesson's joined timeline,
so playing across a file boundary is continuous play and the lesson is covered in full.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from models import Lesson, TrainingClass
from models.coursepackages import LessonCoursePackage
from tests.test_course_packages import chapter, create, licence, upload, webm
from tests.test_recorded_study import Phone
from tests.world import err, ok

MINUTES = [30, 40, 65]  # chapter one: 30 and 40; chapter two: 65 → 135 minutes, 3 class-hours


@pytest.fixture
def pkg_lessons(world, svc, clock):
    """Alpha's open class: lesson A (running now, 1 class-hour) and lesson B (the next one, 2 class-hours)
    split a published three-video package; prompts far apart, so plain playing is credited."""
    w = world
    w.institution("alpha")
    w.supervisor("yuquan", "district", "150104")
    w.supervisor("hohhot", "city", "150100")
    detail = w.running_lesson("alpha", district="yuquan", city="hohhot", students=2)
    pid = ok(create(w, "alpha_admin", total_hours=3), 201)["id"]
    resources = []
    for ch, minutes in ((chapter(w, pid, "第一章", who="alpha_admin"), MINUTES[:2]),
                        (chapter(w, pid, "第二章", who="alpha_admin"), MINUTES[2:])):
        for m in minutes:
            rid = ok(upload(w, pid, ch, m, title=f"{m} 分钟", who="alpha_admin"), 201)["id"]
            ok(licence(w, pid, rid, who="alpha_admin"))
            resources.append(rid)
    pkg = ok(w.client.post(f"/api/course-packages/{pid}/publish", headers=w.h("alpha_admin")))
    assert pkg["class_hours"] == 3
    a, b = detail["lessons"][0]["id"], detail["lessons"][1]["id"]
    with svc.db.session() as s:
        s.get(TrainingClass, detail["id"]).delivery_mode = "recorded"
        for lid, hours in ((a, 1), (b, 2)):
            row = s.get(Lesson, lid)
            row.mode, row.class_hours = "recorded", hours
            s.add(LessonCoursePackage(lesson_id=lid, package_id=pid))
    svc.settings = svc.settings.with_(study_prompt_seconds=(5000.0, 6000.0), study_face_share=0.0)
    clock.set(datetime.now(timezone.utc))
    return {"w": w, "lesson_id": a, "b": b, "class_id": detail["id"], "package_id": pid, "resources": resources,
            "students": [r["id"] for r in detail["roster"]]}


def _near(got: float, want: float) -> bool:
    return abs(got - want) < 1.0  # a WebM's measured length is within a frame's rounding of the minutes


def test_att5_a_package_lesson_plays_its_share_of_the_package_as_parts(pkg_lessons):
    t = pkg_lessons
    w, student = t["w"], t["students"][0]
    h = w.h(f"student{student}")
    info = ok(w.client.get(f"/api/lessons/{t['lesson_id']}/study", headers=h))
    video = info["video"]
    assert video["package_id"] == t["package_id"] and _near(video["duration_seconds"], 45 * 60)
    parts = video["parts"]
    # lesson A (1 class-hour, first in the schedule): the 30-minute video, then 15 minutes of the 40-minute one
    assert [p["resource_id"] for p in parts] == t["resources"][:2]
    assert _near(parts[0]["start"], 0) and _near(parts[0]["end"], 1800) and parts[0]["offset"] == 0
    assert _near(parts[1]["start"], 0) and _near(parts[1]["end"], 900) and _near(parts[1]["offset"], 1800)
    assert video["url"] == parts[0]["url"]
    # each part streams its own file with Range, through the signed link the page's <video> uses
    r = w.client.get(parts[1]["url"], headers={"Range": "bytes=0-"})
    assert r.status_code == 206 and r.content == webm(40)
    first = w.client.get(f"/api/lessons/{t['lesson_id']}/video?part=0", headers=h)  # the bearer works too
    assert first.status_code == 200 and first.content == webm(30)
    e = err(w.client.get(f"/api/lessons/{t['lesson_id']}/video?part=2", headers=h), 404, "NO_SUCH_PART", "part")
    assert e["rule"] == "COURSE-1"
    # lesson B (2 class-hours, last): the rest of the 40-minute video, then the 65-minute one to its end
    b = ok(w.client.get(f"/api/lessons/{t['b']}/video/info", headers=w.h("alpha_admin")))
    assert [p["resource_id"] for p in b["parts"]] == t["resources"][1:]
    assert _near(b["parts"][0]["start"], 900) and _near(b["parts"][0]["end"], 2400)
    assert _near(b["parts"][1]["offset"], 1500) and _near(b["duration_seconds"], 90 * 60)
    # a package lesson takes no video of its own (the plan counted the package's hours)
    e = err(w.client.put(f"/api/lessons/{t['lesson_id']}/video", content=webm(45),
                         headers={**w.h("alpha_admin"), "Content-Type": "video/webm"}), 409, "LESSON_PLAYS_PACKAGE")
    assert e["rule"] == "COURSE-1"


def test_att5_playing_across_the_parts_is_continuous_and_covers_the_lesson(pkg_lessons, clock):
    t = pkg_lessons
    w = t["w"]
    phone = Phone(t, clock, t["students"][0])
    info = ok(w.client.get(f"/api/lessons/{t['lesson_id']}/study", headers=phone.h))
    total = info["video"]["duration_seconds"]
    assert phone.beat("start")["prompt"] is None
    phone.play(total, step=10)  # the page's position runs on across the step from part 0 to part 1
    phone.beat("ended", playing=False)
    report = ok(w.client.get(f"/api/lessons/{t['lesson_id']}/study/report", headers=w.h("alpha_admin")))
    assert report["video_seconds"] == pytest.approx(total)
    mine = next(i for i in report["items"] if i["user_id"] == phone.uid)
    assert mine["completion"] == 1.0 and mine["meets_completion"]
    assert mine["study_seconds"] == pytest.approx(total, abs=10)
    assert not [s for s in mine["timeline"] if s.get("reason") == "seek"]  # no jump at the boundary
    # the other student watched only the first part: not enough of the lesson
    other = Phone(t, clock, t["students"][1])
    other.beat("start")
    other.play(1800, step=10)
    other.beat("pause", playing=False)
    report = ok(w.client.get(f"/api/lessons/{t['lesson_id']}/study/report", headers=w.h("alpha_admin")))
    theirs = next(i for i in report["items"] if i["user_id"] == other.uid)
    assert theirs["completion"] == pytest.approx(1800 / total, abs=0.01) and not theirs["meets_completion"]
