"""A track that never yields frames: it only makes aiortc negotiate a sender we feed with RTP.

An SFU consumer writes already-encoded RTP straight into the sender's DTLS transport; the sender's
own encode loop must stay idle, so its track blocks until stopped.
"""
from __future__ import annotations

import asyncio

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class ForwardedTrack(MediaStreamTrack):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self):
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        self._stopped.set()
        super().stop()
