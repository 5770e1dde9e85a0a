"""Two real, public-domain faces for the demo class and the tests, from registry packages
(../shared/notes/face-pipeline.md): scikit-image's ``astronaut`` (Eileen Collins, NASA) and
matplotlib's ``grace_hopper`` (US Navy) — two different people. Only the two images are taken out
of the wheels (``pip download --no-deps``) at `make install` time, into
``<venv>/share/qihang/sample-faces``; the packages themselves are not installed. PLAT-2: nothing
is fetched at run time.

    python -m media.samplefaces    # fetch (what make install runs)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEELS = {  # image -> (requirement, member of its wheel)
    "astronaut.png": ("scikit-image==0.26.0", "skimage/data/astronaut.png"),
    "grace_hopper.jpg": ("matplotlib==3.11.2", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
}


def assets_dir() -> Path:
    return Path(sys.prefix) / "share" / "qihang" / "sample-faces"


def fetch() -> dict[str, Path]:
    dest = assets_dir()
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (requirement, member) in WHEELS.items():
        target = dest / name
        if not target.is_file():
            with tempfile.TemporaryDirectory(prefix="qihang-faces-") as tmp:
                subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
                                ":all:", requirement, "-d", tmp], check=True)
                wheel = next(Path(tmp).glob("*.whl"))
                with zipfile.ZipFile(wheel) as zf:
                    target.write_bytes(zf.read(member))
        out[name] = target
    return out


def load_rgb(name: str):
    """The picture as an RGB uint8 array (fetched first if needed)."""
    import cv2
    path = assets_dir() / name
    if not path.is_file():
        path = fetch()[name]
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def scene(img=None, x: int = 0, y: int = 0, scale: float = 0.5, light: float = 1.0):
    """A 320×240 phone-camera frame: ``img`` (RGB) scaled by ``scale`` and ``light``, placed at
    (x, y) in front of a grey wall, or just the wall when ``img`` is None."""
    import cv2
    import numpy as np
    frame = np.full((240, 320, 3), 90, np.uint8)
    if img is None:
        return frame
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if light != 1.0:
        small = cv2.convertScaleAbs(small, alpha=light, beta=0)
    h, w = min(240 - y, small.shape[0]), min(320 - x, small.shape[1])
    frame[y:y + h, x:x + w] = small[:h, :w]
    return frame


def portrait_jpeg(name: str = "astronaut.png", width: int = 300, height: int = 400, seed: int = 0) -> bytes:
    """A 1-inch-style reference photo (portrait JPEG) of one of the two faces; ``seed`` shifts the
    crop a little, so photos of the same person differ byte for byte as real ones do."""
    import cv2
    rgb = load_rgb(name)
    h, w = rgb.shape[:2]
    crop_w = int(min(w, h * width / height) * 0.9)
    crop_h = int(crop_w * height / width)
    x = max(0, min(w - crop_w, (w - crop_w) // 2 + (seed % 7) - 3))
    y = max(0, min(h - crop_h, (seed % 5)))
    photo = cv2.resize(rgb[y:y + crop_h, x:x + crop_w], (width, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("could not encode the sample face")
    return data.tobytes()


if __name__ == "__main__":
    for n, p in fetch().items():
        print(f"sample face {n}: {p}")
