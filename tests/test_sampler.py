"""Attendance sampling (ATT, issue 4 groundwork): a student's camera is sampled at random moments —
one keyframe requested, collected through an internal consumer, decoded in a worker process — while
the lecturer's camera is never sampled and nothing is decoded on the media event loop.
"""
from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from media.room import MediaRoom
from media.sampler import FrameSampler, Sample, decode_keyframe
from tests.test_live_routing import SmallPattern
from tests.test_sfu_forwarding import MovingPattern
from tests.test_sink import _publish


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as executor:
        yield executor


def test_student_cameras_are_sampled_at_random_moments_and_decoded_in_a_worker(pool):
    async def run():
        room, pcs = MediaRoom(), []
        samples: list[Sample] = []
        try:
            await _publish(room, "lec/main", MovingPattern(), user_id=1, role="lecturer", pcs=pcs)
            sampler = FrameSampler(room, samples.append, pool, interval=(0.2, 0.5))
            await _publish(room, "s7/camera", SmallPattern(), user_id=7, role="student", pcs=pcs)
            for _ in range(300):
                if len([s for s in samples if not s.error]) >= 3:
                    break
                await asyncio.sleep(0.05)
            good = [s for s in samples if not s.error]
            assert len(good) >= 3, samples
            assert {s.user_id for s in samples} == {7}  # the lecturer's camera is not sampled
            assert all((s.width, s.height) == (160, 120) and len(s.rgb) == 160 * 120 * 3 for s in good)
            assert all(s.worker_pid not in (None, os.getpid()) for s in good)  # decoded off the media loop
            red = good[0].rgb[:3]
            assert red[0] > 150 and red[1] < 90  # the picture is the student's (a red frame)
            sink = sampler.tap.sinks[0]
            await room.unpublish("s7/camera")  # the student leaves: their sampling stops
            assert sink.closed and not sampler._tasks
            sampler.close()
            assert not room._taps
        finally:
            await room.close()
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    asyncio.run(run())


def test_corrupt_keyframes_are_reported_not_raised(pool):
    with pytest.raises(ValueError, match="undecodable"):
        decode_keyframe("video/vp8", b"\x10\x02\x00garbage")
    future = pool.submit(decode_keyframe, "video/vp8", b"\x00" * 10)
    with pytest.raises(ValueError, match="undecodable"):
        future.result(timeout=30)
