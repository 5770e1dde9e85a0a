"""Face enrolment at registration (ATT-1/2, REG-2, PLAT-3): the reference photo must show exactly one
clear face; its descriptor is stored encrypted and is what attendance checks compare with."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from media.faceembedder import distance
from media.samplefaces import load_rgb, portrait_jpeg
from models import FaceTemplate
from tests.world import image


@pytest.fixture
def alpha(world):
    world.tokens["admin"] = world.login("admin")
    world.institution("alpha")
    return world


def _register(client, world, photo: bytes):
    data, files = world.register_form("alpha", reference_photo=("me.jpg", photo, "image/jpeg"))
    return client.post("/api/students/register", data=data, files=files)


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_reg2_a_reference_photo_without_a_face_is_refused_with_a_clear_error(client, alpha):
    r = _register(client, alpha, image(300, 400))  # a drawn oval, no face
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "FACE_NO_FACE" and err["field"] == "reference_photo"
    assert "人脸" in err["message_zh"] and "face" in err["message_en"]


def test_reg2_a_reference_photo_with_two_people_is_refused(client, alpha):
    a = cv2.resize(load_rgb("astronaut.png")[40:440, 80:400], (160, 200))
    b = cv2.resize(load_rgb("grace_hopper.jpg")[60:560, 60:460], (160, 200))
    pair = np.full((420, 320, 3), 200, np.uint8)
    pair[110:310, :160], pair[110:310, 160:] = a, b
    r = _register(client, alpha, _jpeg(pair))
    assert r.status_code == 422 and r.json()["error"]["code"] == "FACE_SEVERAL_FACES"


def test_att2_registration_enrols_the_face_encrypted_and_it_matches_the_person(client, alpha, svc):
    r = _register(client, alpha, portrait_jpeg("astronaut.png", seed=3))
    assert r.status_code == 201, r.text
    uid = r.json()["student"]["id"]
    with svc.db.session() as s:
        row = s.scalars(select(FaceTemplate).filter_by(user_id=uid)).one()
        assert (row.source, row.model) == ("reference", "dlib_resnet_v1") and row.photo_file_id is not None
        assert len(row.template_encrypted) > 512  # 128 float32 + nonce + tag, not readable as floats
        template = svc.faces.load(s, uid)
    assert "template" not in r.text  # never returned by the API
    checker = svc.faces._get_checker()
    frame = cv2.resize(load_rgb("astronaut.png"), (320, 320))[40:280]
    other = cv2.resize(load_rgb("grace_hopper.jpg"), (320, 375))[60:300]
    me = checker.embedder.embed(frame, checker.detector.detect(frame)[0])
    them = checker.embedder.embed(other, checker.detector.detect(other)[0])
    assert distance(me, template) < 0.45 < distance(them, template)
