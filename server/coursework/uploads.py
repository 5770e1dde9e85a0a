"""Upload checks shared by homework and business plans: the bytes decide the type, never the name.

A PDF starts with ``%PDF-``; a DOCX is a ZIP holding ``[Content_Types].xml`` and ``word/document.xml``
(an XLSX or a renamed archive is not one); photos are JPEG or PNG and are re-encoded by the REG-2
photo code (server/identity/photos.py), which also drops their EXIF. A name whose extension names
another type is refused too, so a student never sees "plan.pdf" open as something else.
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from server.errors import ApiError

MiB = 1024 * 1024
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
EXTENSIONS = {"pdf": ("pdf",), "docx": ("docx",), "jpeg": ("jpg", "jpeg"), "png": ("png",)}
MAX_DOCX_XML = 20 * MiB  # uncompressed document.xml read for screening; larger is a zip bomb
NAME_RE = re.compile(r"[\x00-\x1f/\\]")


@dataclass(frozen=True)
class CheckedFile:
    type: str  # "pdf" | "docx" | "jpeg" | "png"
    content_type: str
    name: str
    data: bytes


def sniff(data: bytes) -> str | None:
    """The file's type from its first bytes (and, for a ZIP, its members); None when not one we take."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return "docx"
    return None


def clean_name(name: str, fallback: str) -> str:
    name = NAME_RE.sub("_", (name or "").strip())[-200:]
    return name or fallback


def check_file(data: bytes, name: str, *, allowed: tuple[str, ...], max_bytes: int, field: str,
               rule: str) -> CheckedFile:
    """Refuse empty (422), too large (413) or not-allowed / mismatching files (415) with a clear message."""
    if not data:
        raise ApiError("FILE_EMPTY", "上传的文件为空", "The uploaded file is empty", field=field, status=422, rule=rule)
    if len(data) > max_bytes:
        mb = max_bytes / MiB
        raise ApiError("FILE_TOO_LARGE", f"文件过大：不能超过 {mb:g} MB", f"File too large: the limit is {mb:g} MB",
                       field=field, status=413, rule=rule, details={"max_bytes": max_bytes, "size": len(data)})
    kind = sniff(data)
    names = "、".join(t.upper() for t in allowed)
    if kind not in allowed:
        raise ApiError("FILE_TYPE_NOT_ALLOWED", f"仅接受 {names} 文件（按文件内容判断）",
                       f"Only {', '.join(t.upper() for t in allowed)} files are accepted (judged by content)",
                       field=field, status=415, rule=rule, details={"allowed": list(allowed), "detected": kind})
    ext = name.rsplit(".", 1)[-1].lower() if "." in (name or "") else ""
    known = {e for exts in EXTENSIONS.values() for e in exts}
    if ext in known and ext not in EXTENSIONS[kind]:
        raise ApiError("FILE_TYPE_MISMATCH", f"文件扩展名 .{ext} 与内容（{kind.upper()}）不符",
                       f"The extension .{ext} does not match the content ({kind.upper()})", field=field, status=415,
                       rule=rule, details={"extension": ext, "detected": kind})
    return CheckedFile(kind, CONTENT_TYPES[kind], clean_name(name, f"{field}.{EXTENSIONS[kind][0]}"), data)


def docx_text(data: bytes, limit: int = 20000) -> str:
    """The visible text of a DOCX (paragraphs of word/document.xml), for LIVE-5 screening; '' when unreadable."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            info = z.getinfo("word/document.xml")
            if info.file_size > MAX_DOCX_XML:
                return ""
            xml = z.read(info).decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return ""
    xml = re.sub(r"</w:p>", "\n", xml)
    text = re.sub(r"<[^>]+>", "", xml)
    for a, b in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        text = text.replace(a, b)
    return text.strip()[:limit]


def _photo_error(exc, field: str, rule: str) -> ApiError:
    status = {"IMAGE_TOO_LARGE": 413, "IMAGE_FORMAT": 415}.get(exc.code, 422)
    return ApiError(exc.code, exc.message_zh, exc.message_en, field=field, status=status, rule=rule)


def prepare(checked: CheckedFile, *, field: str, rule: str):
    """Decode and re-encode a photo (REG-2 photo code: clean JPEG, no EXIF, pixel limits) before anything
    is stored, so a bad photo after a good file leaves no stored file behind. Documents pass as they are."""
    from server.identity.errors import IdentityError
    from server.identity.photos import process_image
    if checked.type not in ("jpeg", "png"):
        return checked, None
    try:
        return checked, process_image(checked.data, "evidence", field=field)
    except IdentityError as exc:
        raise _photo_error(exc, field, rule) from None


def store(files, s, prepared, *, kind: str, owner_user_id: int, institution_id: int) -> dict:
    """Save a prepared upload in the encrypted file store; returns the attachment entry."""
    checked, img = prepared
    if img is not None:
        row = files.save_image(s, img, kind=kind, owner_user_id=owner_user_id, institution_id=institution_id)
        name = checked.name.rsplit(".", 1)[0] + ".jpg"
        return {"file_id": row.id, "name": name, "content_type": "image/jpeg", "size": row.size, "type": "photo"}
    row = files.save_bytes(s, checked.data, kind=kind, content_type=checked.content_type,
                           owner_user_id=owner_user_id, institution_id=institution_id)
    return {"file_id": row.id, "name": checked.name, "content_type": checked.content_type, "size": row.size,
            "type": checked.type}
