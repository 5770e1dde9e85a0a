"""Question bank rules (EXAM-1): what a valid question and a valid student response look like.

Options are labelled A, B, C… in order. Keys: single ``"B"``, multiple ``["A", "C"]`` (sorted,
at least two options are right — otherwise it is a single-choice question), true/false ``true``,
short an optional reference text for the grader. A student's response has the same shape; ``null``
clears it. Every refusal is a bilingual 422 naming the field.
"""
from __future__ import annotations

from typing import Any

from server.errors import ApiError

RULE = "EXAM-1"
KINDS = ("single", "multiple", "truefalse", "short")
LABELS = "ABCDEFGH"
MIN_OPTIONS, MAX_OPTIONS = 2, len(LABELS)
MAX_SHORT_ANSWER = 5000


def _bad(code: str, zh: str, en: str, field: str) -> ApiError:
    return ApiError(code, zh, en, field=field, status=422, rule=RULE)


def labels(options: list[str]) -> list[str]:
    return list(LABELS[:len(options)])


def check_question(kind: str, options: list[str], answer: Any) -> tuple[list[str], Any]:
    """The options and key to store, or a 422 naming ``options`` or ``answer``."""
    if kind in ("single", "multiple"):
        if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
            raise _bad("EXAM_OPTIONS_COUNT", f"选择题须有 {MIN_OPTIONS}–{MAX_OPTIONS} 个选项",
                       f"A choice question needs {MIN_OPTIONS}–{MAX_OPTIONS} options", "options")
        texts = [o.strip() for o in options]
        if any(not t for t in texts):
            raise _bad("EXAM_OPTION_EMPTY", "选项内容不能为空", "An option cannot be empty", "options")
        if len(set(texts)) != len(texts):
            raise _bad("EXAM_OPTION_DUPLICATE", "选项内容不能重复", "Two options have the same text", "options")
        allowed = labels(texts)
        if kind == "single":
            if not isinstance(answer, str) or answer.strip().upper() not in allowed:
                raise _bad("EXAM_KEY_NOT_AN_OPTION", f"单选题答案须是选项之一（{'/'.join(allowed)}）",
                           f"A single-choice key must be one of its options ({'/'.join(allowed)})", "answer")
            return texts, answer.strip().upper()
        if not isinstance(answer, list) or not all(isinstance(a, str) for a in answer):
            raise _bad("EXAM_KEY_SHAPE", "多选题答案须是选项字母的数组，如 [\"A\", \"C\"]",
                       "A multiple-choice key is a list of option letters, e.g. [\"A\", \"C\"]", "answer")
        key = sorted({a.strip().upper() for a in answer})
        if any(a not in allowed for a in key):
            raise _bad("EXAM_KEY_NOT_AN_OPTION", f"多选题答案须都是选项（{'/'.join(allowed)}）",
                       f"Every multiple-choice key must be one of its options ({'/'.join(allowed)})", "answer")
        if len(key) < 2:
            raise _bad("EXAM_KEY_TOO_FEW", "多选题至少有两个正确选项（只有一个请用单选题）",
                       "A multiple-choice key needs at least two options (use single choice for one)", "answer")
        return texts, key
    if options:
        raise _bad("EXAM_OPTIONS_NOT_ALLOWED", "判断题和简答题没有选项", "True/false and short questions take no options",
                   "options")
    if kind == "truefalse":
        if not isinstance(answer, bool):
            raise _bad("EXAM_KEY_SHAPE", "判断题答案须是 true 或 false", "A true/false key is true or false", "answer")
        return [], answer
    if answer is None:
        return [], ""
    if not isinstance(answer, str) or len(answer) > MAX_SHORT_ANSWER:
        raise _bad("EXAM_KEY_SHAPE", f"简答题参考答案须是不超过 {MAX_SHORT_ANSWER} 字的文本",
                   f"A short question's reference answer is text of at most {MAX_SHORT_ANSWER} characters", "answer")
    return [], answer.strip()


def check_response(kind: str, options: list[str], response: Any, field: str = "response") -> Any:
    """A student's response normalised like a key (letters upper-cased, multiple sorted); None clears."""
    if response is None:
        return None
    allowed = labels(options)
    if kind == "single":
        if isinstance(response, str) and response.strip().upper() in allowed:
            return response.strip().upper()
        raise _bad("EXAM_RESPONSE_INVALID", f"请选择一个选项（{'/'.join(allowed)}）",
                   f"Choose one option ({'/'.join(allowed)})", field)
    if kind == "multiple":
        if isinstance(response, list) and all(isinstance(a, str) for a in response):
            picked = sorted({a.strip().upper() for a in response})
            if all(a in allowed for a in picked):
                return picked
        raise _bad("EXAM_RESPONSE_INVALID", f"请选择选项字母的数组（{'/'.join(allowed)}）",
                   f"Send a list of option letters ({'/'.join(allowed)})", field)
    if kind == "truefalse":
        if isinstance(response, bool):
            return response
        raise _bad("EXAM_RESPONSE_INVALID", "判断题请回答 true 或 false", "Answer true or false", field)
    if isinstance(response, str) and len(response) <= MAX_SHORT_ANSWER:
        return response
    raise _bad("EXAM_RESPONSE_INVALID", f"简答题请作答不超过 {MAX_SHORT_ANSWER} 字的文本",
               f"A short answer is text of at most {MAX_SHORT_ANSWER} characters", field)
