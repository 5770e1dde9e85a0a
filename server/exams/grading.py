"""Grading (EXAM-1): objective questions automatically, short answers by the grader, pass mark.

Multiple choice is all-or-nothing: the exact set of right options, nothing missing and nothing
extra. A result is final only when every short answer has the grader's points.
"""
from __future__ import annotations

from typing import Any


def auto_points(kind: str, key: Any, response: Any, points: float) -> float | None:
    """Points for an objective answer (0 when wrong or blank); None for a short answer."""
    if kind == "short":
        return None
    if response is None:
        return 0.0
    if kind == "multiple":
        right = isinstance(response, list) and sorted(response) == sorted(key)
    elif kind == "truefalse":
        right = isinstance(response, bool) and response is key
    else:
        right = response == key
    return float(points) if right else 0.0


def passed(score: float, total: float, pass_mark_percent: int) -> bool:
    """Passed when score ≥ pass_mark % of the total (boundary inclusive), exact in integers."""
    return round(score * 100, 6) >= round(pass_mark_percent * total, 6)
