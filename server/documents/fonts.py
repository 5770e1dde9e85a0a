"""The CJK font every Qihang PDF is set in (PLAT-2: installed, never fetched).

Chinese text in a PDF needs a font with the glyphs embedded, or a reader that happens to have one.
We embed (subset) a TrueType CJK font from a Debian package — WenQuanYi Micro Hei
(``fonts-wqy-microhei``, installed by ``make install`` where it can) or another TrueType-outline CJK
font listed below; ``QIHANG_CJK_FONT`` points at any other ``.ttf``/``.ttc``. ReportLab embeds only
TrueType outlines, so OpenType/CFF fonts such as Noto Sans CJK ``.otf`` are not candidates.

Without any of them we fall back to ReportLab's built-in ``STSong-Light`` (Adobe-GB1 CID font, not
embedded): readers with the Adobe Asian font packs (Acrobat, poppler with ``poppler-data``) still
show the text, and :func:`cjk_font` says so in ``embedded=False``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # Debian fonts-arphic-uming
    "/usr/share/fonts/truetype/arphic/ukai.ttc",  # Debian fonts-arphic-ukai
)
FALLBACK = "STSong-Light"


@dataclass(frozen=True)
class CjkFont:
    name: str  # the ReportLab font name to set text in
    path: str | None  # the embedded file, or None for the CID fallback
    embedded: bool


def font_path() -> str | None:
    """The CJK TrueType file to embed, or None when the machine has none."""
    override = os.environ.get("QIHANG_CJK_FONT")
    for candidate in ([override] if override else []) + list(CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def cjk_font() -> CjkFont:
    """Register the CJK font with ReportLab once per process and return its name."""
    from reportlab.pdfbase import pdfmetrics

    path = font_path()
    if path is not None:
        from reportlab.pdfbase.ttfonts import TTFont

        name = "QihangCJK"
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0) if path.endswith(".ttc") else TTFont(name, path))
        return CjkFont(name, path, True)
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK))
    return CjkFont(FALLBACK, None, False)
