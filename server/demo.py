"""Demo data, loaded through the public HTTP API so it obeys every rule a real institution meets."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from PIL import Image, ImageDraw
from starlette.testclient import TestClient

from models import User
from server.auth.passwords import hash_password
from server.identity.resident_id import make_resident_id
from server.services import CHINA_TZ, Services
from server.workdays import WorkdayCalendar

DEMO_PASSWORD = "Qihang2026"
DISTRICT = "150104"  # 呼和浩特市玉泉区
ROLES = [  # (username, role, display name)
    ("admin", "platform_admin", "平台管理员"),
    ("school", "institution_admin", "启航示范培训学校管理员"),
    ("teacher1", "lecturer", "王老师"),
    ("teacher2", "lecturer", "李老师"),
    ("assistant1", "assistant", "赵助教"),
    ("district", "supervisor", "玉泉区人社局"),
    ("city", "supervisor", "呼和浩特市就业服务中心"),
]
STUDENTS = 24


@dataclass
class DemoInfo:
    created: bool
    class_id: int | None = None
    institution_code: str = "QIHANG-DEMO"
    students: list[str] = field(default_factory=list)


def jpeg(w: int, h: int, label: str, seed: int = 0) -> bytes:
    img = Image.new("RGB", (w, h), (230 - seed % 40, 235, 245))
    d = ImageDraw.Draw(img)
    d.ellipse((w * 0.3, h * 0.2, w * 0.7, h * 0.65), fill=(224, 189, 160))
    d.text((10, h - 20), label, fill=(20, 20, 20))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def demo_face(i: int) -> bytes:
    """A reference photo with a real face (registration enrols it): the two public-domain sample
    faces of media/samplefaces.py, installed by `make install`, alternating between students."""
    from media.samplefaces import portrait_jpeg
    return portrait_jpeg("astronaut.png" if i % 2 == 0 else "grace_hopper.jpg", 300, 420, seed=i)


def _ok(resp, what: str) -> dict:
    if resp.status_code >= 400:
        raise RuntimeError(f"demo step failed ({what}): {resp.status_code} {resp.text}")
    return resp.json()


def load_demo(svc: Services) -> DemoInfo:
    from server.app import create_app

    with svc.db.session() as s:
        if s.query(User).filter_by(username="admin").first():
            return DemoInfo(created=False, students=[u.username for u in s.query(User).filter_by(role="student")])
        s.add(User(username="admin", password_hash=hash_password(DEMO_PASSWORD), role="platform_admin",
                   display_name="平台管理员", created_at=svc.now()))
    client = TestClient(create_app(services=svc), raise_server_exceptions=True)

    def login(username: str) -> dict:
        token = _ok(client.post("/api/auth/login", json={"username": username, "password": DEMO_PASSWORD}), "login")["token"]
        return {"Authorization": f"Bearer {token}"}

    admin = login("admin")
    inst = _ok(client.post("/api/institutions", headers=admin, json={
        "name": "启航示范创业培训学校", "code": "QIHANG-DEMO", "credit_code": "91150104MA0QH2026X",
        "region_code": DISTRICT, "profile": "hohhot"}), "institution")
    _ok(client.post(f"/api/institutions/{inst['id']}/status", headers=admin, json={"action": "approve"}), "approve")
    for username, role, name in ROLES[1:]:
        body = {"username": username, "password": DEMO_PASSWORD, "display_name": name, "role": role}
        if role == "institution_admin":
            body["institution_id"] = inst["id"]
        if role == "supervisor":
            body.update(region_level=username, region_code=DISTRICT if username == "district" else "150100")
        if role in ("institution_admin", "supervisor"):
            _ok(client.post("/api/users", headers=admin, json=body), username)
    school = login("school")
    today = svc.today()
    ids = {}
    for username, role, name in ROLES:
        if role == "lecturer":
            ids[username] = _ok(client.post("/api/lecturers", headers=school, json={
                "username": username, "password": DEMO_PASSWORD, "display_name": name,
                "certificate": {"number": f"SYB-15-{username[-1]}2026", "kind": "syb", "issuer": "内蒙古自治区人力资源和社会保障厅",
                                "valid_from": str(today - timedelta(days=400)), "valid_until": str(today + timedelta(days=1000))}}),
                username)["id"]
        elif role == "assistant":
            ids[username] = _ok(client.post("/api/users", headers=school, json={
                "username": username, "password": DEMO_PASSWORD, "display_name": name, "role": role}), username)["id"]

    students = []
    for i in range(STUDENTS):
        number = make_resident_id(DISTRICT, date(1990 + i % 12, 1 + i % 12, 1 + i % 27), i)
        mobile = f"138{10000000 + i:08d}"
        resp = client.post("/api/students/register", data={
            "institution_code": "QIHANG-DEMO", "password": DEMO_PASSWORD, "real_name": f"学员{_cn(i + 1)}",
            "id_number": number, "mobile": mobile, "household_registration": "内蒙古自治区呼和浩特市玉泉区",
            "target_group": "registered_unemployed", "consent": "true"},
            files={"id_front": ("f.jpg", jpeg(640, 400, "ID FRONT", i), "image/jpeg"),
                   "id_back": ("b.jpg", jpeg(640, 400, "ID BACK", i), "image/jpeg"),
                   "reference_photo": ("p.jpg", demo_face(i), "image/jpeg"),
                   "evidence": ("e.jpg", jpeg(400, 300, "EVIDENCE", i), "image/jpeg")})
        students.append((_ok(resp, "register")["student"]["id"], mobile))

    cls = _ok(client.post("/api/classes", headers=school, json={
        "name": "2026年玉泉区创办企业（SYB）第1期", "course_type": "SYB", "delivery_mode": "live",
        "head_teacher_id": ids["assistant1"]}), "class")
    _ok(client.put(f"/api/classes/{cls['id']}/lecturers", headers=school, json={"lecturers": [
        {"user_id": ids["teacher1"], "is_lead": True}, {"user_id": ids["teacher2"]}]}), "lecturers")
    _ok(client.put(f"/api/classes/{cls['id']}/lessons", headers=school,
                   json={"lessons": demo_schedule(svc, today, [ids["teacher1"], ids["teacher2"]])}), "lessons")
    for sid, _ in students:
        _ok(client.post(f"/api/classes/{cls['id']}/enrolments", headers=school, json={"student_id": sid}), "enrol")
    _ok(client.put(f"/api/classes/{cls['id']}/assistants", headers=school,
                   json={"assistant_ids": [ids["assistant1"]]}), "assistants")
    _ok(client.post(f"/api/classes/{cls['id']}/commitment", headers=school,
                    json={"accept": True, "signer_name": "张校长"}), "commitment")
    return DemoInfo(created=True, class_id=cls["id"], students=[m for _, m in students])


def demo_schedule(svc: Services, today: date, lecturers: list[int]) -> list[dict]:
    """Seven working days from the earliest allowed start, 8 class-hours a day (SYB: 56 h / 7 days, CLS-4)."""
    cal = WorkdayCalendar()
    day = cal.add_workdays(today, 7)
    lessons = []
    while len(lessons) < 14:
        if cal.is_workday(day):
            for start, end, part in ((time(9), time(12), "上午"), (time(13, 30), time(16, 30), "下午")):
                n = len(lessons)
                lessons.append({"title": f"第{n // 2 + 1}天{part}", "mode": "live", "class_hours": 4,
                                "lecturer_id": lecturers[n % len(lecturers)],
                                "starts_at": datetime.combine(day, start, CHINA_TZ).isoformat(),
                                "ends_at": datetime.combine(day, end, CHINA_TZ).isoformat()})
        day += timedelta(days=1)
    return lessons


def _cn(n: int) -> str:
    digits = "零一二三四五六七八九"
    return digits[n] if n < 10 else ("十" if n // 10 == 1 else digits[n // 10] + "十") + (digits[n % 10] if n % 10 else "")


def print_links(info: DemoInfo, base_url: str) -> None:
    print()
    print("启航 Qihang 演示数据 / demo data" + ("（已创建 created）" if info.created else "（已存在 already loaded）"))
    print(f"  所有演示账号的密码 / password for every demo account: {DEMO_PASSWORD}")
    for username, role, name in ROLES:
        print(f"  {name:<16} {role:<18} {base_url}/login?u={username}")
    if info.students:
        print(f"  学员 student ({len(info.students)}) {'':<6} {base_url}/login?u={info.students[0]}  (用户名为手机号 / username = mobile)")
    print(f"  学员注册页 student registration: {base_url}/register?inst={info.institution_code}")
    print(f"  机构开班计划 class planner:      {base_url}/planner")
    print(f"  监管看板 supervision dashboard:  {base_url}/supervise  (监管账号登录后 / after a supervisor logs in)")
    print(f"  学员结业考试 final exam:         {base_url}/exam  (学员登录后 / after a student logs in)")
    print(f"  作业与计划书 homework and plans: {base_url}/coursework")
    print(f"  证书查验 certificate check:      {base_url}/verify   补贴公示 disclosure: {base_url}/disclosure")
    print(f"  API 文档 / docs:                 {base_url}/docs  ({base_url}/openapi.json)")
    print()
