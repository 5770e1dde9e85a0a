"""Shared ReportLab set-up for Qihang's tabular PDFs (ATT-2 reports, EXAM-1 score sheets).

A4 landscape, every paragraph in the embedded CJK font (fonts.py) with CJK line breaking, a header
table of facts, then data tables whose header row repeats on every page and a page footer
"第 n 页 page n". No outside resources (PLAT-2).
"""
from __future__ import annotations

import io
from typing import Sequence

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

from server.documents.fonts import cjk_font

HEAD_BG = colors.HexColor("#dde7f3")
GRID = colors.HexColor("#9aa7b4")


def styles() -> dict[str, ParagraphStyle]:
    font = cjk_font().name
    base = ParagraphStyle("qh", fontName=font, fontSize=8, leading=10, wordWrap="CJK")
    return {"body": base,
            "title": ParagraphStyle("qh-title", parent=base, fontSize=15, leading=19, spaceAfter=4),
            "h2": ParagraphStyle("qh-h2", parent=base, fontSize=11, leading=14, spaceBefore=6, spaceAfter=3),
            "cell": ParagraphStyle("qh-cell", parent=base, fontSize=7, leading=8.5),
            "head": ParagraphStyle("qh-head", parent=base, fontSize=7, leading=8.5, textColor=colors.black),
            "note": ParagraphStyle("qh-note", parent=base, fontSize=7, leading=9, textColor=colors.HexColor("#444444"))}


def esc(text) -> str:
    return ("" if text is None else str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def facts_table(pairs: Sequence[tuple[str, str]], st: dict) -> Table:
    """Label / value pairs, two pairs per line."""
    cells = [[Paragraph(esc(k), st["body"]), Paragraph(esc(v), st["body"])] for k, v in pairs]
    rows = [cells[i] + (cells[i + 1] if i + 1 < len(cells) else ["", ""]) for i in range(0, len(cells), 2)]
    t = Table(rows, colWidths=[38 * mm, 92 * mm, 38 * mm, 92 * mm])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#555555")),
                           ("TEXTCOLOR", (2, 0), (2, -1), colors.HexColor("#555555"))]))
    return t


def data_table(header: Sequence[str], rows: Sequence[Sequence], widths: Sequence[float], st: dict) -> Table:
    body = [[Paragraph(esc(h), st["head"]) for h in header]]
    body += [[Paragraph(esc(v), st["cell"]) for v in row] for row in rows]
    t = Table(body, colWidths=[w * mm for w in widths], repeatRows=1)
    t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, GRID), ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
                           ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                           ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f6f8fa")])]))
    return t


def build(story: list, *, title: str, author: str = "启航 Qihang") -> bytes:
    font = cjk_font().name

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawRightString(doc.pagesize[0] - 12 * mm, 7 * mm, f"第 {doc.page} 页 page {doc.page}")
        canvas.drawString(12 * mm, 7 * mm, title)
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=14 * mm, title=title, author=author,
                            invariant=1)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def pct(x) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def yes(b) -> str:
    return "是" if b else "否"
