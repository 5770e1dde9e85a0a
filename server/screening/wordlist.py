"""The active sensitive-word list (LIVE-5): the packaged default merged with the database's rows.

The default (``default_words.txt`` beside this file) ships a modest list by category so a fresh
install screens from the start. Platform admins edit the table ``sensitive_words``: a row adds a
word, and a row for a default word (compared after folding, so 賭博 is 赌博) overrides it —
another category, or ``active = false`` to switch it off. Deleting the row restores the default.

:func:`load` returns the active words with a version hash over the default file and the rows,
so a screener is rebuilt only when the list really changed (server/screening/screener.py).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import SensitiveWord
from server.screening.normalise import fold

DEFAULT_FILE = Path(__file__).with_name("default_words.txt")
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    category: str
    aliases: tuple[str, ...] = ()  # Latin spellings matched as standalone tokens (default file only)
    source: str = "default"  # default | custom (a database row)
    id: int | None = None  # the database row, if any
    active: bool = True

    @property
    def key(self) -> str:
        return fold(self.word)


@dataclass(frozen=True, slots=True)
class WordList:
    words: tuple[Word, ...]  # active words only
    version: str


def parse(text: str) -> tuple[Word, ...]:
    """``[category]`` headers, then one ``word`` or ``word = alias alias`` a line; ``#`` comments."""
    words: list[Word] = []
    category = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            category = line[1:-1].strip()
            if not CATEGORY_RE.match(category):
                raise ValueError(f"line {n}: bad category {category!r}")
            continue
        if category is None:
            raise ValueError(f"line {n}: word before any [category]")
        word, _, aliases = line.partition("=")
        if not fold(word):
            raise ValueError(f"line {n}: empty word")
        words.append(Word(word.strip(), category, tuple(aliases.split())))
    return tuple(words)


@cache
def _default() -> tuple[tuple[Word, ...], str]:
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    return parse(text), hashlib.sha256(text.encode()).hexdigest()


def default_words() -> tuple[Word, ...]:
    return _default()[0]


def merge(defaults: tuple[Word, ...], rows: list[SensitiveWord]) -> list[Word]:
    """Every word, active or not: a row overrides the default word with the same folded key."""
    by_key: dict[str, Word] = {w.key: w for w in defaults}
    for r in rows:
        key = fold(r.word)
        if not key:
            continue
        base = by_key.get(key)
        by_key[key] = Word(r.word, r.category, base.aliases if base else (), "custom", r.id, bool(r.active))
    return list(by_key.values())


def _rows(s: Session) -> list[SensitiveWord]:
    return list(s.scalars(select(SensitiveWord).order_by(SensitiveWord.id)))


def version_of(rows: list[SensitiveWord]) -> str:
    h = hashlib.sha256(_default()[1].encode())
    for r in rows:
        h.update(f"\x1e{r.id}\x1f{r.word}\x1f{r.category}\x1f{int(bool(r.active))}".encode())
    return h.hexdigest()[:16]


def load(s: Session) -> WordList:
    rows = _rows(s)
    words = tuple(w for w in merge(default_words(), rows) if w.active)
    return WordList(words, version_of(rows))


def listing(s: Session) -> tuple[list[Word], str]:
    """Every word with its source and state, for the admin page; and the list's version."""
    rows = _rows(s)
    return merge(default_words(), rows), version_of(rows)


def find_row(s: Session, word: str) -> SensitiveWord | None:
    """The row whose word folds like ``word`` (the list is modest: one scan)."""
    key = fold(word)
    return next((r for r in _rows(s) if fold(r.word) == key), None)
