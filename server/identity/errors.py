"""The one error type of the identity package, bilingual so the API can return it as-is (HTTP 422)."""
from __future__ import annotations


class IdentityError(ValueError):
    """A refused identity value: ``code`` for machines, ``field`` for forms, a message per language.

    It subclasses ValueError so plain callers (CLI, demo data) can treat it as bad input; the API
    layer turns it into ``{"error": {"code", "field", "message_zh", "message_en"}}`` with status 422.
    ``rule`` optionally names the requirement (e.g. "REG-1") the check enforces.
    """

    def __init__(self, code: str, message_zh: str, message_en: str, field: str | None = None,
                 *, rule: str | None = None):
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.field = field
        self.message_zh = message_zh
        self.message_en = message_en
        self.rule = rule

    def __repr__(self) -> str:
        return f"IdentityError({self.code!r}, field={self.field!r})"
