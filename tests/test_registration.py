"""Real-name registration (REG-1, REG-2, REG-3) and the protection of personal data (PLAT-3)."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import text

from tests.world import image, ok


@pytest.fixture
def world(world):
    w = world
    w.institution("alpha")
    w.institution("beta", region="150105")
    return w


def _register(client, world, inst="alpha", **overrides):
    data, files = world.register_form(inst, **overrides)
    return client.post("/api/students/register", data=data, files=files), data


def test_reg1_reg2_registration_stores_masked_encrypted_id(client, world, svc):
    r, data = _register(client, world)
    assert r.status_code == 201, r.text
    body = r.json()
    number = data["id_number"]
    st = body["student"]
    assert st["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
    assert st["mobile_masked"].startswith(data["mobile"][:3]) and "****" in st["mobile_masked"]
    assert "id_number" not in st
    # the clear ID number is nowhere in the database (PLAT-3)
    with svc.db.engine.connect() as conn:
        for table in ("student_profiles", "users", "audit_log"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert number not in " ".join(str(v) for v in row)
    # the student is logged in and sees their own profile
    me = ok(client.get("/api/me/student", headers={"Authorization": f"Bearer {body['token']}"}))
    assert me["real_name"] == "张三" and me["gender"] in ("M", "F")


def test_reg1_lists_are_masked_and_reveal_is_audited(client, world):
    r, data = _register(client, world)
    sid = r.json()["student"]["id"]
    listed = ok(client.get("/api/students", headers=world.h("alpha_admin")))["items"]
    assert [s["id"] for s in listed] == [sid]
    assert data["id_number"] not in str(listed)
    full = ok(client.get(f"/api/students/{sid}/id-number", headers=world.h("alpha_admin")))
    assert full["id_number"] == data["id_number"]
    audit = ok(client.get("/api/audit?action=student.reveal_id", headers=world.h("admin")))["items"]
    assert audit and audit[0]["target_id"] == str(sid)


def test_reg2_photos_are_reencoded_not_stored_as_sent(client, world, svc):
    sent = image(800, 600)
    r, _ = _register(client, world, id_front=("f.jpg", sent, "image/jpeg"))
    sid = r.json()["student"]["id"]
    got = client.get(f"/api/students/{sid}/photos/id_front", headers=world.h("alpha_admin"))
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.content != sent
    assert Image.open(io.BytesIO(got.content)).format == "JPEG"
    # on disk the file is encrypted: neither the sent nor the served bytes appear
    blobs = [p.read_bytes() for p in svc.settings.uploads_dir.rglob("*") if p.is_file()]
    assert blobs and all(got.content not in b and b[:3] != b"\xff\xd8\xff" for b in blobs)


@pytest.mark.parametrize("field,value,code", [
    ("id_number", "11010519491231002A", "RESIDENT_ID_FORMAT"),
    ("id_number", "110105194912310021", "RESIDENT_ID_CHECK_DIGIT"),
    ("id_number", "1101051949123", "RESIDENT_ID_FORMAT"),
    ("mobile", "12345", "MOBILE_FORMAT"),
    ("real_name", "X", "NAME_FORMAT"),
    ("target_group", "martian", "TARGET_GROUP_UNKNOWN"),
    ("consent", "false", "CONSENT_REQUIRED"),
    ("password", "abc", "WEAK_PASSWORD"),
    ("institution_code", "NOPE", "INSTITUTION_NOT_OPEN"),
])
def test_reg1_bad_fields_are_refused_with_the_field_named(client, world, field, value, code):
    r, _ = _register(client, world, **{field: value})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["field"] == field and err["message_zh"] and err["message_en"]


def test_reg1_invalid_birth_date_and_region(client, world):
    from server.identity.resident_id import make_resident_id
    from datetime import date
    ok_id = make_resident_id("110105", date(1990, 2, 28), 7)
    bad_date = ok_id[:6] + "19900230" + ok_id[14:17]
    bad_date += _check(bad_date)
    r, _ = _register(client, world, id_number=bad_date)
    assert r.json()["error"]["code"] == "RESIDENT_ID_BIRTH_DATE"
    bad_region = "990105" + ok_id[6:17]
    bad_region += _check(bad_region)
    r, _ = _register(client, world, id_number=bad_region)
    assert r.json()["error"]["code"] == "RESIDENT_ID_REGION"


def _check(first17: str) -> str:
    from server.identity.resident_id import check_digit
    return check_digit(first17)


def test_reg1_one_account_per_person_and_mobile(client, world):
    r, data = _register(client, world)
    assert r.status_code == 201
    again = client.post("/api/students/register", data=dict(data, mobile="13700000000"),
                        files=world.register_form("alpha")[1])
    assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_REGISTERED"


@pytest.mark.parametrize("field", ["id_front", "id_back", "reference_photo"])
def test_reg2_photos_are_required(client, world, field):
    r, _ = _register(client, world, **{field: None})
    assert r.status_code == 422 and r.json()["error"]["field"] == field


@pytest.mark.parametrize("payload,code", [
    (("x.gif", image(fmt="GIF"), "image/gif"), "IMAGE_FORMAT"),
    (("x.jpg", b"not an image at all", "image/jpeg"), "IMAGE_FORMAT"),
    (("x.jpg", image(100, 80), "image/jpeg"), "IMAGE_TOO_SMALL"),
])
def test_reg2_bad_photos_refused(client, world, payload, code):
    r, _ = _register(client, world, id_front=payload)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["field"] == "id_front"


def test_reg2_reference_photo_must_be_portrait(client, world):
    r, _ = _register(client, world, reference_photo=("p.jpg", image(600, 400), "image/jpeg"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "IMAGE_ORIENTATION"


def test_reg2_oversized_upload_is_413(client, world, svc):
    huge = b"\xff\xd8\xff" + b"0" * (svc.settings.max_upload_bytes + 1)
    r, _ = _register(client, world, id_front=("big.jpg", huge, "image/jpeg"))
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_registration_unknown_form_field_refused(client, world):
    r, _ = _register(client, world, role="platform_admin")
    assert r.status_code == 422 and r.json()["error"]["code"] == "UNKNOWN_FIELD"


def test_registration_needs_multipart(client, world):
    r = client.post("/api/students/register", json={"real_name": "x"})
    assert r.status_code == 415


def test_reg3_graduate_needs_graduation_year(client, world):
    r, _ = _register(client, world, target_group="graduate")
    assert r.status_code == 422 and r.json()["error"]["field"] == "graduation_year"


def test_plat3_tenancy_students_invisible_to_other_institutions(client, world):
    r, _ = _register(client, world, inst="alpha")
    sid = r.json()["student"]["id"]
    assert ok(client.get("/api/students", headers=world.h("beta_admin")))["items"] == []
    assert client.get(f"/api/students/{sid}", headers=world.h("beta_admin")).status_code == 404
    assert client.get(f"/api/students/{sid}/id-number", headers=world.h("beta_admin")).status_code == 404
    assert client.get(f"/api/students/{sid}/photos/id_front", headers=world.h("beta_admin")).status_code == 404


def test_blacklisted_institution_cannot_register_students(client, world):
    ok(client.post(f"/api/institutions/{world.ids['alpha']}/status", headers=world.h("admin"),
                   json={"action": "blacklist", "reason": "冒领补贴"}))
    r, _ = _register(client, world, inst="alpha")
    assert r.status_code == 422 and r.json()["error"]["code"] == "INSTITUTION_NOT_OPEN"


def test_plat3_consent_left_unticked_is_refused(client, world):
    r, _ = _register(client, world, consent=None)  # browsers omit an unticked checkbox
    assert r.status_code == 422 and r.json()["error"]["code"] == "CONSENT_REQUIRED"
