"""REG-2: uploaded ID and reference photos are validated, then decoded and re-encoded as clean JPEGs."""
from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image

from server.identity.errors import IdentityError
from server.identity.photos import KINDS, LIMITS, MAX_INPUT_PIXELS, ProcessedImage, process_image

MiB = 1024 * 1024


def picture(w: int = 800, h: int = 600, fmt: str = "JPEG", mode: str = "RGB", color=(200, 30, 30), **save) -> bytes:
    img = Image.new(mode, (w, h), color)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def noisy_jpeg(w: int = 800, h: int = 600) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((w, h), 80).convert("RGB").save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def png_header_only(w: int, h: int) -> bytes:
    """A PNG that declares w×h pixels but carries almost no data (decompression-bomb shape)."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def jpeg_segments(data: bytes) -> list[int]:
    """Marker bytes of the JPEG header segments up to start-of-scan."""
    assert data[:2] == b"\xff\xd8"
    i, markers = 2, []
    while True:
        assert data[i] == 0xFF
        marker = data[i + 1]
        markers.append(marker)
        if marker == 0xDA:
            return markers
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]


def refused(data, kind="id_front", **kw) -> IdentityError:
    with pytest.raises(IdentityError) as exc:
        process_image(data, kind, **kw)
    assert exc.value.message_zh and exc.value.message_en
    return exc.value


def test_reg2_kinds_and_limits():
    assert KINDS == {"id_front", "id_back", "reference", "evidence"}
    assert LIMITS["id_front"].max_bytes == 8 * MiB and LIMITS["reference"].max_bytes == 4 * MiB
    assert LIMITS["reference"].portrait and not LIMITS["id_back"].portrait


@pytest.mark.parametrize("kind,w,h", [("id_front", 800, 600), ("id_back", 400, 250),
                                      ("reference", 300, 420), ("evidence", 200, 200)])
def test_reg2_jpeg_is_reencoded_not_stored_as_sent(kind, w, h):
    sent = picture(w, h)
    out = process_image(sent, kind)
    assert isinstance(out, ProcessedImage)
    assert out.data != sent and out.data[:3] == b"\xff\xd8\xff"
    assert (out.width, out.height) == (w, h)
    assert out.sha256 == hashlib.sha256(out.data).hexdigest()
    with Image.open(io.BytesIO(out.data)) as img:
        assert img.format == "JPEG" and img.mode == "RGB" and img.size == (w, h)
        r, g, b = img.getpixel((w // 2, h // 2))
        assert abs(r - 200) < 8 and g < 45 and b < 45


def test_reg2_output_is_deterministic():
    sent = noisy_jpeg()
    assert process_image(sent, "id_front") == process_image(sent, "id_front")


def test_reg2_png_alpha_is_flattened_on_white():
    sent = picture(600, 400, fmt="PNG", mode="RGBA", color=(0, 0, 0, 0))
    out = process_image(sent, "evidence")
    with Image.open(io.BytesIO(out.data)) as img:
        assert img.format == "JPEG" and img.getpixel((300, 200)) >= (250, 250, 250)


@pytest.mark.parametrize("mode,color", [("P", 3), ("L", 128), ("LA", (128, 255)), ("1", 1), ("I;16", 32768)])
def test_reg2_other_png_modes_become_rgb(mode, color):
    out = process_image(picture(500, 300, fmt="PNG", mode=mode, color=color), "id_back")
    with Image.open(io.BytesIO(out.data)) as img:
        assert img.mode == "RGB" and img.size == (500, 300)
        if mode == "I;16":   # 16-bit grey is scaled to 8 bits, not clipped to white
            assert 120 < img.getpixel((250, 150))[0] < 136


def test_reg2_exif_orientation_is_applied():
    # stored landscape, left half red / right half blue; orientation 6 = rotate 90° clockwise to view
    img = Image.new("RGB", (600, 400), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 300, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes())
    out = process_image(buf.getvalue(), "reference")   # portrait only after rotation
    assert (out.width, out.height) == (400, 600)
    with Image.open(io.BytesIO(out.data)) as shown:
        assert shown.getexif().get(0x0112) is None
        top, bottom = shown.getpixel((200, 50)), shown.getpixel((200, 550))
        assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_reg2_output_has_no_metadata():
    exif = Image.Exif()
    exif[0x010F] = "SecretPhone"        # Make
    exif[0x0131] = "tracker 1.0"        # Software
    icc = b"\x00" * 128                 # content is irrelevant, it must not be copied
    sent = picture(800, 600, exif=exif.tobytes(), icc_profile=icc, comment=b"gps 39.9,116.4", dpi=(300, 300))
    with Image.open(io.BytesIO(sent)) as img:
        assert img.getexif() and img.info.get("icc_profile") and img.info.get("comment")
    out = process_image(sent, "id_front")
    markers = jpeg_segments(out.data)
    assert not [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE]   # APP1..APP15, COM
    assert b"SecretPhone" not in out.data and b"gps" not in out.data
    with Image.open(io.BytesIO(out.data)) as img:
        assert not img.getexif() and "icc_profile" not in img.info and "comment" not in img.info
        assert img.info.get("progressive") or img.info.get("progression")


def test_reg2_trailing_payload_is_dropped():
    sent = picture(800, 600) + b"<?php system($_GET['c']); ?>"
    assert b"<?php" not in process_image(sent, "id_front").data


def gradient_jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((w, h)).convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_reg2_large_dimensions_are_downscaled():
    sent = gradient_jpeg(4000, 3000)
    assert len(sent) < 8 * MiB
    out = process_image(sent, "id_front")
    assert (out.width, out.height) == (2000, 1500)
    ref = process_image(picture(1500, 2400), "reference")
    assert (ref.width, ref.height) == (625, 1000)


def test_reg2_pixel_ceiling_refuses_bombs_before_decoding():
    assert 8000 * 6000 > MAX_INPUT_PIXELS
    err = refused(png_header_only(8000, 6000))
    assert err.code == "IMAGE_TOO_LARGE" and err.field == "id_front"
    # beyond Pillow's own bomb limit (DecompressionBombError at open)
    assert refused(png_header_only(30000, 30000)).code == "IMAGE_TOO_LARGE"


@pytest.mark.parametrize("data", [
    picture(800, 600, fmt="GIF"),
    picture(800, 600, fmt="WEBP"),
    picture(800, 600, fmt="BMP"),
    picture(800, 600, fmt="TIFF"),
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    bytes(range(256)) * 40,
    b"\xff\xd8\xff\xe0 not really a jpeg",
    b"\x89PNG\r\n\x1a\n",
])
def test_reg2_unsupported_or_garbage_refused(data):
    err = refused(data)
    assert err.code == "IMAGE_FORMAT" and err.rule == "REG-2"


def test_reg2_truncated_jpeg_refused():
    whole = noisy_jpeg()
    assert refused(whole[: len(whole) // 2]).code == "IMAGE_FORMAT"


def test_reg2_non_bytes_refused():
    assert refused("a string", "evidence").code == "IMAGE_FORMAT"


def test_reg2_empty_upload_refused():
    assert refused(b"").code == "IMAGE_EMPTY"


@pytest.mark.parametrize("kind,limit_mb", [("id_front", 8), ("id_back", 8), ("evidence", 8), ("reference", 4)])
def test_reg2_oversized_bytes_refused_with_limit_in_message(kind, limit_mb):
    err = refused(b"\xff\xd8\xff" + b"0" * (limit_mb * MiB), kind)
    assert err.code == "IMAGE_TOO_LARGE" and f"{limit_mb} MB" in err.message_en and f"{limit_mb} MB" in err.message_zh


@pytest.mark.parametrize("kind,w,h", [("id_front", 399, 600), ("id_back", 800, 249), ("reference", 199, 300),
                                      ("reference", 240, 240), ("evidence", 100, 80)])
def test_reg2_too_small_refused(kind, w, h):
    assert refused(picture(w, h), kind).code == "IMAGE_TOO_SMALL"


def test_reg2_reference_photo_must_be_portrait():
    err = refused(picture(600, 400), "reference", field="reference_photo")
    assert err.code == "IMAGE_ORIENTATION" and err.field == "reference_photo"
    assert process_image(picture(400, 400), "reference").width == 400   # square is allowed


def test_reg2_unknown_kind_refused():
    err = refused(picture(), "selfie", field="photo")
    assert err.code == "IMAGE_KIND" and err.field == "photo"


def test_reg2_field_defaults_to_kind():
    assert refused(picture(100, 80), "id_back").field == "id_back"


def test_reg2_phone_mpo_jpeg_accepted():
    # many phone cameras write multi-picture JPEGs that Pillow reports as "MPO"
    first, second = Image.new("RGB", (800, 600), (10, 200, 10)), Image.new("RGB", (320, 240), "white")
    buf = io.BytesIO()
    first.save(buf, format="MPO", save_all=True, append_images=[second])
    with Image.open(io.BytesIO(buf.getvalue())) as img:
        assert img.format == "MPO"
    out = process_image(buf.getvalue(), "id_front")
    assert (out.width, out.height) == (800, 600)
