"""Any table as a download (issue 6 §4, SUP-1/2, PLAT-3): CSV or XLSX from row dicts and a column spec.

* **CSV** is UTF-8 with a byte-order mark and CRLF line ends, so Excel on a Chinese Windows opens the
  Chinese text correctly instead of guessing GBK.
* **XLSX** is written by openpyxl: one sheet, bold frozen header row, auto-filter, widths from content.
* **Headers** are one row, ``"中文 English"`` per column (Chinese first, as everywhere in the UI).
* **Formula injection** (OWASP "CSV injection", PLAT-3): a text cell starting with ``= + - @`` (or a tab /
  carriage return, which Excel strips before looking) gets a leading ``'`` so a spreadsheet shows it as
  text instead of running it. Numbers are written as numbers and never prefixed: ``-5`` stays a number.
* Values: ``None`` → empty, ``True``/``False`` → 是/否, dates and times → ISO text, lists → ``; `` joined.

Nothing here knows about the database or who may read what: callers pass rows already scoped and masked.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote

FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
BOOL_ZH = {True: "是", False: "否"}
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # XML 1.0 cannot hold these
_SHEET_ILLEGAL = re.compile(r"[\[\]:*?/\\]")
_FILENAME_ILLEGAL = re.compile(r"[\x00-\x1f\\/:*?\"<>|]+")


@dataclass(frozen=True)
class Column:
    key: str  # the row dict's key
    zh: str
    en: str
    kind: str = "text"  # a display hint for pages: text | int | float | pct | bool | date | time

    @property
    def header(self) -> str:
        return f"{self.zh} {self.en}"

    def as_dict(self) -> dict:
        return {"key": self.key, "zh": self.zh, "en": self.en, "kind": self.kind}


def columns_json(columns: Sequence[Column]) -> list[dict]:
    return [c.as_dict() for c in columns]


def guard(text: str) -> str:
    """A text cell a spreadsheet would read as a formula gets a leading apostrophe (module docstring)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def cell_value(value: Any) -> str | int | float:
    """One value as it goes into a cell: numbers stay numbers, everything else becomes guarded text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return BOOL_ZH[value]
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        value = "; ".join("" if v is None else str(v) for v in value)
    return guard(str(value))


def _rows(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> Iterable[list]:
    for row in rows:
        yield [cell_value(row.get(c.key)) for c in columns]


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> bytes:
    """UTF-8 with BOM, CRLF, minimal quoting; numbers written as Python prints them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([guard(c.header) for c in columns])
    for values in _rows(rows, columns):
        writer.writerow(values)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def sheet_title(title: str) -> str:
    """Excel's sheet-name rules: at most 31 characters, none of ``[]:*?/\\``."""
    return (_SHEET_ILLEGAL.sub("_", title).strip("' ") or "Sheet1")[:31]


def _width(value: Any) -> int:
    s = str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)  # CJK characters are about two columns wide


def to_xlsx(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], *, title: str = "Sheet1") -> bytes:
    """One sheet; every text cell is typed as a string, so nothing in it is ever a formula."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title(title)
    widths = [_width(c.header) for c in columns]
    bold = Font(bold=True)
    for i, col in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=i, value=_XLSX_ILLEGAL.sub("", guard(col.header)))
        cell.font = bold
    for r, values in enumerate(_rows(rows, columns), start=2):
        for i, value in enumerate(values, start=1):
            if isinstance(value, str):
                value = _XLSX_ILLEGAL.sub("", value)
            cell = ws.cell(row=r, column=i, value=value)
            if isinstance(value, str):
                cell.data_type = TYPE_STRING  # openpyxl would take a leading "=" as a formula
            widths[i - 1] = max(widths[i - 1], _width(value))
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(w + 2, 6), 60)
    if columns:
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(ws.max_row, 1)}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def render(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], fmt: str, *,
           title: str = "Sheet1") -> tuple[bytes, str]:
    """The file's bytes and media type for ``fmt`` (``csv`` or ``xlsx``)."""
    if fmt == "csv":
        return to_csv(rows, columns), MEDIA_TYPES["csv"]
    if fmt == "xlsx":
        return to_xlsx(rows, columns, title=title), MEDIA_TYPES["xlsx"]
    raise ValueError(f"unknown export format {fmt!r}")


def safe_filename(name: str, ext: str, *, default: str = "export") -> str:
    stem = _FILENAME_ILLEGAL.sub("_", name).strip(" ._") or default
    return f"{stem[:150]}.{ext}"


def content_disposition(filename: str, fallback: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the UTF-8 ``filename*`` (RFC 6266 /
    RFC 5987) that browsers use, so a Chinese file name survives the download."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", fallback).strip("_") or "export"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def attachment(data: bytes, media_type: str, filename: str, fallback: str):
    """A private download: the Chinese file name for browsers, an ASCII one for old clients, never cached
    (rosters, archives and reports hold personal data) and never sniffed into something else."""
    from starlette.responses import Response
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": content_disposition(filename, fallback),
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
