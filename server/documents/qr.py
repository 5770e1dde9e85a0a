"""QR codes drawn as vector squares into a ReportLab canvas (PLAT-2: made locally with segno, no network).

Vector modules stay sharp at any print or render resolution, so phones (and OpenCV in the tests)
read them from a 150-dpi scan as well as from the screen.
"""
from __future__ import annotations

import segno

QUIET_ZONE = 4  # modules of white margin the QR standard asks for


def draw_qr(canvas, data: str, x: float, y: float, size: float, *, error: str = "m") -> None:
    """Draw ``data`` as a QR code whose outer square (quiet zone included) has lower-left (x, y), side ``size``."""
    qr = segno.make_qr(data, error=error, boost_error=False)
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix) + 2 * QUIET_ZONE
    unit = size / n
    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):  # one rectangle per horizontal run of dark modules: smaller, faster PDFs
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                canvas.rect(x + (QUIET_ZONE + start) * unit, y + size - (QUIET_ZONE + r + 1) * unit,
                            (c - start) * unit, unit, stroke=0, fill=1)
            else:
                c += 1
    canvas.restoreState()
