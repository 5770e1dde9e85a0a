"""REG-2: ID card photos and the 1-inch reference photo are decoded and re-encoded, so no file is
ever stored as sent: that drops EXIF (GPS, device), ICC profiles, comments and any payload hidden
after the image data, and bounds what later code (face matching, review screens) must handle.

Only JPEG and PNG are opened (Pillow is told so, which also keeps its other decoders away from
untrusted bytes); the pixel count is checked before any pixel is decoded (decompression bombs).
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from server.identity.errors import IdentityError

RULE = "REG-2"
MiB = 1024 * 1024
MAX_INPUT_PIXELS = 40_000_000          # hard ceiling, larger images are refused (not downscaled)
JPEG_QUALITY = 90
_OPEN_FORMATS = ("JPEG", "PNG")
_ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG"})   # MPO: phone cameras' multi-picture JPEG


@dataclass(frozen=True)
class ImageLimits:
    """What one kind of upload must satisfy."""

    max_bytes: int
    min_width: int
    min_height: int
    max_dimension: int           # longest side of the stored image; larger input is downscaled
    portrait: bool = False       # height must be >= width


LIMITS: dict[str, ImageLimits] = {
    "id_front": ImageLimits(8 * MiB, 400, 250, 2000),
    "id_back": ImageLimits(8 * MiB, 400, 250, 2000),
    "reference": ImageLimits(4 * MiB, 200, 250, 1000, portrait=True),   # 1-inch photo, attendance face
    "evidence": ImageLimits(8 * MiB, 200, 200, 2000),
}
KINDS = frozenset(LIMITS)


@dataclass(frozen=True)
class ProcessedImage:
    """The re-encoded image as it will be stored: baseline facts plus a checksum of ``data``."""

    data: bytes        # JPEG, no metadata
    width: int
    height: int
    sha256: str        # hex digest of data


def _err(code: str, zh: str, en: str, field: str | None) -> IdentityError:
    return IdentityError(code, zh, en, field, rule=RULE)


def _format_error(field: str | None) -> IdentityError:
    return _err("IMAGE_FORMAT", "无法识别的图片：请上传 JPEG 或 PNG 格式的照片",
                "Unreadable image: upload a JPEG or PNG photo", field)


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB for JPEG; transparency is flattened onto white, 16-bit grey scaled down to 8 bits."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif img.mode == "F":
        img = img.convert("L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def process_image(data: bytes, kind: str, *, field: str | None = None) -> ProcessedImage:
    """Validate an uploaded photo of ``kind`` (see KINDS) and return it re-encoded as a clean JPEG.

    Raises IdentityError: IMAGE_KIND, IMAGE_EMPTY, IMAGE_TOO_LARGE, IMAGE_FORMAT, IMAGE_TOO_SMALL,
    IMAGE_ORIENTATION. ``field`` defaults to ``kind``.
    """
    limits = LIMITS.get(kind) if isinstance(kind, str) else None
    if limits is None:
        raise _err("IMAGE_KIND", "未知的图片类型", f"Unknown image kind {kind!r}", field)
    field = field if field is not None else kind
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _format_error(field)
    data = bytes(data)
    if not data:
        raise _err("IMAGE_EMPTY", "上传的图片为空文件", "The uploaded image is empty", field)
    if len(data) > limits.max_bytes:
        mb = limits.max_bytes // MiB
        raise _err("IMAGE_TOO_LARGE", f"图片文件过大：不能超过 {mb} MB",
                   f"Image file too large: the limit is {mb} MB", field)
    try:
        img = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except Image.DecompressionBombError:
        img = None
    except Exception:
        raise _format_error(field) from None
    if img is None or img.width * img.height > MAX_INPUT_PIXELS:
        mp = MAX_INPUT_PIXELS // 1_000_000
        raise _err("IMAGE_TOO_LARGE", f"图片像素过多：不能超过 {mp} 百万像素",
                   f"Image has too many pixels: the limit is {mp} megapixels", field)
    try:
        with img:
            if img.format not in _ACCEPTED_FORMATS:
                raise ValueError(img.format)
            img.load()   # decodes everything now: truncated or corrupt data fails here
            try:
                oriented = ImageOps.exif_transpose(img)
            except Exception:   # malformed EXIF: keep the pixels as stored
                oriented = img.copy()
            rgb = _to_rgb(oriented)
    except Image.DecompressionBombError:
        raise _err("IMAGE_TOO_LARGE", "图片像素过多", "Image has too many pixels", field) from None
    except Exception:
        raise _format_error(field) from None

    w, h = rgb.size
    if w < limits.min_width or h < limits.min_height:
        raise _err("IMAGE_TOO_SMALL",
                   f"图片尺寸过小：至少需要 {limits.min_width}×{limits.min_height} 像素（当前 {w}×{h}）",
                   f"Image too small: at least {limits.min_width}×{limits.min_height} pixels needed (got {w}×{h})",
                   field)
    if limits.portrait and h < w:
        raise _err("IMAGE_ORIENTATION", "证件照须为竖版（高度不小于宽度）",
                   "The 1-inch photo must be portrait (height at least the width)", field)
    longest = max(w, h)
    if longest > limits.max_dimension:
        scale = limits.max_dimension / longest
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)

    rgb.info = {}   # nothing from the upload (comment, dpi, exif, icc_profile) reaches the encoder
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    blob = out.getvalue()
    return ProcessedImage(data=blob, width=rgb.width, height=rgb.height, sha256=hashlib.sha256(blob).hexdigest())
