"""What the media benchmarks share: an SFU process and a load process run side by side, a measured
window between them, the synthetic camera, and percentiles.

Both processes start with ``spawn``, die with the parent (PR_SET_PDEATHSIG) and are pinned to one
core each; they talk over a Pipe (``Channel`` on the asyncio side). The window protocol: the load
process sends ``win_start``/``win_end``; the SFU answers ``stats`` with its own CPU and counters.
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import time
import traceback
from typing import Callable, Coroutine


def run_pair(sfu_entry: Callable, sfu_args: tuple, load_entry: Callable, load_args: tuple, timeout: float) -> dict:
    """Run ``sfu_entry(conn, *sfu_args)`` and ``load_entry(conn, result_conn, *load_args)``; return
    what the load process sends on ``result_conn`` (or ``{"error": ...}``), then stop both."""
    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    res_recv, res_send = ctx.Pipe(duplex=False)
    # not a daemon: an SFU may start worker processes of its own (face checks); it is stopped below
    # and dies with the parent anyway (PR_SET_PDEATHSIG in the children's setup)
    sfu = ctx.Process(target=sfu_entry, args=(a, *sfu_args), daemon=False)
    cli = ctx.Process(target=load_entry, args=(b, res_send, *load_args), daemon=True)
    sfu.start()
    cli.start()
    result: dict = {"error": "timeout"}
    try:
        if res_recv.poll(timeout):
            result = res_recv.recv()
    except (EOFError, OSError) as exc:
        result = {"error": repr(exc)}
    finally:
        for p in (cli, sfu):
            p.join(2)
            if p.is_alive():
                p.terminate()
                p.join(2)
            if p.is_alive():
                p.kill()
                p.join(2)
        for c in (a, b, res_recv, res_send):
            c.close()
    return result


def load_main(result_conn, work: Coroutine) -> None:
    """Body of a load process: run ``work``, send its result (or the error) to the parent, leave
    without waiting for aiortc's threads."""
    try:
        result = asyncio.run(work)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, printed for the operator
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        result_conn.send(result)
    finally:
        os._exit(0)


async def measured_window(ch, st: dict, window: float, stats_future: asyncio.Future) -> tuple[dict, float]:
    """Open the window (``st`` gets t0/t1/until for the receivers' taps), close it, and return the
    SFU's stats and this process's CPU seconds during it. Tells the SFU to quit."""
    c0 = time.process_time()
    st["t0"] = time.monotonic()
    st["t1"] = st["t0"] + window
    st["until"] = st["t1"] + 0.5  # packets in flight at the end still count
    ch.send("win_start")
    await asyncio.sleep(window)
    ch.send("win_end")
    load_cpu = time.process_time() - c0
    await asyncio.sleep(0.6)
    sfu = await asyncio.wait_for(stats_future, 10)
    ch.send("quit")
    return sfu, load_cpu


def record_arrival(st: dict, sent: dict[bytes, float], lat: list[float], payload: bytes) -> None:
    """A subscriber received ``payload``. During the window (+ in-flight grace) count it, and if the
    publisher sent these exact bytes inside the window, count it delivered and note its latency
    (the SFU rewrites headers only, so payloads match byte for byte)."""
    until = st["until"]
    if until is None:
        return
    now = time.monotonic()
    if now > until:
        return
    if now <= st["t1"]:
        st["received"] = st.get("received", 0) + 1
    s = sent.get(payload)
    if s is not None and st["t0"] <= s <= st["t1"]:
        st["delivered"] += 1
        lat.append(now - s)


class GcWatch:
    """Garbage-collector pauses in this process (``gc.callbacks``): how many full collections and
    the longest pause, for the latency tail's usual suspect."""

    def __init__(self):
        import gc
        self.full, self.max_pause_ms, self._t = 0, 0.0, 0.0
        self.by_gen = [0.0, 0.0, 0.0]
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
            return
        pause = (time.perf_counter() - self._t) * 1000
        self.max_pause_ms = max(self.max_pause_ms, pause)
        gen = info.get("generation", 0)
        self.by_gen[gen] = max(self.by_gen[gen], pause)
        if info.get("generation") == 2:
            self.full += 1

    def reset(self) -> None:
        self.full, self.max_pause_ms = 0, 0.0
        self.by_gen = [0.0, 0.0, 0.0]

    def report(self) -> dict:
        return {"gc_full_collections": self.full, "gc_max_pause_ms": round(self.max_pause_ms, 1),
                "gc_max_pause_ms_by_generation": [round(p, 1) for p in self.by_gen]}


async def loop_lag(st: dict, lags: list[float], period: float = 0.01) -> None:
    """How late this process's event loop wakes up during the window (cancel it when done): a load
    process that is itself late inflates the latency it measures."""
    while True:
        t = time.monotonic()
        await asyncio.sleep(period)
        now = time.monotonic()
        if st.get("t0") is not None and st["t0"] <= now <= st["t1"]:
            lags.append(now - t - period)


def percentile_ms(sorted_seconds: list[float], q: float) -> float | None:
    if not sorted_seconds:
        return None
    return round(sorted_seconds[min(len(sorted_seconds) - 1, int(q * len(sorted_seconds)))] * 1000, 1)


def replay_camera(pictures: list):
    """A camera track showing ``pictures`` back and forth at 30 fps (encoded live by aiortc)."""
    import av
    from aiortc.mediastreams import VideoStreamTrack

    class MovingPicture(VideoStreamTrack):
        def __init__(self):
            super().__init__()
            self.n = 0

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            frame = pictures[self.n % len(pictures)]
            self.n += 1
            frame.pts, frame.time_base = pts, time_base
            # aiortc's encoder marks a frame I on a keyframe request; pictures are reused, so clear it.
            frame.pict_type = av.video.frame.PictureType.NONE
            return frame
    return MovingPicture()
