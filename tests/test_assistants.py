"""Assistant group rules (CLS-3, LIVE-4): 20–30 students per assistant, as even as the roster allows."""
from __future__ import annotations

import pytest

from server.domain.assistants import balanced_split, group_count_bounds, group_problems


@pytest.mark.parametrize("n,bounds", [(0, (0, 0)), (15, (1, 1)), (25, (1, 1)), (30, (1, 1)), (35, (2, 2)),
                                      (45, (2, 2)), (60, (2, 3)), (200, (7, 10))])
def test_cls3_group_count_bounds(n, bounds):
    assert group_count_bounds(n, 20, 30) == bounds


@pytest.mark.parametrize("sizes,n,expected", [
    ([25], 25, set()),
    ([15], 15, set()),                       # a small class has one assistant
    ([31], 31, {"ASSISTANT_GROUP_TOO_LARGE", "ASSISTANT_COUNT"}),
    ([18, 17], 35, set()),                   # 35 cannot be split 20–30; even halves are accepted
    ([30, 5], 35, {"ASSISTANT_GROUP_TOO_SMALL"}),
    ([13, 12], 25, {"ASSISTANT_COUNT"}),     # one assistant suffices for 25
    ([20, 20, 20], 60, set()),
    ([30, 30], 60, set()),
    ([20, 20], 45, {"STUDENTS_WITHOUT_ASSISTANT"}),
    ([], 20, {"STUDENTS_WITHOUT_ASSISTANT", "ASSISTANT_COUNT"}),
])
def test_cls3_live4_group_problems(sizes, n, expected):
    assert {code for code, _, _ in group_problems(sizes, n, 20, 30)} == expected


def test_balanced_split_differs_by_at_most_one():
    groups = balanced_split(list(range(1, 48)), [100, 200])
    assert sorted(len(v) for v in groups.values()) == [23, 24]
    assert sorted(sum(groups.values(), [])) == list(range(1, 48))
