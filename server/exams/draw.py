"""Drawing a paper from the bank (EXAM-1): seeded and reproducible.

The pool of each kind is sorted by question id and sampled with ``random.Random`` seeded by
:data:`ALGORITHM` and the paper's seed, kinds in :data:`bank.KINDS` order; the same seed and the
same pool always give the same paper, so anyone may re-run a draw and check it.
"""
from __future__ import annotations

import random

from server.exams.bank import KINDS

ALGORITHM = "exam-draw-v1"


class PoolTooSmall(Exception):
    def __init__(self, kind: str, wanted: int, available: int):
        super().__init__(f"{kind}: wanted {wanted}, {available} available")
        self.kind, self.wanted, self.available = kind, wanted, available


def draw(seed: str, pool: dict[str, list[tuple[int, int]]], counts: dict[str, int]) -> list[list[int]]:
    """``pool``: kind → [(question_id, points)]; returns [[question_id, points], ...] in paper order."""
    rng = random.Random(f"{ALGORITHM}:{seed}")
    items: list[list[int]] = []
    for kind in KINDS:
        n = counts.get(kind, 0)
        if n <= 0:
            continue
        candidates = sorted(pool.get(kind, []))
        if len(candidates) < n:
            raise PoolTooSmall(kind, n, len(candidates))
        items.extend([qid, pts] for qid, pts in rng.sample(candidates, n))
    return items
