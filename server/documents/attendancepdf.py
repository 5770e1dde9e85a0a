"""The class attendance report as a PDF (ATT-2): header, per-student table, two charts.

Columns name the rule each figure answers to (ATT-3 live time, ATT-4 checks, CLS-7 absences), and
a note under the table says how each is computed and what the thresholds are, so the printed report
explains itself to an HR reviewer who never saw the platform.
"""
from __future__ import annotations

from reportlab.platypus import Paragraph, Spacer, Table

from server.documents import charts
from server.documents.pdfkit import build, data_table, esc, facts_table, pct, styles, yes

MODE_ZH = {"live": "直播", "live_offline": "直播+线下", "recorded": "录播", "offline": "线下"}
HEADER = ("序号 No.", "姓名 Name", "身份证号 ID (masked)", "直播学时 分 Live study min (ATT-3)",
          "直播总时长 分 Total live min", "学时比例 Ratio (ATT-3)", "达标 ATT-3",
          "核验 通过/应核 Checks passed/due (ATT-4)", "出勤率 Attendance rate (ATT-4)", "达标 ATT-4",
          "缺勤/请假 Absences/leaves (CLS-7)", "可参加考核 May sit exam (CLS-7)")
WIDTHS = (10, 22, 32, 22, 22, 18, 14, 26, 22, 14, 24, 24)


def header_pairs(data: dict) -> list[tuple[str, str]]:
    c, th = data["class"], data["thresholds"]
    limit = th["max_absences_CLS7"]
    return [("班期 Class", f"{c['name']}（ID {c['id']}）"), ("培训机构 Institution", c["institution"]),
            ("课程 Course", f"{c['course_type']} · {MODE_ZH.get(c['delivery_mode'], c['delivery_mode'])}"),
            ("政策地区 Region profile", f"{c['profile']} · {c['district_code']}"),
            ("起止日期 Dates", f"{data['first_day'] or '—'} 至 {data['last_day'] or '—'}"),
            ("课次 Lessons held / planned", f"{data['lessons_held']} / {data['lessons_total']}"),
            ("ATT-3 学时达标线 live-time threshold", pct(th["live_time_ATT3"])),
            ("ATT-4 出勤达标线 attendance threshold", pct(th["attendance_ATT4"])),
            ("CLS-7 缺勤上限 absence limit", "不适用 n/a" if limit is None else f"{limit} 次"),
            ("统计截至 As of", data["as_of"])]


def student_rows(data: dict) -> list[list]:
    rows = []
    for n, s in enumerate(data["students"], start=1):
        limit = s["max_absences"]
        rows.append([n, s["name"], s["id_masked"], s["study_minutes"], s["live_minutes"], pct(s["study_ratio"]),
                     yes(s["meets_ATT3"]), f"{s['checks_passed']}/{s['checks_due']}", pct(s["attendance_rate"]),
                     yes(s["meets_ATT4"]), f"{s['absences']}/{s['leaves']}" + (f"（上限 {limit}）" if limit is not None else ""),
                     "否 barred" if s["barred"] else ("是" if limit is not None else "不适用 n/a")])
    return rows


def render(data: dict) -> bytes:
    st = styles()
    c = data["class"]
    title = f"{c['name']} 考勤报告 Attendance report (ATT-2)"
    story = [Paragraph(esc(title), st["title"]), facts_table(header_pairs(data), st), Spacer(1, 6),
             Paragraph("学员考勤汇总 Per-student attendance", st["h2"]),
             data_table(HEADER, student_rows(data), WIDTHS, st), Spacer(1, 4),
             Paragraph(esc("说明 Notes：ATT-3 学时比例 = 学员有效直播学时 ÷ 讲师直播总时长（直播与线下课次；录播另计）；"
                           "ATT-4 出勤率 = 通过的人脸/签到核验次数 ÷ 应核验次数；达标线取自班期所在地区政策，含等于。"
                           "CLS-7 缺勤、请假按课次判定，超过上限者不得参加结业考核。"
                           "ATT-3 ratio = credited live study ÷ lecturer live time; ATT-4 rate = checks passed ÷ due; "
                           "thresholds from the class's region profile, inclusive."), st["note"]),
             Spacer(1, 8)]
    story.append(Table([[charts.rate_histogram(data["histogram"]), charts.presence_curve(data["presence"])]]))
    if data["presence"]:
        story += [Paragraph("每课次出勤 Presence per lesson", st["h2"]),
                  data_table(("课次 No.", "课程内容 Lesson", "方式 Mode", "开始 Starts", "出勤人数 Present",
                              "在册 Enrolled", "出勤比例 Share"),
                             [[p["no"], p["title"], MODE_ZH.get(p["mode"], p["mode"]), p["starts_at"], p["present"],
                               p["enrolled"], pct(p["share"])] for p in data["presence"]],
                             (16, 90, 20, 50, 22, 22, 22), st)]
    return build(story, title=title)
