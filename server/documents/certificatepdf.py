"""The certificate PDF (CERT-1): 创业培训合格证书 with the institution's seal and a QR code to verify it.

One A4 landscape page set in the embedded CJK font (fonts.py): the holder's name and masked ID number,
course, class-hours, dates, institution, issuer, number and check code, issue date; a drawn seal (red
circle with the institution's name) and, in small print, the seal key id and the Ed25519 signature.
The QR code holds the absolute verification link ``{base}/verify?n=NUMBER&c=CODE``.

The signed data itself travels inside the file as an embedded file ``certificate.json`` (PDF
/EmbeddedFiles, uncompressed ASCII JSON: signing.envelope), so a PDF can be checked on its own — by
``POST /api/public/certificates/check-pdf`` or offline against the published seal keys. A revoked
certificate still renders, crossed with 已撤销 REVOKED.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from io import BytesIO

from server.documents.fonts import cjk_font
from server.documents.qr import draw_qr

EMBEDDED_NAME = "certificate.json"
RED = (0.80, 0.08, 0.08)
GOLD = (0.62, 0.47, 0.16)
INK = (0.12, 0.12, 0.12)
GREY = (0.42, 0.42, 0.42)
NO_LINE_START = "，。、；：）》」』！？"  # Chinese punctuation never starts a line: it hangs at the end


@dataclass(frozen=True)
class Printed:
    """Everything printed on the certificate (the caller decides what may be shown: the ID comes masked)."""

    number: str
    check_code: str
    student_name: str
    id_masked: str | None
    course_name: str
    course_type: str
    class_hours: int
    start_date: date
    end_date: date
    institution_name: str
    issuer_zh: str | None
    issued_on: date
    key_id: str
    signature: str
    verify_url: str
    revoked_on: date | None = None


def cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break a line character by character (Chinese has no spaces to break at)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    lines, line = [], ""
    for ch in text:
        if line and ch not in NO_LINE_START and stringWidth(line + ch, font, size) > width:
            lines.append(line)
            line = ""
        line += ch
    return lines + ([line] if line else [])


def _fit_centred(c, font: str, size: float, width: float, x: float, y: float, text: str) -> None:
    """Centre ``text`` at (x, y), shrinking the font until it fits ``width``."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    while size > 6 and stringWidth(text, font, size) > width:
        size -= 0.5
    c.setFont(font, size)
    c.drawCentredString(x, y, text)


def _seal(c, font: str, cx: float, cy: float, r: float, name: str) -> None:
    """The electronic seal's picture: a red ring, the institution's name along the upper arc, a star."""
    c.saveState()
    c.setStrokeColorRGB(*RED)
    c.setFillColorRGB(*RED)
    c.setLineWidth(2.6)
    c.circle(cx, cy, r, stroke=1, fill=0)
    c.setLineWidth(0.8)
    c.circle(cx, cy, r - 4, stroke=1, fill=0)
    chars = list(name)[:20] or ["章"]
    size = min(13.0, max(7.0, 2 * math.pi * (r - 18) * 0.62 / max(len(chars), 1)))
    span = min(250.0, len(chars) * size * 1.05 / (r - 7 - size) * 180 / math.pi)
    for i, ch in enumerate(chars):
        angle = 90 + span / 2 - (span * (i + 0.5) / len(chars))  # left to right across the top
        rad = math.radians(angle)
        c.saveState()
        c.translate(cx + (r - 7 - size) * math.cos(rad), cy + (r - 7 - size) * math.sin(rad))
        c.rotate(angle - 90)
        c.setFont(font, size)
        c.drawCentredString(0, 0, ch)
        c.restoreState()
    points = []
    for k in range(10):  # a five-pointed star
        rr = r * (0.28 if k % 2 == 0 else 0.11)
        a = math.radians(90 + k * 36)
        points.append((cx + rr * math.cos(a), cy - r * 0.05 + rr * math.sin(a)))
    p = c.beginPath()
    p.moveTo(*points[0])
    for pt in points[1:]:
        p.lineTo(*pt)
    p.close()
    c.drawPath(p, stroke=0, fill=1)
    c.setFont(font, 9)
    c.drawCentredString(cx, cy - r * 0.55, "电子签章")
    c.restoreState()


def _embed(c, name: str, data: bytes) -> None:
    """Attach ``data`` as a PDF embedded file (catalog /Names /EmbeddedFiles), uncompressed."""
    from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFStream, PDFString
    doc = c._doc
    stream = PDFStream(PDFDictionary({"Type": PDFName("EmbeddedFile"), "Subtype": PDFName("application#2Fjson"),
                                      "Params": PDFDictionary({"Size": len(data)})}), content=data, filters=[])
    spec = PDFDictionary({"Type": PDFName("Filespec"), "F": PDFString(name), "UF": PDFString(name),
                          "Desc": PDFString("Qihang certificate: signed data (Ed25519)"),
                          "AFRelationship": PDFName("Data"),
                          "EF": PDFDictionary({"F": doc.Reference(stream)})})
    names = PDFDictionary({"EmbeddedFiles": PDFDictionary({"Names": PDFArray([PDFString(name), doc.Reference(spec)])})})
    doc.Catalog.Names = doc.Reference(names)


def certificate_pdf(p: Printed, envelope: dict) -> bytes:
    """Render the certificate; ``envelope`` (signing.envelope) is embedded as ``certificate.json``."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    font = cjk_font().name
    width, height = landscape(A4)
    buf = BytesIO()
    c = Canvas(buf, pagesize=(width, height), pageCompression=1)
    c.setTitle(f"创业培训合格证书 {p.number}")
    c.setSubject("创业培训合格证书 Entrepreneurship training certificate (CERT-1)")
    c.setAuthor(p.institution_name)
    c.setCreator("启航 Qihang")
    c.setKeywords(f"certificate {p.number} key {p.key_id}")

    # frame
    c.setStrokeColorRGB(*GOLD)
    c.setLineWidth(3)
    c.rect(22, 22, width - 44, height - 44)
    c.setLineWidth(0.8)
    c.rect(30, 30, width - 60, height - 60)

    # title
    c.setFillColorRGB(*RED)
    c.setFont(font, 34)
    c.drawCentredString(width / 2, height - 92, "创业培训合格证书")
    c.setFillColorRGB(*GREY)
    c.setFont("Helvetica", 11)
    c.drawCentredString(width / 2, height - 112, "Certificate of Entrepreneurship Training")

    # body sentence
    c.setFillColorRGB(*INK)
    sentence = (f"{p.student_name}同志于{cn_date(p.start_date)}至{cn_date(p.end_date)}参加{p.institution_name}"
                f"举办的{p.course_name}（{p.course_type}），完成培训{p.class_hours}课时，经考核合格，特发此证。")
    y = height - 152 - (44 if p.revoked_on is not None else 0)  # room for the REVOKED banner
    for line in _wrap(sentence, font, 15, width - 75 - 75 - 120 - 30):  # left of the QR code
        c.setFont(font, 15)
        c.drawString(75, y, line)
        y -= 24

    # facts
    facts = [("姓　　名", p.student_name), ("身份证号", p.id_masked or "—"),
             ("培训项目", f"{p.course_name}（{p.course_type}）"), ("培训课时", f"{p.class_hours} 课时"),
             ("培训时间", f"{cn_date(p.start_date)} 至 {cn_date(p.end_date)}"), ("培训机构", p.institution_name),
             ("发证机关", p.issuer_zh or p.institution_name), ("证书编号", p.number), ("校 验 码", p.check_code),
             ("发证日期", cn_date(p.issued_on))]
    y -= 8
    for label, value in facts:
        c.setFont(font, 12)
        c.setFillColorRGB(*GREY)
        c.drawString(75, y, label)
        c.setFillColorRGB(*INK)
        c.setFont(font, 13)
        c.drawString(150, y, _wrap(value, font, 13, 360)[0] if value else "")
        y -= 22

    # seal, over the issue date, bottom right
    seal_cx, seal_cy, seal_r = width - 185, 175, 62
    c.setFillColorRGB(*INK)
    _fit_centred(c, font, 13, 250, seal_cx, seal_cy + seal_r + 16, p.institution_name)
    c.setFont(font, 13)
    c.drawCentredString(seal_cx, seal_cy - seal_r - 18, cn_date(p.issued_on))
    _seal(c, font, seal_cx, seal_cy, seal_r, p.institution_name)

    # QR, top right
    qr_size = 120
    qx, qy = width - 75 - qr_size, height - 140 - qr_size + 30
    draw_qr(c, p.verify_url, qx, qy, qr_size)
    c.setFont(font, 9)
    c.setFillColorRGB(*GREY)
    c.drawCentredString(qx + qr_size / 2, qy - 11, "扫码查验证书真伪 Scan to verify")

    # small print: the seal's key and signature
    c.setFont("Helvetica", 6.5)
    c.setFillColorRGB(*GREY)
    sig = p.signature
    small = [f"Electronic seal 电子签章: Ed25519, key id {p.key_id}  ·  verify: {p.verify_url}",
             f"Signature: {sig[:len(sig) // 2]}", f"           {sig[len(sig) // 2:]}"]
    yy = 58
    for line in small:
        if line.startswith("Electronic"):
            c.setFont(font, 6.5)
        else:
            c.setFont("Courier", 6.5)
        c.drawString(42, yy, line)
        yy -= 8

    if p.revoked_on is not None:  # revoked: still downloadable, unmistakably void
        c.saveState()
        c.setFillColorRGB(*RED)
        c.setStrokeColorRGB(*RED)
        c.setLineWidth(3)
        c.rect(width / 2 - 210, height - 158, 420, 36, stroke=1, fill=0)
        c.setFont(font, 20)
        c.drawCentredString(width / 2, height - 148, f"已撤销 REVOKED  {cn_date(p.revoked_on)}")
        c.translate(width / 2, height / 2)
        c.rotate(24)
        c.setFillAlpha(0.28)
        c.setFont(font, 110)
        c.drawCentredString(0, -30, "已撤销")
        c.setFont("Helvetica-Bold", 56)
        c.drawCentredString(0, -100, "REVOKED")
        c.restoreState()

    _embed(c, EMBEDDED_NAME, json.dumps(envelope, sort_keys=True, ensure_ascii=True).encode("ascii"))
    c.showPage()
    c.save()
    return buf.getvalue()
