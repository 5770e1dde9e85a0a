"""The attendance report and the score sheet as Excel workbooks, with native Excel charts (ATT-2).

Every cell goes through server/export.py's ``cell_value``: numbers stay numbers, text is guarded
against formula injection (PLAT-3) and typed as a string, so a student named ``=HYPERLINK(…)`` is
shown, never run. Charts are openpyxl's BarChart/LineChart over the sheet's own cells, so they
follow any correction a reader makes in Excel.
"""
from __future__ import annotations

import io
import re
from typing import Any, Sequence

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from server.documents.attendancepdf import header_pairs
from server.export import cell_value, sheet_title

_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="DDE7F3")


def _put(ws, row: int, col: int, value: Any):
    v = cell_value(value)
    if isinstance(v, str):
        v = _ILLEGAL.sub("", v)
    cell = ws.cell(row=row, column=col, value=v)
    if isinstance(v, str):
        cell.data_type = TYPE_STRING  # openpyxl would take a leading "=" as a formula
    return cell


def _table(ws, top: int, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Header at ``top``, rows under it, frozen header, auto-filter and widths; the last row's number."""
    for i, h in enumerate(header, start=1):
        c = _put(ws, top, i, h)
        c.font, c.fill = BOLD, HEAD_FILL
    for r, row in enumerate(rows, start=top + 1):
        for i, v in enumerate(row, start=1):
            _put(ws, r, i, v)
    for i, h in enumerate(header, start=1):
        width = max([_w(h)] + [_w(row[i - 1]) for row in rows])
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 6), 40)
    last = top + len(rows)
    ws.freeze_panes = ws.cell(row=top + 1, column=1)
    ws.auto_filter.ref = f"A{top}:{get_column_letter(len(header))}{max(last, top)}"
    return last


def _w(v) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in ("" if v is None else str(v)))


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


STUDENT_HEADER = ("姓名 Name", "身份证号 ID (masked)", "直播学时(分) Live study min ATT-3", "直播总时长(分) Total live min",
                  "学时比例 Ratio ATT-3", "达标 Meets ATT-3", "核验通过 Checks passed ATT-4", "应核验 Checks due ATT-4",
                  "出勤率 Attendance rate ATT-4", "达标 Meets ATT-4", "缺勤 Absences CLS-7", "请假 Leaves CLS-7",
                  "缺勤上限 Limit CLS-7", "不得考核 Barred CLS-7", "录播学时(分) Recorded min ATT-5")


def attendance_xlsx(data: dict) -> bytes:
    wb = Workbook()
    info = wb.active
    info.title = sheet_title("概况 Overview")
    _put(info, 1, 1, f"{data['class']['name']} 考勤报告 Attendance report (ATT-2)").font = Font(bold=True, size=14)
    for r, (k, v) in enumerate(header_pairs(data), start=3):
        _put(info, r, 1, k).font = BOLD
        _put(info, r, 2, v)
    info.column_dimensions["A"].width, info.column_dimensions["B"].width = 40, 50

    ws = wb.create_sheet(sheet_title("学员 Students"))
    rows = [[s["name"], s["id_masked"], s["study_minutes"], s["live_minutes"], s["study_ratio"], s["meets_ATT3"],
             s["checks_passed"], s["checks_due"], s["attendance_rate"], s["meets_ATT4"], s["absences"], s["leaves"],
             s["max_absences"], s["barred"], s["recorded_minutes"]] for s in data["students"]]
    last = _table(ws, 1, STUDENT_HEADER, rows)
    for col in ("E", "I"):
        for r in range(2, last + 1):
            ws[f"{col}{r}"].number_format = "0.0%"

    ls = wb.create_sheet(sheet_title("课次 Lessons"))
    prow = [[p["no"], p["title"], p["mode"], p["starts_at"], p["present"], p["enrolled"], p["share"]] for p in data["presence"]]
    last = _table(ls, 1, ("课次 No.", "课程内容 Lesson", "方式 Mode", "开始 Starts", "出勤人数 Present", "在册 Enrolled",
                          "出勤比例 Share"), prow)
    for r in range(2, last + 1):
        ls[f"G{r}"].number_format = "0.0%"
    if prow:
        line = LineChart()
        line.title, line.y_axis.title, line.x_axis.title = "每课次出勤人数 Present per lesson", "人数", "课次"
        line.add_data(Reference(ls, min_col=5, min_row=1, max_row=last), titles_from_data=True)
        line.set_categories(Reference(ls, min_col=1, min_row=2, max_row=last))
        line.width, line.height = 22, 9
        ls.add_chart(line, "I2")

    hs = wb.create_sheet(sheet_title("分布 Distribution"))
    last = _table(hs, 1, ("出勤率区间 Attendance rate (ATT-4)", "人数 Students"),
                  [[b["label"], b["count"]] for b in data["histogram"]])
    bar = BarChart()
    bar.type, bar.title = "col", "出勤率分布 Attendance-rate distribution"
    bar.y_axis.title, bar.x_axis.title = "人数", "出勤率"
    bar.add_data(Reference(hs, min_col=2, min_row=1, max_row=last), titles_from_data=True)
    bar.set_categories(Reference(hs, min_col=1, min_row=2, max_row=last))
    bar.width, bar.height = 18, 9
    hs.add_chart(bar, "D2")
    return _save(wb)


def scores_xlsx(sheet: dict) -> bytes:
    wb = Workbook()
    first = True
    for p in sheet["papers"] or [None]:
        ws = wb.active if first else wb.create_sheet()
        first = False
        if p is None:
            ws.title = sheet_title("成绩 Scores")
            _put(ws, 1, 1, "本班期尚无考试试卷 No exam paper has been drawn for this class.")
            break
        ws.title = sheet_title(f"试卷{p['paper_id']} Paper {p['paper_id']}")
        facts = [("班期 Class", sheet["class"]["name"]), ("试卷 Paper", p["title"]), ("满分 Total", p["total_points"]),
                 ("及格线 Pass mark %", p["pass_mark"]), ("及格分 Pass points", p["pass_points"]),
                 ("考试时间 Window", f"{p['opens_at']} 至 {p['closes_at']}"), ("参考 Sat", p["sat"]), ("及格 Passed", p["passed"])]
        for r, (k, v) in enumerate(facts, start=1):
            _put(ws, r, 1, k).font = BOLD
            _put(ws, r, 2, v)
        top = len(facts) + 2
        header = ["姓名 Name", "身份证号 ID (masked)", "状态 Status", "成绩 Score", "及格 Passed", "交卷 Submitted"] + \
                 [f"第{n}题 Q{n} ({m})" for n, m in enumerate(p["question_max"], 1)]
        rows = [[r["name"], r["id_masked"], r["status"], r["score"], r["passed"], r["submitted_at"]] + r["question_points"]
                for r in p["rows"]]
        last = _table(ws, top, header, rows)
        if rows:
            bar = BarChart()
            bar.type, bar.title, bar.y_axis.title = "bar", "成绩 Scores", "分"
            bar.add_data(Reference(ws, min_col=4, min_row=top, max_row=last), titles_from_data=True)
            bar.set_categories(Reference(ws, min_col=1, min_row=top + 1, max_row=last))
            bar.width, bar.height = 16, max(7, len(rows) * 0.5)
            ws.add_chart(bar, f"{get_column_letter(len(header) + 2)}{top}")
    return _save(wb)
