"""The screening pipeline (LIVE-5): pluggable steps, each ``(text) -> list[Match]``.

A :class:`Screener` runs its steps and holds the text back when any step matched. Today there
is one step, :class:`WordStep`, the word list; an audio-transcript or image-OCR step joins by
being appended (``Screener.with_step``) — the verdict and the warnings do not change shape.

The word step, built once per word-list version (:class:`ScreenerCache`), matches two ways:

* **Characters.** Every word containing a Chinese character is folded (server/screening/
  normalise.py) into one trie-shaped regex run over the folded text, so ``赌*博``, ``賭博`` and
  ``赌 博`` match ``赌博`` in one C-speed pass — no per-word loop over the text.
* **Latin tokens.** The full pinyin of every word of two or more characters (``dubo``), the
  initials of words of three or more (``ffjz`` for 非法集资), the Latin aliases of the default
  list (``db`` for 赌博) and list words written in Latin letters match only whole tokens: a run
  of consecutive tokens separated by nothing but dropped characters, so ``d b``, ``du-bo`` and
  ``DB`` hit while ``dbms`` and ``dubois`` do not. Two-letter initials are not derived: they
  collide with everyday abbreviations (SD 卡, DP, DM) and with other words' initials.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, NamedTuple, Sequence

from sqlalchemy.orm import Session

from server.screening import wordlist
from server.screening.normalise import SEPARATOR, Normalised, fold, normalise
from server.screening.wordlist import Word

LATIN = re.compile(r"[a-z0-9]+")
_SEP = re.compile(SEPARATOR)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff]")
MIN_INITIALS_CHARS = 3


class Match(NamedTuple):  # a tuple: cheap to make, hash and sort
    word: str  # the list word
    category: str
    start: int  # [start, end) in the screened text
    end: int
    text: str  # what the writer wrote there
    via: str  # text | pinyin | initials | alias | latin | a later step's name

    def to_dict(self) -> dict:
        return {"word": self.word, "category": self.category, "start": self.start, "end": self.end,
                "text": self.text, "via": self.via}


@dataclass(frozen=True, slots=True)
class Verdict:
    held: bool
    matches: list[Match] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"held": self.held, "matches": [m.to_dict() for m in self.matches]}


Step = Callable[[str], list[Match]]


@lru_cache(maxsize=4096)
def pinyin_forms(word: str) -> tuple[tuple[str, str], ...]:
    """``赌博`` → ``(("dubo", "pinyin"),)``; initials too for three characters or more."""
    key = fold(word)
    hanzi = len(_CJK.findall(key))
    if hanzi == 0 or len(key) < 2:
        return ()
    from pypinyin import Style, lazy_pinyin  # imported on first build: its dictionaries are large
    forms: dict[str, str] = {}
    full = fold("".join(lazy_pinyin(key)))
    for f in {full, full.replace("v", "u")}:  # 绿 is "lv" in pypinyin; people also type "lu"
        if LATIN.fullmatch(f) and not f.isdigit():
            forms[f] = "pinyin"
    if hanzi >= MIN_INITIALS_CHARS:
        initials = fold("".join(lazy_pinyin(key, style=Style.FIRST_LETTER)))
        if LATIN.fullmatch(initials) and len(initials) >= MIN_INITIALS_CHARS:
            forms.setdefault(initials, "initials")
    return tuple(forms.items())


def _alternatives(node: dict, *, first: str = "") -> str:
    branches = [re.escape(ch) + first.format(re.escape(ch)) + _after(child)
                for ch, child in sorted(node.items()) if ch]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _after(node: dict) -> str:
    """What may follow a matched character: dropped characters (spaces in the spaced text), then more."""
    if not any(node):  # only the end marker ""
        return ""
    rest = SEPARATOR + "*" + _alternatives(node)
    return f"(?:{rest})?" if "" in node else rest


def trie_regex(keys: Iterable[str], *, token_edges: bool = False) -> re.Pattern | None:
    """One regex shaped like a trie of ``keys`` over folded text (normalise.Normalised): at each
    position at most one branch per next character, separators allowed between characters.
    ``token_edges``: the match must start and end at a Latin token's edges."""
    trie: dict = {}
    for k in keys:
        node = trie
        for ch in k:
            node = node.setdefault(ch, {})
        node[""] = True
    if not trie:
        return None
    if not token_edges:
        return re.compile(_alternatives(trie))
    # The start edge is checked after the first character ("d, not preceded by a letter or digit
    # and d"): a look-behind in front would stop the engine skipping to possible first characters.
    return re.compile(_alternatives(trie, first="(?<![a-z0-9]{})") + "(?![a-z0-9])")


class WordStep:
    """The word list as a screening step; immutable once built."""

    name = "words"

    def __init__(self, words: Iterable[Word]):
        words = list(words)
        self.chars: dict[str, tuple[str, str]] = {}  # folded word -> (word, category)
        self.latin: dict[str, tuple[str, str, str]] = {}  # Latin form -> (word, category, via)
        for w in words:
            key = w.key
            if not key:
                continue
            if LATIN.fullmatch(key):
                continue  # Latin list words are explicit forms, added below so they win
            self.chars[key] = (w.word, w.category)
            for form, via in pinyin_forms(w.word):
                self.latin.setdefault(form, (w.word, w.category, via))
        for w in words:
            if LATIN.fullmatch(w.key):
                self.latin[w.key] = (w.word, w.category, "latin")
            for a in w.aliases:
                if LATIN.fullmatch(fold(a)):
                    self.latin[fold(a)] = (w.word, w.category, "alias")
        self.chars_re = trie_regex(self.chars)
        self.latin_re = trie_regex(self.latin, token_edges=True)

    def __call__(self, text: str) -> list[Match]:
        return self.scan(normalise(text))

    def scan(self, n: Normalised) -> list[Match]:
        out: list[Match] = []
        for regex, table in ((self.chars_re, self.chars), (self.latin_re, self.latin)):
            if regex is not None:
                out.extend(self._match(n, m, table[_SEP.sub("", m.group())]) for m in regex.finditer(n.folded))
        return out

    @staticmethod
    def _match(n: Normalised, m: re.Match, hit: tuple) -> Match:
        start, end = n.folded_span(m.start(), m.end())
        return Match(hit[0], hit[1], start, end, n.original[start:end], hit[2] if len(hit) > 2 else "text")


class Screener:
    """Runs its steps; any match holds the text back (LIVE-5)."""

    def __init__(self, steps: Sequence[Step], version: str = ""):
        self.steps = tuple(steps)
        self.version = version

    def with_step(self, step: Step) -> "Screener":
        return Screener((*self.steps, step), self.version)

    def screen(self, text: str) -> Verdict:
        if not text:
            return Verdict(False, [])
        found: list[Match] = []
        for step in self.steps:
            found.extend(step(text))
        if not found:
            return Verdict(False, [])
        unique = sorted(set(found), key=lambda m: (m.start, -m.end, m.word, m.via))
        return Verdict(True, unique)


def build_screener(words: Iterable[Word], *, version: str = "", extra_steps: Sequence[Step] = ()) -> Screener:
    return Screener((WordStep(words), *extra_steps), version)


def screener_from_db(s: Session, *, extra_steps: Sequence[Step] = ()) -> Screener:
    """A fresh screener from the current list (admin preview, one-off uploads)."""
    wl = wordlist.load(s)
    return build_screener(wl.words, version=wl.version, extra_steps=extra_steps)


class ScreenerCache:
    """One screener per word-list version, shared by whoever holds this cache (e.g. the room hub).

    The list's version is read from the database at most every ``check_every`` seconds, so an
    admin's edit reaches every node within that time without a query per chat message; the
    automaton is rebuilt only when the version changed. ``invalidate()`` forces the next check.
    """

    def __init__(self, check_every: float = 1.0, *, extra_steps: Sequence[Step] = (),
                 clock: Callable[[], float] = time.monotonic):
        self.check_every = check_every
        self.extra_steps = tuple(extra_steps)
        self._clock = clock
        self._lock = threading.Lock()
        self._screener: Screener | None = None
        self._checked = float("-inf")

    def get(self, s: Session) -> Screener:
        now = self._clock()
        with self._lock:
            if self._screener is not None and now - self._checked < self.check_every:
                return self._screener
        wl = wordlist.load(s)
        with self._lock:
            if self._screener is None or self._screener.version != wl.version:
                self._screener = build_screener(wl.words, version=wl.version, extra_steps=self.extra_steps)
            self._checked = now
            return self._screener

    def screen(self, s: Session, text: str) -> Verdict:
        return self.get(s).screen(text)

    def invalidate(self) -> None:
        with self._lock:
            self._checked = float("-inf")
