"""The two pictures the attendance report carries, as ReportLab drawings (ATT-2).

People look rather than read for two things: how the class's ATT-4 attendance rates spread
(a histogram) and how many students were present lesson by lesson (a presence curve). Both are
vector drawings set in the CJK font, placed in the PDF by attendancepdf.py. The workbook draws the
same series with Excel's own charts (workbook.py).
"""
from __future__ import annotations

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors

from server.documents.fonts import cjk_font

WIDTH, HEIGHT = 360, 200
BAR = colors.HexColor("#2f6fb0")
LINE = colors.HexColor("#c0392b")


def _title(d: Drawing, text: str) -> None:
    d.add(String(WIDTH / 2, HEIGHT - 14, text, fontName=cjk_font().name, fontSize=10, textAnchor="middle"))


def rate_histogram(histogram: list[dict]) -> Drawing:
    """Students per 10 % bin of attendance rate (ATT-4), plus those with no check due."""
    font = cjk_font().name
    d = Drawing(WIDTH, HEIGHT)
    _title(d, "出勤率分布 Attendance-rate distribution (ATT-4)")
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 40, WIDTH - 60, HEIGHT - 70
    chart.data = [[b["count"] for b in histogram]]
    chart.categoryAxis.categoryNames = [b["label"].replace("无签到 none", "无") for b in histogram]
    chart.categoryAxis.labels.fontName, chart.categoryAxis.labels.fontSize = font, 6
    chart.categoryAxis.labels.angle, chart.categoryAxis.labels.boxAnchor = 30, "ne"
    chart.valueAxis.labels.fontName, chart.valueAxis.labels.fontSize = font, 7
    chart.valueAxis.valueMin = 0
    top = max([b["count"] for b in histogram] + [1])
    chart.valueAxis.valueMax = top
    chart.valueAxis.valueStep = max(1, -(-top // 5))
    chart.bars[0].fillColor = BAR
    d.add(chart)
    d.add(String(12, HEIGHT / 2, "人数", fontName=font, fontSize=7))
    return d


def presence_curve(presence: list[dict]) -> Drawing:
    """The share of enrolled students present (CLS-7 "present") in each lesson held, in per cent."""
    font = cjk_font().name
    d = Drawing(WIDTH, HEIGHT)
    _title(d, "每课次出勤 Presence per lesson (%)")
    points = [(p["no"], round((p["share"] or 0) * 100, 1)) for p in presence] or [(1, 0)]
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 40, 35, WIDTH - 60, HEIGHT - 65
    plot.data = [points]
    plot.lines[0].strokeColor, plot.lines[0].strokeWidth = LINE, 1.5
    plot.lines[0].symbol = makeMarker("FilledCircle", size=3)
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 1, max(2, len(points))
    plot.xValueAxis.valueStep = max(1, -(-len(points) // 12))
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax, plot.yValueAxis.valueStep = 0, 100, 20
    for axis in (plot.xValueAxis, plot.yValueAxis):
        axis.labels.fontName, axis.labels.fontSize = font, 7
    d.add(plot)
    d.add(String(WIDTH / 2, 8, "课次 lesson no.", fontName=font, fontSize=7, textAnchor="middle"))
    return d
