"""The spot-check draw (SUP-5): a reproducible, class-hour-weighted random sample of live lessons.

Seed 003 四（一）: district HR spot-checks the live video of "不低于直播培训课时 10%" — at least 10 % of
the live *class-hours*, so the draw counts class-hours, not lessons: it goes on drawing until the
drawn lessons' class-hours reach ``ceil(share × population class-hours)``.

Weighting: Efraimidis–Spirakis sampling without replacement — lesson *i* with weight *w* (its
class-hours) gets the key ``u_i ** (1 / w)``, ``u_i`` uniform in (0, 1), and lessons are taken by
descending key. Each class-hour therefore has about the same chance to be watched, whichever
lesson it sits in (a 4-hour lesson is about four times as likely as a 1-hour one).

Reproducibility: ``u_i`` comes from SHA-256(``seed:lesson_id``) — no process-wide random state — and
keys are compared exactly in integers (``u_i^w_j`` against ``u_j^w_i``), never as floats, so
:func:`draw` returns the same lessons in the same order on any machine, for the recorded seed and
population. The seed is made by the server (``secrets``), not chosen by the drawer.
"""
from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from functools import cmp_to_key

from recorder.signing import canonical, sha256_hex

ALGORITHM = "qihang-spotcheck-es-sha256/1"
DEFAULT_SHARE = 0.10  # SUP-5 when a profile sets none (seed 003's 10 %)
_BITS = 52
_N = 1 << _BITS


def share_fraction(share: float) -> Fraction:
    """0.1 as exactly 1/10 (the float's shortest decimal), so 10 % of 50 class-hours is 5, not 6."""
    return Fraction(repr(float(share)))


def target_class_hours(total: int, share: float) -> int:
    """The class-hours the draw must reach: ceil(share × total); at least 1 when there is anything."""
    if total <= 0:
        return 0
    return max(1, math.ceil(share_fraction(share) * total))


def population_hash(population: list[list[int]]) -> str:
    return sha256_hex(canonical(population))


def _u(seed: str, lesson_id: int) -> int:
    """An integer U in [1, 2^52]; u = U / 2^52 is uniform in (0, 1]."""
    digest = hashlib.sha256(f"{seed}:{int(lesson_id)}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> (64 - _BITS)) + 1


def _order(seed: str):
    def compare(a: tuple[int, int], b: tuple[int, int]) -> int:
        (ia, wa), (ib, wb) = a, b
        wa, wb = max(1, wa), max(1, wb)
        # key_a > key_b  ⇔  (Ua/N)^(1/wa) > (Ub/N)^(1/wb)  ⇔  Ua^wb · N^wa > Ub^wa · N^wb
        left = _u(seed, ia) ** wb * _N ** wa
        right = _u(seed, ib) ** wa * _N ** wb
        if left != right:
            return -1 if left > right else 1
        return -1 if ia < ib else (1 if ia > ib else 0)  # a tie (never in practice): lower id first
    return cmp_to_key(compare)


def draw(seed: str, population: list[list[int]], share: float) -> list[tuple[int, int]]:
    """The drawn ``(lesson_id, class_hours)`` in draw order: the highest keys until their class-hours
    reach :func:`target_class_hours`. ``population``: ``[[lesson_id, class_hours], ...]``."""
    pool = [(int(i), int(w)) for i, w in population]
    need = target_class_hours(sum(w for _, w in pool), share)
    out, got = [], 0
    for lesson_id, hours in sorted(pool, key=_order(seed)):
        if got >= need:
            break
        out.append((lesson_id, hours))
        got += hours
    return out
