"""RecordingTap: the lecturer's camera (high layer), microphone and screen of one lesson's media
room, handed to the recorder process as they arrive (REC-1).

Each publication gets an internal consumer (media/sink.py) — the forwarding path is untouched —
whose packets go to the recorder without waiting (recorder/client.py). Students' cameras are not
recorded: the attendance samples are the evidence of their presence.
"""
from __future__ import annotations

import asyncio
import itertools
import time

from media.publication import Publication
from media.sink import Sink

RECORDED_SOURCES = ("camera", "mic", "screen", "screen_audio")


def wants(pub: Publication) -> bool:
    return pub.role == "lecturer" and pub.source in RECORDED_SOURCES


class RecordingTap:
    def __init__(self, client, lesson_id: int, room):
        self.client, self.lesson_id = client, lesson_id
        self._numbers = itertools.count(1)
        self.tracks: dict[int, int] = {}  # id(sink) -> track number
        client.open(lesson_id)
        self.tap = room.add_tap(wants, self._attach)

    def _attach(self, pub: Publication) -> Sink:
        asyncio.ensure_future(self.client.start())  # idempotent: the process runs once there is media
        number = next(self._numbers)
        client, lesson = self.client, self.lesson_id

        def on_packet(packet, keyframe: bool, producer) -> None:
            client.packet(lesson, number, time.time() * 1000.0, packet.serialize())
        sink = Sink(pub, on_packet, layer=0, on_close=self._detach)
        self.tracks[id(sink)] = number
        client.track(lesson, number, pub.source, pub.mime, pub.clock_rate, keyframe=sink.request_keyframe)
        return sink

    def _detach(self, sink: Sink) -> None:
        number = self.tracks.pop(id(sink), None)
        if number is not None:
            self.client.untrack(self.lesson_id, number)

    def close(self, finish: bool = False) -> None:
        """The room closed. ``finish``: the lesson is over, so its recording is final (the ledger
        refuses later segments); otherwise the open segment is closed and a later room (everyone
        left and came back) carries on the same recording."""
        self.tap.remove()  # idempotent
        if finish:
            self.client.finish(self.lesson_id)
        else:
            self.client.pause(self.lesson_id)
