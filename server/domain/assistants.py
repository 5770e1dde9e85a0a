"""Assistant groups (CLS-3, LIVE-4): each assistant serves 20–30 students one to one.

A strict 20–30 split is impossible for some roster sizes (35 students: one group is too big, two
are too small), so the rule applied is: no group above the maximum; as few assistants as needed
up to as many as keep groups at the minimum; and groups as even as that count allows.
"""
from __future__ import annotations

from math import ceil


def group_count_bounds(n: int, min_size: int, max_size: int) -> tuple[int, int]:
    """How many assistants a roster of ``n`` may have."""
    if n <= 0:
        return 0, 0
    least = ceil(n / max_size)
    return least, max(least, n // min_size)


def group_problems(sizes: list[int], n: int, min_size: int, max_size: int) -> list[tuple[str, str, str]]:
    """(code, zh, en) for each way ``sizes`` (students per assistant) breaks the rule."""
    problems = []
    least, most = group_count_bounds(n, min_size, max_size)
    if sum(sizes) != n:
        problems.append(("STUDENTS_WITHOUT_ASSISTANT", f"有 {n - sum(sizes)} 名学员未分配助教",
                         f"{n - sum(sizes)} student(s) have no assistant"))
    groups = len([s for s in sizes if s > 0])
    if n and not least <= groups <= most:
        problems.append(("ASSISTANT_COUNT", f"{n} 名学员应配备 {least}–{most} 名助教（每人 {min_size}–{max_size} 名），现为 {groups} 名",
                         f"{n} students need {least}–{most} assistants ({min_size}–{max_size} each); found {groups}"))
    floor_size = min(min_size, n // groups) if groups else 0
    for size in sizes:
        if size > max_size:
            problems.append(("ASSISTANT_GROUP_TOO_LARGE", f"一名助教负责 {size} 名学员，超过 {max_size} 名",
                             f"An assistant has {size} students, more than {max_size}"))
        elif 0 < size < floor_size:
            problems.append(("ASSISTANT_GROUP_TOO_SMALL", f"一名助教仅负责 {size} 名学员，少于 {floor_size} 名",
                             f"An assistant has only {size} students, fewer than {floor_size}"))
    return problems


def balanced_split(student_ids: list[int], assistant_ids: list[int]) -> dict[int, list[int]]:
    """Deal students to assistants round-robin so group sizes differ by at most one."""
    groups: dict[int, list[int]] = {a: [] for a in assistant_ids}
    for i, sid in enumerate(sorted(student_ids)):
        groups[assistant_ids[i % len(assistant_ids)]].append(sid)
    return groups
