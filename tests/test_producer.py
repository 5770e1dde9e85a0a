"""Producer fan-out (LIVE-2): a packet reaches every consumer in order, and a big burst on one
producer (a screen-share keyframe to 200 students) is sliced so other producers' packets get
through in between instead of waiting behind it."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiortc.rtp import RtpPacket

from media.producer import FANOUT_SLICE, Producer


def _receiver():
    """What Producer taps on an aiortc receiver (its name-mangled state), nothing else."""
    return SimpleNamespace(_RTCRtpReceiver__remote_streams={}, _RTCRtpReceiver__codecs={},
                           _RTCRtpReceiver__nack_generator=None, _RTCRtpReceiver__rtx_ssrc={},
                           _RTCRtpReceiver__remote_bitrate_estimator=None, _handle_rtp_packet=None)


class _Consumer:
    def __init__(self, name: str, log: list):
        self.name, self.log, self.got = name, log, []

    def push(self, packet, keyframe, producer, template):
        self.got.append(packet.sequence_number)
        self.log.append((self.name, packet.sequence_number))


def _packet(seq: int) -> RtpPacket:
    return RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * 960, ssrc=1, payload=b"opus%d" % seq)


def test_live2_a_burst_is_fanned_out_in_order_while_another_producer_gets_through():
    async def run():
        log: list = []
        screen = Producer(_receiver(), kind="audio", mime="audio/opus", clock_rate=48000)
        camera = Producer(_receiver(), kind="audio", mime="audio/opus", clock_rate=48000)
        crowd = [_Consumer(f"s{i}", log) for i in range(3 * FANOUT_SLICE + 10)]
        screen.consumers.update(crowd)
        viewer = _Consumer("camera viewer", log)
        camera.consumers.add(viewer)

        for seq in range(5):  # a burst: five packets for 202 consumers
            await screen.on_packet(_packet(seq))
        await camera.on_packet(_packet(100))  # few consumers, nothing queued: sent at once
        assert viewer.got == [100]
        for _ in range(200):
            if not screen._backlog:
                break
            await asyncio.sleep(0)
        assert all(c.got == [0, 1, 2, 3, 4] for c in crowd)  # everyone, each in order
        # the camera's packet went out before most of the burst: it did not wait behind it
        assert log.index(("camera viewer", 100)) < len(log) // 4
        return screen

    screen = asyncio.run(run())
    assert screen._drainer is None


def test_closing_a_producer_drops_its_pending_fan_out():
    async def run():
        log: list = []
        producer = Producer(_receiver(), kind="audio", mime="audio/opus", clock_rate=48000)
        crowd = [_Consumer(f"s{i}", log) for i in range(2 * FANOUT_SLICE)]
        producer.consumers.update(crowd)
        for seq in range(3):
            await producer.on_packet(_packet(seq))
        producer.close()
        for _ in range(20):
            await asyncio.sleep(0)
        assert not producer._backlog and log == []

    asyncio.run(run())
