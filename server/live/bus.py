"""One broadcast interface for room events: in-process by default, Redis pub/sub with ``REDIS_URL``.

The bus carries *notifications*; the lesson event log (``server.live.eventlog``) is the record.
Delivery is at-most-once: a subscriber that falls behind loses its oldest messages (counted in
``Subscription.dropped``) and a Redis outage loses what was published meanwhile. Either way a
consumer recovers by reading the log after the last event id it saw.

Usage::

    bus = make_bus(settings)
    async with bus.subscribe("lesson:42") as sub:
        await bus.publish("lesson:42", {"kind": "chat", "text": "你好"})
        async for message in sub:      # dicts; each carries the publisher's "node_id"
            ...
    await bus.close()

A bus belongs to one event loop. Messages must be JSON objects; both implementations encode them,
so code tested on ``LocalBus`` behaves the same on ``RedisBus``, and every subscriber gets its own
copy (one subscriber mutating a message cannot affect another).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections import deque
from typing import Any, AsyncIterator, Mapping, Protocol, runtime_checkable

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1000
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
NODE_KEY = "node_id"


def default_node_id() -> str:
    """A name for this app process, unique across hosts and restarts."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def _encode(message: Mapping[str, Any], node_id: str) -> str:
    if not isinstance(message, Mapping):
        raise TypeError(f"bus messages are JSON objects, not {type(message).__name__}")
    body = dict(message)
    body[NODE_KEY] = node_id
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bus message is not JSON-serialisable: {exc}") from None


class Subscription:
    """One subscriber to one channel: an async context manager and an async iterator of dicts.

    Its queue is bounded: when it is full the oldest message is dropped and counted, so a slow
    subscriber never blocks publishers nor grows memory.
    """

    def __init__(self, bus: "_FanoutBus", channel: str, maxsize: int):
        if maxsize < 1:
            raise ValueError("queue size must be at least 1")
        self.channel = channel
        self.maxsize = maxsize
        self.dropped = 0
        self._bus = bus
        self._queue: deque[str] = deque()
        self._ready = asyncio.Event()
        self._active = False
        self._entered = False
        self._closed = False

    async def __aenter__(self) -> "Subscription":
        if self._active or self._closed:
            raise RuntimeError("a subscription is entered once")
        self._entered = True
        await self._bus._attach(self)
        self._active = True
        return self

    async def __aexit__(self, *exc) -> None:
        if self._active:
            self._active = False
            await self._bus._detach(self)
        self._end()

    def __aiter__(self) -> AsyncIterator[dict]:
        return self

    async def __anext__(self) -> dict:
        if not self._entered:
            raise RuntimeError("use the subscription as `async with bus.subscribe(channel) as sub:`")
        if not self._active and not self._queue:
            raise StopAsyncIteration
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return json.loads(self._queue.popleft())

    async def get(self, timeout: float | None = None) -> dict:
        """The next message; asyncio.TimeoutError after ``timeout`` seconds, EOFError once closed."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except StopAsyncIteration:
            raise EOFError(f"subscription to {self.channel!r} is closed") from None

    def pending(self) -> int:
        return len(self._queue)

    def _deliver(self, raw: str) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.dropped += 1
            self._bus.dropped += 1
        self._queue.append(raw)
        self._ready.set()

    def _end(self) -> None:
        self._closed = True
        self._ready.set()


@runtime_checkable
class Bus(Protocol):
    node_id: str

    async def publish(self, channel: str, message: dict) -> None: ...

    def subscribe(self, channel: str) -> Subscription: ...

    async def close(self) -> None: ...


class _FanoutBus:
    """Local fan-out shared by both buses: channel -> the subscriptions of this process."""

    def __init__(self, node_id: str | None, queue_size: int):
        self.node_id = node_id or default_node_id()
        self.queue_size = queue_size
        self.dropped = 0  # across all subscriptions, for metrics
        self._subs: dict[str, set[Subscription]] = {}
        self._closed = False

    def subscribe(self, channel: str, *, queue_size: int | None = None) -> Subscription:
        if not channel:
            raise ValueError("channel name required")
        return Subscription(self, channel, queue_size or self.queue_size)

    def _fan_out(self, channel: str, raw: str) -> None:
        for sub in tuple(self._subs.get(channel, ())):
            sub._deliver(raw)

    async def _attach(self, sub: Subscription) -> None:
        if self._closed:
            raise RuntimeError("bus is closed")
        self._subs.setdefault(sub.channel, set()).add(sub)

    async def _detach(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.channel]

    def _end_all(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub._end()
        self._subs.clear()

    def subscribers(self, channel: str) -> int:
        return len(self._subs.get(channel, ()))


class LocalBus(_FanoutBus):
    """In-process bus (embedded mode, a single app process)."""

    def __init__(self, node_id: str | None = None, *, queue_size: int = DEFAULT_QUEUE_SIZE):
        super().__init__(node_id, queue_size)

    async def publish(self, channel: str, message: dict) -> None:
        if self._closed:
            raise RuntimeError("bus is closed")
        self._fan_out(channel, _encode(message, self.node_id))

    async def close(self) -> None:
        self._closed = True
        self._end_all()


class RedisBus(_FanoutBus):
    """Redis pub/sub bus for several app processes / nodes.

    One connection publishes; one pub/sub connection per process is multiplexed over every
    channel this process's subscribers listen to (SUBSCRIBE on the first local subscriber,
    UNSUBSCRIBE after the last). A reader task fans messages out to local subscriptions. If the
    pub/sub connection is lost the reader reconnects with backoff and subscribes again; messages
    published during the outage are lost (at-most-once, see the module docstring).

    Redis pub/sub channels are server-wide, not per database: ``prefix`` keeps deployments (and
    test runs) sharing a Redis apart.
    """

    def __init__(self, url: str, node_id: str | None = None, *, prefix: str = "qihang:",
                 queue_size: int = DEFAULT_QUEUE_SIZE, subscribe_timeout: float = 5.0,
                 publish_attempts: int = 3):
        super().__init__(node_id, queue_size)
        self.url = url
        self.prefix = prefix
        self.subscribe_timeout = subscribe_timeout
        self.publish_attempts = max(1, publish_attempts)
        self.reconnects = 0  # pub/sub connections re-established after a loss
        self.client_name = "qihang-bus-" + "".join(c if c.isalnum() or c in "-_.:" else "_" for c in self.node_id)
        self._pub = aioredis.Redis.from_url(url, single_connection_client=True, client_name=self.client_name)
        self._sub_client = aioredis.Redis.from_url(url, client_name=self.client_name)
        self._pubsub: PubSub | None = None
        self._lock = asyncio.Lock()  # serialises SUBSCRIBE / UNSUBSCRIBE / reconnect
        self._confirmed: dict[str, asyncio.Event] = {}  # wire channel -> SUBSCRIBE acknowledged
        self._wake = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self._connected_once = False

    # -- publishing

    async def publish(self, channel: str, message: dict) -> None:
        """Publish to every process's subscribers (this one included, through Redis).

        A lost connection is retried (the client reconnects on the next command); if Redis stays
        unreachable the error is raised: the caller has already written the event log.
        """
        if self._closed:
            raise RuntimeError("bus is closed")
        raw = _encode(message, self.node_id)
        for attempt in range(self.publish_attempts):
            try:
                await self._pub.publish(self._wire(channel), raw)
                return
            except _REDIS_DOWN:
                if attempt + 1 == self.publish_attempts:
                    raise
                await asyncio.sleep(0.1 * 2 ** attempt)

    # -- subscribing

    def _wire(self, channel: str) -> str:
        return self.prefix + channel

    async def _attach(self, sub: Subscription) -> None:
        await super()._attach(sub)
        wire = self._wire(sub.channel)
        try:
            async with self._lock:
                if self._reader is None:
                    self._reader = asyncio.get_running_loop().create_task(self._read_loop())
                confirmed = self._confirmed.get(wire)
                if confirmed is None:
                    confirmed = self._confirmed[wire] = asyncio.Event()
                    if self._pubsub is not None:
                        try:
                            await self._pubsub.subscribe(wire)
                        except _REDIS_DOWN as exc:  # the reader reconnects and subscribes everything
                            log.warning("bus: SUBSCRIBE %s failed (%s)", wire, exc)
                    self._wake.set()  # no connection yet: the reader opens one for all channels
            # Wait for Redis to acknowledge, so a message published after this returns is delivered.
            await asyncio.wait_for(confirmed.wait(), self.subscribe_timeout)
        except BaseException:
            await self._detach(sub)
            raise

    async def _detach(self, sub: Subscription) -> None:
        await super()._detach(sub)
        if sub.channel in self._subs or self._closed:
            return
        wire = self._wire(sub.channel)
        async with self._lock:
            if sub.channel in self._subs or self._confirmed.pop(wire, None) is None:
                return
            if self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(wire)
                except _REDIS_DOWN as exc:  # a dead connection has nothing left to unsubscribe
                    log.debug("bus: UNSUBSCRIBE %s failed: %s", wire, exc)

    async def _connect(self) -> None:
        """A fresh pub/sub connection subscribed to every channel this process listens to."""
        async with self._lock:
            channels = list(self._confirmed)
            if self._pubsub is not None or not channels:
                return
            pubsub = self._sub_client.pubsub()
            try:
                await pubsub.subscribe(*channels)
            except BaseException:
                await _quietly(pubsub.aclose())
                raise
            self._pubsub = pubsub
            if self._connected_once:
                self.reconnects += 1
                log.info("bus: Redis pub/sub reconnected, %d channel(s) resubscribed", len(channels))
            self._connected_once = True

    async def _drop_connection(self) -> None:
        async with self._lock:
            old, self._pubsub = self._pubsub, None
            for event in self._confirmed.values():
                event.clear()
        if old is not None:
            await _quietly(old.aclose())

    async def _read_loop(self) -> None:
        backoff = 0.1
        while not self._closed:
            try:
                if self._pubsub is None and self._confirmed:
                    await self._connect()
                pubsub = self._pubsub
                if pubsub is None or not pubsub.subscribed:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), 1.0)
                    except asyncio.TimeoutError:
                        pass
                    continue
                msg = await pubsub.get_message(timeout=1.0)
                backoff = 0.1
                if msg is not None:
                    self._handle(msg)
            except asyncio.CancelledError:
                raise
            except _REDIS_DOWN as exc:
                if self._closed:
                    break
                log.warning("bus: Redis pub/sub connection lost (%s); retrying in %.1fs", exc, backoff)
                await self._drop_connection()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:  # never let one bad message kill the reader
                log.exception("bus: error in the Redis reader")
                await asyncio.sleep(0.1)

    def _handle(self, msg: dict) -> None:
        wire = msg["channel"]
        wire = wire.decode() if isinstance(wire, bytes) else wire
        if msg["type"] == "subscribe":
            event = self._confirmed.get(wire)
            if event is not None:
                event.set()
        elif msg["type"] == "message" and wire.startswith(self.prefix):
            data = msg["data"]
            self._fan_out(wire[len(self.prefix):], data.decode() if isinstance(data, bytes) else data)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._end_all()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._pubsub is not None:
            await _quietly(self._pubsub.aclose())
        await _quietly(self._pub.aclose())
        await _quietly(self._sub_client.aclose())


async def _quietly(awaitable) -> None:
    try:
        await awaitable
    except Exception:
        pass


def make_bus(settings, node_id: str | None = None, **kw) -> Bus:
    """Redis pub/sub when ``settings.redis_url`` is set (several processes / nodes), else in-process."""
    if getattr(settings, "redis_url", None):
        kw.setdefault("prefix", getattr(settings, "bus_prefix", "qihang:"))
        return RedisBus(settings.redis_url, node_id, **kw)
    return LocalBus(node_id, **kw)
