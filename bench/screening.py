"""LIVE-5 screening cost per message: the variant-matching screener against a naive exact search.

Every chat line, question, answer and private message of a live room passes the screener before
anyone sees it, so its cost is paid per line on the event loop's worker threads. Measured here on
500-character messages: ordinary Chinese classroom chat, English text, a message that hits (full
width, inserted symbols, pinyin), and a worst case of unusual characters (ß, ①, ǔ, ﬁ: every one
folds). Baseline, in the same run: ``word in text`` for every list word on the raw text — what a
screener without variants costs (and it misses every disguised hit).

    python -m bench.screening [--quick]

Prints µs per message for each, the ratio to the baseline, and messages per second per core. The
last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import time

from server.screening import build_screener, default_words


def per_call(fn, text: str, n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn(text)
        best = min(best, (time.perf_counter() - t) / n)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n = 200 if a.quick else 2000
    words = default_words()
    t = time.perf_counter()
    screener = build_screener(words)
    build_ms = (time.perf_counter() - t) * 1000
    plain = [w.word for w in words]

    def naive(text: str) -> bool:
        return any(w in text for w in plain)

    body = "同学们好，今天讲网店运营：选品、定价、推广与客服。大家有问题可以在讨论区提问，课下再说。"
    texts = {
        "chinese_chat": (body * 20)[:500],
        "english": ("Our business plan covers marketing, pricing and the team behind it. " * 10)[:500],
        "disguised_hit": ((body * 20)[:480] + "加我玩ｄｕ*ｂｏ稳赚"),
        "unusual_chars": ("ßǔ①ﬁ" * 125)[:500],
    }
    out = {"bench": "screening", "quick": a.quick, "words": len(words), "build_ms": round(build_ms, 1)}
    for name, text in texts.items():
        ours, base = per_call(screener.screen, text, n), per_call(naive, text, n)
        out[name] = {"us": round(ours * 1e6, 1), "naive_us": round(base * 1e6, 1), "ratio": round(ours / base, 1),
                     "held": screener.screen(text).held, "naive_held": naive(text),
                     "per_s_per_core": int(1 / ours)}
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
