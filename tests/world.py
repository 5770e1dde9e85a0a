"""Builds a realistic little world through the public API, the way institutions and HR use it."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from PIL import Image, ImageDraw

from models import User
from server.auth.passwords import hash_password
from server.identity.resident_id import make_resident_id
from server.services import CHINA_TZ

PASSWORD = "Secret123"
DISTRICT = "150104"  # Hohhot, Yuquan district
OTHER_DISTRICT = "150105"  # Hohhot, Saihan district


def image(w: int = 640, h: int = 400, fmt: str = "JPEG", color=(200, 180, 160)) -> bytes:
    img = Image.new("RGB", (w, h), color)
    ImageDraw.Draw(img).ellipse((w // 4, h // 5, 3 * w // 4, 4 * h // 5), fill=(230, 200, 170))
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def face_photo(name: str = "astronaut.png") -> bytes:
    """A 1-inch reference photo with one real face (registration enrols it, ATT-2)."""
    if name not in _FACES:
        from media.samplefaces import portrait_jpeg
        _FACES[name] = portrait_jpeg(name)
    return _FACES[name]


_FACES: dict[str, bytes] = {}

# The smallest well-formed PDF (uploads are judged by their bytes: magic and end marker)
TINY_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def docx(text: str = "商业计划书") -> bytes:
    """A minimal DOCX (a zip with word/document.xml) holding ``text``."""
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml",
                   f"<w:document><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>")
    return buf.getvalue()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def ok(resp, status: int | None = None) -> dict:
    assert resp.status_code < 400 and (status is None or resp.status_code == status), resp.text
    return resp.json()


def err(resp, status: int, code: str | None = None, field: str | None = None, *,
        rule: str | bool | None = None) -> dict:
    """The error body of a refusal: always JSON, with a code and both languages; when given, the
    expected ``code``, ``field`` and ``rule`` (``True``: any rule, but one must be named)."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.headers["content-type"]
    body = resp.json()["error"]
    assert body["code"] and body["message_zh"] and body["message_en"], body
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert body["field"] == field, body
    if rule is True:
        assert body.get("rule"), body
    elif rule is not None:
        assert body.get("rule") == rule, body
    return body


def lesson_days(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def schedule(days: list[date], hours_per_day: int = 8, mode: str = "live") -> list[dict]:
    """Two sessions a day, each hours_per_day/2 class-hours of 45 minutes."""
    half = hours_per_day // 2
    out = []
    for d in days:
        for start in (time(8, 30), time(14, 0)):
            begin = datetime.combine(d, start, CHINA_TZ)
            out.append({"title": f"{d} {start}", "mode": mode, "class_hours": half,
                        "starts_at": begin.isoformat(), "ends_at": (begin + timedelta(minutes=45 * half)).isoformat()})
    return out


@dataclass
class World:
    client: object
    svc: object
    tokens: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)
    seq: int = 0
    mobiles: dict = field(default_factory=dict)  # student id -> login name

    def h(self, who: str) -> dict:
        return auth(self.tokens[who])

    def login(self, username: str, password: str = PASSWORD) -> str:
        return ok(self.client.post("/api/auth/login", json={"username": username, "password": password}))["token"]

    def bootstrap_admin(self) -> None:
        with self.svc.db.session() as s:
            s.add(User(username="admin", password_hash=hash_password(PASSWORD), role="platform_admin",
                       display_name="平台管理员", created_at=self.svc.now()))
        self.tokens["admin"] = self.login("admin")

    def institution(self, key: str, *, region: str = DISTRICT, profile: str = "hohhot", approve: bool = True) -> int:
        inst = ok(self.client.post("/api/institutions", headers=self.h("admin"), json={
            "name": f"{key} 培训学校", "code": key.upper(), "region_code": region, "profile": profile}), 201)
        if approve:
            ok(self.client.post(f"/api/institutions/{inst['id']}/status", headers=self.h("admin"),
                                json={"action": "approve"}))
        self.ids[key] = inst["id"]
        admin = f"{key}_admin"
        ok(self.client.post("/api/users", headers=self.h("admin"), json={
            "username": admin, "password": PASSWORD, "display_name": f"{key} 管理员", "role": "institution_admin",
            "institution_id": inst["id"]}), 201)
        self.tokens[admin] = self.login(admin)
        return inst["id"]

    def supervisor(self, name: str, level: str, code: str) -> int:
        u = ok(self.client.post("/api/users", headers=self.h("admin"), json={
            "username": name, "password": PASSWORD, "display_name": name, "role": "supervisor",
            "region_level": level, "region_code": code}), 201)
        self.tokens[name] = self.login(name)
        self.ids[name] = u["id"]
        return u["id"]

    def lecturer(self, inst_key: str, name: str, *, kind: str = "syb", valid_until: date | None = None) -> int:
        today = self.svc.today()
        u = ok(self.client.post("/api/lecturers", headers=self.h(f"{inst_key}_admin"), json={
            "username": name, "password": PASSWORD, "display_name": name, "certificate": {
                "number": f"CERT-{name}", "kind": kind, "issuer": "人社厅",
                "valid_from": str(today - timedelta(days=365)),
                "valid_until": str(valid_until or today + timedelta(days=900))}}), 201)
        self.ids[name] = u["id"]
        return u["id"]

    def assistant(self, inst_key: str, name: str) -> int:
        u = ok(self.client.post("/api/users", headers=self.h(f"{inst_key}_admin"), json={
            "username": name, "password": PASSWORD, "display_name": name, "role": "assistant"}), 201)
        self.ids[name] = u["id"]
        return u["id"]

    def register_form(self, inst_key: str, **overrides) -> tuple[dict, dict]:
        self.seq += 1
        data = {"institution_code": inst_key.upper(), "password": PASSWORD, "real_name": "张三",
                "id_number": make_resident_id("110105", date(1990, 1, 1) + timedelta(days=self.seq * 37), self.seq),
                "mobile": f"139{20000000 + self.seq:08d}", "household_registration": "北京市朝阳区",
                "target_group": "registered_unemployed", "consent": "true"}
        files = {"id_front": ("front.jpg", image(), "image/jpeg"), "id_back": ("back.png", image(fmt="PNG"), "image/png"),
                 "reference_photo": ("me.jpg", face_photo(), "image/jpeg"),
                 "evidence": ("ev.jpg", image(400, 300), "image/jpeg")}
        for k, v in overrides.items():
            if v is None:
                data.pop(k, None)
                files.pop(k, None)
            elif k in files:
                files[k] = v
            else:
                data[k] = v
        return data, files

    def student(self, inst_key: str, **overrides) -> int:
        data, files = self.register_form(inst_key, **overrides)
        body = ok(self.client.post("/api/students/register", data=data, files=files), 201)
        self.tokens[f"student{body['student']['id']}"] = body["token"]
        self.mobiles[body["student"]["id"]] = data["mobile"]
        return body["student"]["id"]

    def ready_class(self, inst_key: str, *, students: int = 25, course: str = "SYB", start: date,
                    days: int = 7, hours_per_day: int = 8, assistants: int = 1, lecturers: int = 2) -> int:
        """A class that passes every submission check of the hohhot profile."""
        h = self.h(f"{inst_key}_admin")
        lect = [self.lecturer(inst_key, f"{inst_key}_t{self.seq}_{i}") for i in range(lecturers)]
        asst = [self.assistant(inst_key, f"{inst_key}_a{self.seq}_{i}") for i in range(assistants)]
        self.seq += 1
        cls = ok(self.client.post("/api/classes", headers=h, json={
            "name": f"{course} 第{self.seq}期", "course_type": course, "delivery_mode": "live",
            "head_teacher_id": asst[0] if asst else lect[0]}), 201)
        cid = cls["id"]
        ok(self.client.put(f"/api/classes/{cid}/lecturers", headers=h, json={
            "lecturers": [{"user_id": lid, "is_lead": i == 0} for i, lid in enumerate(lect)]}))
        ok(self.client.put(f"/api/classes/{cid}/lessons", headers=h,
                           json={"lessons": schedule(lesson_days(start, days), hours_per_day)}))
        for _ in range(students):
            sid = self.student(inst_key)
            ok(self.client.post(f"/api/classes/{cid}/enrolments", headers=h, json={"student_id": sid}), 201)
        ok(self.client.put(f"/api/classes/{cid}/assistants", headers=h, json={"assistant_ids": asst}))
        ok(self.client.post(f"/api/classes/{cid}/commitment", headers=h, json={"accept": True, "signer_name": "校长"}))
        return cid

    def open_class(self, inst_key: str, cid: int, *, district: str, city: str) -> dict:
        """Submit, approve at district and city, open; the class's detail."""
        for who, action in ((f"{inst_key}_admin", "submit"), (district, "approve"), (city, "approve"),
                            (f"{inst_key}_admin", "open")):
            ok(self.client.post(f"/api/classes/{cid}/transitions", headers=self.h(who), json={"action": action}))
        return ok(self.client.get(f"/api/classes/{cid}", headers=self.h(f"{inst_key}_admin")))

    def running_lesson(self, inst_key: str, *, district: str, city: str, students: int = 20) -> dict:
        """An approved, open class whose first lesson runs now (real clock): the class is planned
        three weeks ahead as the rules require, then its first lesson is moved to now."""
        from datetime import datetime, timezone

        from models import Lesson
        cid = self.ready_class(inst_key, start=self.svc.today() + timedelta(days=21), students=students)
        detail = self.open_class(inst_key, cid, district=district, city=city)
        now = datetime.now(timezone.utc)
        with self.svc.db.session() as s:
            row = s.get(Lesson, detail["lessons"][0]["id"])
            row.starts_at, row.ends_at = now - timedelta(minutes=5), now + timedelta(hours=2)
        detail["lesson_id"] = detail["lessons"][0]["id"]
        detail["lecturer_username"] = next(k for k, v in self.ids.items() if v == detail["lecturers"][0]["user_id"])
        return detail
