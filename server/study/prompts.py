"""Human-machine prompts (ATT-5, PLAT-1): when the server asks, what it asks, and how it judges.

Each student's n-th prompt in a lesson is drawn from a generator seeded with an HMAC of
(lesson, student, n) under the master key's blind-index subkey: every app node draws the same
interval, question and snapshot choice without sharing any state, and without the key nobody —
the page included — can tell in advance when the next prompt comes or what it asks.

* **When**: after a random amount of *watching* (playing, page visible) since the last prompt
  closed, uniform in ``interval`` (settings ``study_prompt_seconds``, default 5–15 minutes). A
  prompt that failed (wrong, late, missed) or a failed face check is followed by a retry at once.
* **What**: tap a named digit among ten shuffled ones, or tap the sum of two digits among four
  choices — tappable on a phone, no keyboard. The first prompt of a lesson, every retry after a
  failed face check and a random share (``study_face_share``) of the others also take a camera
  snapshot for a face check; a share of 0 turns snapshots off.
* **Judging**: the answer must equal the expected choice and arrive before the deadline (the
  window, default 60 s, plus ``ANSWER_GRACE`` for the trip over the network).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from server.attendance.recordedstudy import ANSWER_GRACE  # noqa: F401 - the rule and its judge share one grace

TYPES = ("digit", "sum")
PURPOSE = "study-prompt"


@dataclass(frozen=True)
class PromptPlan:
    n: int
    interval_s: float  # watching time to wait for, since the previous prompt closed
    type: str
    question_zh: str
    question_en: str
    choices: tuple[str, ...]
    answer: str
    snapshot: bool  # also take a camera snapshot for a face check (before retry rules)


def seed(cipher, lesson_id: int, user_id: int, n: int) -> int:
    return int(cipher.blind_index(f"{lesson_id}:{user_id}:{n}", purpose=PURPOSE), 16)


def draw(seed_value: int, n: int, *, interval: tuple[float, float], face_share: float) -> PromptPlan:
    """The n-th prompt of the generator ``seed_value`` (see ``seed``)."""
    rng = random.Random(seed_value)
    lo, hi = interval
    wait = rng.uniform(lo, hi)
    kind = rng.choice(TYPES)
    if kind == "digit":
        target = rng.randint(0, 9)
        choices = [str(d) for d in range(10)]
        rng.shuffle(choices)
        zh, en, answer = f"请点击数字 {target}", f"Tap the number {target}", str(target)
    else:
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        total = a + b
        others = rng.sample([v for v in range(max(0, total - 5), total + 6) if v != total], 3)
        choices = [str(v) for v in others + [total]]
        rng.shuffle(choices)
        zh, en, answer = f"{a} + {b} = ？请点击正确答案", f"What is {a} + {b}? Tap the answer", str(total)
    snapshot = face_share > 0 and (n == 0 or rng.random() < face_share)
    return PromptPlan(n, round(wait, 3), kind, zh, en, tuple(choices), answer, snapshot)


def judge(expected: str, given: str | None) -> bool:
    return given is not None and given.strip() == expected
