"""The face pipeline on real faces (ATT-1/2, PLAT-1): BlazeFace detection, the quality gate, dlib
descriptors against an enrolled template, enrolment refusals, and when the expensive embedding is
(not) computed. Faces: scikit-image's astronaut and matplotlib's Grace Hopper (tests/faceassets.py),
at the 320×240 of a student's attendance stream.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from media import facemodels
from media.facecheck import (ABSENT, MATCH, MISMATCH, NO_TEMPLATE, POOR, SEVERAL, EnrolmentError, FaceChecker,
                             FaceSettings, FaceTrack)
from media.samplefaces import load_rgb, scene as _frame


def _pair(faces) -> np.ndarray:
    """Two people side by side, each filling half of a 320×240 frame."""
    pair = np.full((240, 320, 3), 90, np.uint8)
    pair[20:220, 0:160] = cv2.resize(faces["astronaut"][40:440, 80:400], (160, 200))
    pair[20:220, 160:320] = cv2.resize(faces["hopper"][60:560, 60:460], (160, 200))
    return pair


@pytest.fixture(scope="module")
def faces():
    astronaut, hopper = load_rgb("astronaut.png"), load_rgb("grace_hopper.jpg")
    return {"astronaut": astronaut, "hopper": hopper}


@pytest.fixture(scope="module")
def checker():
    return FaceChecker()


@pytest.fixture(scope="module")
def templates(checker, faces):
    return {name: checker.enrol(img) for name, img in faces.items()}


def test_detector_finds_one_face_in_each_photo_and_none_on_a_wall(checker, faces):
    for img in faces.values():
        found = checker.detector.detect(img)
        assert len(found) == 1 and found[0].score > 0.8
        assert 60 < found[0].width < 260  # a face, not the whole picture
    assert checker.detector.detect(np.full((240, 320, 3), 90, np.uint8)) == []
    noise = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    assert checker.detector.detect(noise) == []


def test_enrolment_gives_a_128_number_template_and_refuses_bad_reference_photos(checker, faces):
    template = checker.enrol(faces["astronaut"])
    assert template.shape == (128,) and np.isfinite(template).all()
    with pytest.raises(EnrolmentError) as none:
        checker.enrol(np.full((300, 240, 3), 200, np.uint8))
    assert none.value.code == "NO_FACE" and "人脸" in none.value.message_zh
    with pytest.raises(EnrolmentError) as several:
        checker.enrol(_pair(faces))
    assert several.value.code == "SEVERAL_FACES"
    with pytest.raises(EnrolmentError) as blurred:
        checker.enrol(cv2.GaussianBlur(faces["astronaut"], (31, 31), 0))
    assert blurred.value.code == "POOR_QUALITY" and "blurry" in blurred.value.message_en
    assert "模糊" in blurred.value.message_zh


def test_att2_the_registered_face_matches_and_another_person_does_not(checker, faces, templates):
    me = templates["astronaut"]
    for frame in (_frame(faces["astronaut"], 20, 0), _frame(cv2.flip(faces["astronaut"], 1), 60, 10, 0.45),
                  _frame(cv2.convertScaleAbs(faces["astronaut"], alpha=0.75, beta=5), 0, 0, 0.55)):
        result = checker.check(frame, me, FaceTrack(), now=0.0)
        assert result.verdict == MATCH and result.embedded and result.distance < 0.45, result
    other = checker.check(_frame(faces["hopper"], 40, 0, 0.4), me, FaceTrack(), now=0.0)
    assert other.verdict == MISMATCH and other.distance > 0.6


def test_absent_several_poor_quality_and_no_template_are_told_apart(checker, faces, templates):
    me = templates["astronaut"]
    assert checker.check(np.full((240, 320, 3), 90, np.uint8), me, FaceTrack(), 0.0).verdict == ABSENT
    several = checker.check(_pair(faces), me, FaceTrack(), 0.0)
    assert several.verdict == SEVERAL and several.faces == 2
    dark = checker.check((_frame(faces["astronaut"]) * 0.12).astype(np.uint8), me, FaceTrack(), 0.0)
    assert dark.verdict in (POOR, ABSENT) and (dark.verdict == ABSENT or "too_dark" in dark.problems)
    tiny = checker.check(_frame(faces["astronaut"], 100, 80, 0.12), me, FaceTrack(), 0.0)
    assert tiny.verdict in (POOR, ABSENT)
    assert checker.check(_frame(faces["astronaut"]), None, FaceTrack(), 0.0).verdict == NO_TEMPLATE


def test_the_embedding_is_computed_only_when_it_can_change_the_answer(faces, templates):
    checker = FaceChecker(FaceSettings(reembed_s=300))
    me, track = templates["astronaut"], FaceTrack()
    still = _frame(faces["astronaut"], 20, 0)
    first = checker.check(still, me, track, now=0.0)
    assert first.verdict == MATCH and first.embedded  # the first sample
    again = checker.check(still, me, track, now=30.0)
    assert again.verdict == MATCH and not again.embedded  # same face, same place: detection only
    moved = checker.check(_frame(faces["astronaut"], 150, 40, 0.4), me, track, now=60.0)
    assert moved.embedded  # the face moved: someone else may have sat down
    assert not checker.check(_frame(faces["astronaut"], 150, 40, 0.4), me, track, now=90.0).embedded
    assert checker.check(_frame(faces["astronaut"], 150, 40, 0.4), me, track, now=361.0).embedded  # 5 minutes
    swapped = checker.check(_frame(faces["hopper"], 150, 40, 0.35), me, track, now=362.0)
    assert swapped.verdict == MISMATCH and swapped.embedded
    back = checker.check(_frame(faces["astronaut"], 150, 40, 0.4), me, track, now=363.0)
    assert back.embedded and back.verdict == MATCH  # after a mismatch, always compared again


def test_bad_frames_are_refused_clearly(checker, templates):
    for bad in (np.zeros((240, 320), np.uint8), np.zeros((240, 320, 3), np.float32), np.zeros((8, 8, 3), np.uint8),
                b"not a frame"):
        with pytest.raises(ValueError):
            checker.check(bad, templates["astronaut"], FaceTrack(), 0.0)


def test_plat2_missing_weights_say_how_to_install_them(tmp_path, monkeypatch):
    monkeypatch.setenv("QIHANG_FACE_MODELS", str(tmp_path))
    with pytest.raises(facemodels.ModelMissing, match="media.facemodels install"):
        facemodels.tflite_path("face_detection_short_range")
    assert facemodels.main(["check"]) == 1
