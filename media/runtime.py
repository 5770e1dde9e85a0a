"""How a media process runs: the event loop the server uses, and a garbage collector that does
not stall forwarding.

uvicorn (``uvicorn[standard]``) serves on uvloop when it is installed, so the benchmarks' SFU
processes run on it too: they measure what ships.

Garbage collection: a lesson's SFU holds a few hundred peer connections, each thousands of
long-lived objects. CPython's full collection walks all of them; measured in bench/lesson_load,
such passes paused the loop for up to ~440 ms, the whole of the p99 latency. ``tune_gc`` moves what
exists at start-up (modules, the app) out of the collector's sight and makes collections rarer;
the packet caches hold only immutable values (see media/packetcache.py), which the collector drops
from tracking, and receivers drop aiortc's unused estimator (``ingress.drop_estimator``).
"""
from __future__ import annotations

import asyncio
import gc
import os
from typing import Any, Coroutine

# A packet's short-lived objects die by reference count, so young collections find little; the
# default (700, 10, 10) ran full passes over every connection's state twice in 20 s of a 200-student
# lesson (150 ms each, p99 224 ms); these thresholds ran none (p99 89 ms, bench/lesson_load).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Call once the process has imported what it needs, before serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run`` on uvloop when installed (as uvicorn chooses), else the stock loop.
    ``QIHANG_LOOP=asyncio`` picks the stock loop (to compare the two)."""
    if os.environ.get("QIHANG_LOOP") == "asyncio":
        return asyncio.run(main)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
