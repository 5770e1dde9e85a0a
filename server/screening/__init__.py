"""Sensitive-content screening (LIVE-5): chat, Q&A, uploads and later audio transcripts.

``ScreenerCache.get(session).screen(text)`` gives a :class:`Verdict`; a held text is kept from
students, shown to the lecturer, and recorded as a content warning for supervisors
(server/api/screening.py: ``record_warning``, ``screen_upload``).
"""
from server.screening.normalise import Normalised, fold  # (normalise() itself: from its module, same name)
from server.screening.screener import (Match, Screener, ScreenerCache, Step, Verdict, WordStep, build_screener,
                                       pinyin_forms, screener_from_db)
from server.screening.wordlist import Word, WordList, default_words

__all__ = ["Match", "Normalised", "Screener", "ScreenerCache", "Step", "Verdict", "Word", "WordList", "WordStep",
           "build_screener", "default_words", "fold", "pinyin_forms", "screener_from_db"]
