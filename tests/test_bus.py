"""The room-event bus (issue 3 §3): in-process by default, Redis pub/sub across app processes.

Redis tests use the real server at ``QIHANG_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``)
with a unique channel prefix per test: pub/sub channels are server-wide, not per database.
Every wait has a timeout so a broken bus fails the test instead of hanging it.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from server.live.bus import Bus, LocalBus, RedisBus, make_bus
from server.settings import Settings

REDIS_URL = os.environ.get("QIHANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parent.parent
T = 5.0  # seconds: generous upper bound for any single wait


def run(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def prefix() -> str:
    return f"qh-test-{os.getpid()}-{secrets.token_hex(4)}:"


@pytest.fixture(scope="module")
def redis_available():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"Redis at {REDIS_URL} is required for the bus tests: {exc}")
    finally:
        client.close()


# --------------------------------------------------------------------------- LocalBus

def test_local_fan_out_to_every_subscriber():
    async def main():
        bus = LocalBus("node-1")
        assert isinstance(bus, Bus)
        async with bus.subscribe("lesson:1") as a, bus.subscribe("lesson:1") as b, \
                bus.subscribe("lesson:1") as c, bus.subscribe("lesson:2") as other:
            await bus.publish("lesson:1", {"kind": "chat", "text": "大家好"})
            await bus.publish("lesson:1", {"kind": "hand_raise", "user_id": 7})
            for sub in (a, b, c):
                assert await sub.get(T) == {"kind": "chat", "text": "大家好", "node_id": "node-1"}
                assert (await sub.get(T))["kind"] == "hand_raise"
            assert other.pending() == 0  # channels are separate
            # each subscriber gets its own copy
            await bus.publish("lesson:1", {"list": [1]})
            first = await a.get(T)
            first["list"].append(2)
            assert (await b.get(T))["list"] == [1]
        await bus.close()

    run(main())


def test_local_unsubscribe_on_exit_and_close_ends_iteration():
    async def main():
        bus = LocalBus("node-1")
        async with bus.subscribe("ch") as sub:
            assert bus.subscribers("ch") == 1
        assert bus.subscribers("ch") == 0
        await bus.publish("ch", {"n": 1})  # nobody listening: fine, and nothing is kept
        assert sub.pending() == 0

        async with bus.subscribe("ch") as sub:
            received = []

            async def consume():
                async for message in sub:
                    received.append(message["n"])

            task = asyncio.create_task(consume())
            await bus.publish("ch", {"n": 2})
            await asyncio.sleep(0)
            await bus.close()  # ends every subscription's iteration
            await asyncio.wait_for(task, T)
            assert received == [2]
        with pytest.raises(RuntimeError):
            await bus.publish("ch", {"n": 3})

    run(main())


def test_local_slow_subscriber_drops_oldest_and_never_blocks_publishers():
    async def main():
        bus = LocalBus("node-1", queue_size=5)
        async with bus.subscribe("ch") as slow, bus.subscribe("ch", queue_size=100) as fast:
            for n in range(20):  # never awaits a consumer: publishing cannot block
                await bus.publish("ch", {"n": n})
            assert slow.dropped == 15 and slow.pending() == 5
            assert [(await slow.get(T))["n"] for _ in range(5)] == [15, 16, 17, 18, 19]
            assert fast.dropped == 0 and [(await fast.get(T))["n"] for _ in range(20)] == list(range(20))
            assert bus.dropped == 15
            with pytest.raises(asyncio.TimeoutError):
                await slow.get(0.05)
        await bus.close()

    run(main())


def test_messages_must_be_json_objects():
    async def main():
        bus = LocalBus("node-1")
        with pytest.raises(ValueError):
            await bus.publish("ch", {"x": object()})
        with pytest.raises(TypeError):
            await bus.publish("ch", ["not", "a", "dict"])
        await bus.close()

    run(main())


def test_make_bus_follows_the_settings(tmp_path):
    async def main():
        local = make_bus(Settings(data_dir=tmp_path, database_url="sqlite://"))
        assert isinstance(local, LocalBus) and local.node_id
        remote = make_bus(Settings(data_dir=tmp_path, database_url="sqlite://", redis_url=REDIS_URL), node_id="n9")
        assert isinstance(remote, RedisBus) and remote.node_id == "n9"
        await local.close()
        await remote.close()

    run(main())


# --------------------------------------------------------------------------- RedisBus

def test_two_redis_buses_see_each_others_messages(redis_available, prefix):
    """Two app processes' buses on one Redis: chat published on either reaches both."""
    async def main():
        a = RedisBus(REDIS_URL, "node-a", prefix=prefix)
        b = RedisBus(REDIS_URL, "node-b", prefix=prefix)
        try:
            async with a.subscribe("lesson:1") as sa, b.subscribe("lesson:1") as sb, \
                    b.subscribe("lesson:1") as sb2, b.subscribe("lesson:2") as other:
                await a.publish("lesson:1", {"kind": "chat", "text": "来自 A"})
                for sub in (sa, sb, sb2):
                    assert await sub.get(T) == {"kind": "chat", "text": "来自 A", "node_id": "node-a"}
                await b.publish("lesson:1", {"kind": "chat", "text": "from B"})
                for sub in (sa, sb, sb2):
                    message = await sub.get(T)
                    assert (message["text"], message["node_id"]) == ("from B", "node-b")
                await asyncio.sleep(0.1)
                assert other.pending() == 0
        finally:
            await a.close()
            await b.close()

    run(main())


def test_redis_unsubscribes_after_the_last_local_subscriber(redis_available, prefix):
    import redis.asyncio as aioredis

    async def main():
        admin = aioredis.Redis.from_url(REDIS_URL)
        bus = RedisBus(REDIS_URL, "node-a", prefix=prefix)

        async def numsub() -> int:
            return dict(await admin.pubsub_numsub(prefix + "ch"))[(prefix + "ch").encode()]

        try:
            async with bus.subscribe("ch"):
                async with bus.subscribe("ch"):
                    assert await numsub() == 1  # one pub/sub connection per process, however many subscribers
                assert await numsub() == 1
            for _ in range(50):
                if await numsub() == 0:
                    break
                await asyncio.sleep(0.05)
            assert await numsub() == 0
            async with bus.subscribe("ch") as sub:  # subscribing again works
                await bus.publish("ch", {"again": True})
                assert (await sub.get(T))["again"] is True
        finally:
            await bus.close()
            await admin.aclose()

    run(main())


def test_redis_bus_reconnects_after_losing_its_connection(redis_available, prefix):
    import redis.asyncio as aioredis

    async def main():
        admin = aioredis.Redis.from_url(REDIS_URL)
        a = RedisBus(REDIS_URL, "node-a", prefix=prefix)
        b = RedisBus(REDIS_URL, f"node-b-{secrets.token_hex(3)}", prefix=prefix)
        try:
            async with b.subscribe("ch") as sub:
                await a.publish("ch", {"n": 0})
                assert (await sub.get(T))["n"] == 0
                # kill B's connections only (other tests may share this Redis)
                clients = [c for c in await admin.client_list() if c.get("name") == b.client_name]
                assert clients
                for c in clients:
                    await admin.client_kill_filter(_id=c["id"])
                # messages during the outage may be lost (the log is the record); delivery resumes
                got = None
                for n in range(1, 100):
                    await a.publish("ch", {"n": n})
                    try:
                        got = await sub.get(0.1)
                        break
                    except asyncio.TimeoutError:
                        continue
                assert got is not None and got["node_id"] == "node-a"
                assert b.reconnects >= 1
                await b.publish("ch", {"n": "after"})  # publishing reconnects too
                while (await sub.get(T))["n"] != "after":
                    pass
        finally:
            await a.close()
            await b.close()
            await admin.aclose()

    run(main())


def test_redis_slow_subscriber_drops_oldest(redis_available, prefix):
    async def main():
        bus = RedisBus(REDIS_URL, "node-a", prefix=prefix, queue_size=3)
        try:
            async with bus.subscribe("ch") as slow, bus.subscribe("ch", queue_size=50) as fast:
                for n in range(10):
                    await bus.publish("ch", {"n": n})
                assert [(await fast.get(T))["n"] for _ in range(10)] == list(range(10))
                assert slow.dropped == 7
                assert [(await slow.get(T))["n"] for _ in range(3)] == [7, 8, 9]
        finally:
            await bus.close()

    run(main())


def test_redis_unreachable_fails_fast_instead_of_hanging(prefix):
    from redis.exceptions import ConnectionError as RedisConnectionError

    async def main():
        bus = RedisBus("redis://127.0.0.1:1/0", "node-x", prefix=prefix, subscribe_timeout=0.5,
                       publish_attempts=2)
        with pytest.raises(asyncio.TimeoutError):
            async with bus.subscribe("ch"):
                pass
        assert bus.subscribers("ch") == 0
        with pytest.raises((RedisConnectionError, OSError)):
            await bus.publish("ch", {"n": 1})
        await bus.close()

    run(main())


# --------------------------------------------------------------------------- two OS processes

LISTENER = textwrap.dedent("""
    import asyncio, json, sys
    from server.live.bus import RedisBus

    async def main(url, prefix):
        bus = RedisBus(url, "listener-process", prefix=prefix)
        async with bus.subscribe("lesson:7") as sub:
            print("READY", flush=True)
            message = await asyncio.wait_for(sub.get(), 20)
            print(json.dumps(message, ensure_ascii=False), flush=True)
        await bus.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")

PUBLISHER = textwrap.dedent("""
    import asyncio, sys
    from server.live.bus import RedisBus

    async def main(url, prefix):
        bus = RedisBus(url, "publisher-process", prefix=prefix)
        await bus.publish("lesson:7", {"kind": "chat", "user_id": 3, "text": "老师，听得见吗？"})
        await bus.close()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
""")


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    """One stdout line from a child, or fail after ``timeout`` seconds (never hangs)."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        proc.kill()
        pytest.fail(f"no output from child process within {timeout}s; stderr: {proc.stderr.read()}")
    return box[0].strip()


def test_chat_crosses_two_os_processes_through_redis(redis_available, prefix):
    """Two separate Python processes, each with its own RedisBus, as two app nodes would be."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    listener = subprocess.Popen([sys.executable, "-c", LISTENER, REDIS_URL, prefix], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _readline(listener, 20) == "READY"
        published = subprocess.run([sys.executable, "-c", PUBLISHER, REDIS_URL, prefix], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=20)
        assert published.returncode == 0, published.stderr
        message = json.loads(_readline(listener, 20))
        assert message == {"kind": "chat", "user_id": 3, "text": "老师，听得见吗？", "node_id": "publisher-process"}
        assert listener.wait(timeout=20) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait(timeout=5)
