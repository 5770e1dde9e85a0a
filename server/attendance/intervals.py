"""Time spans as sorted lists of half-open [start, end) pairs: union, intersection, difference.

Every attendance figure is a length of such a list (ATT-3 study time = connected ∩ lecturer live
∩ page visible ∩ camera on ∩ face verified), so these few operations carry the arithmetic and
are tested on their own (reconnects, overlaps, lesson boundaries).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

Span = tuple[datetime, datetime]


def normalise(spans: Iterable[Span]) -> list[Span]:
    """Sorted, without empty spans, overlapping or touching spans merged."""
    out: list[list[datetime]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1][1] = end
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def intersect(a: Iterable[Span], b: Iterable[Span]) -> list[Span]:
    a, b = normalise(a), normalise(b)
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if end > start:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Span], b: Iterable[Span]) -> list[Span]:
    """The parts of ``a`` outside every span of ``b``."""
    out: list[Span] = []
    b = normalise(b)
    for start, end in normalise(a):
        cursor = start
        for bs, be in b:
            if be <= cursor or bs >= end:
                continue
            if bs > cursor:
                out.append((cursor, bs))
            cursor = max(cursor, be)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def clip(spans: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    return intersect(spans, [(start, end)])


def total(spans: Iterable[Span]) -> timedelta:
    return sum((e - s for s, e in normalise(spans)), timedelta(0))
