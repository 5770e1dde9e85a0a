"""PacketCache: a producer's most recent packets, to answer consumers' NACKs without the publisher.

LIVE-2: with 200 students on phones, losses are answered from the SFU, once per asking consumer,
and never with the wrong packet: a stale packet from a previous 16-bit wrap would corrupt video.
"""
from __future__ import annotations

import pytest

from media.packetcache import PacketCache


def test_live2_recent_packets_are_returned_by_sequence_number():
    cache = PacketCache()
    for seq in range(1000, 1600):
        cache.put(seq, b"pkt%d" % seq)
    assert cache.get(1599) == b"pkt1599" and cache.get(1088) == b"pkt1088"
    assert cache.get(1087) is None  # evicted: more than 512 behind the newest
    assert cache.get(1600) is None and cache.get(50) is None  # never seen


def test_empty_cache_returns_none():
    assert PacketCache().get(0) is None


def test_sequence_wrap_is_handled():
    cache = PacketCache(size=512)
    for seq in range(65000, 65536):
        cache.put(seq, f"p{seq}")
    for seq in range(100):
        cache.put(seq, f"p{seq}")
    assert cache.get(99) == "p99" and cache.get(0) == "p0" and cache.get(65535) == "p65535"
    assert cache.get(65124) == "p65124"  # the oldest of the newest 512, across the wrap
    assert cache.get(65123) is None and cache.get(65000) is None
    assert cache.get(200) is None  # never seen (and "ahead" of the newest)


def test_never_returns_a_stale_packet_from_a_previous_wrap():
    cache = PacketCache(size=512)
    cache.put(5, b"old 5")
    # One full wrap later, with every packet that would have reused slot 5 lost upstream.
    for seq in range(6, 65536 + 5):
        if seq % 512 != 5:
            cache.put(seq & 0xFFFF, b"x")
    assert cache.get(4) == b"x"
    assert cache.get(5) is None  # the new 5 was never received: not the old one
    cache.put(5, b"new 5")
    assert cache.get(5) == b"new 5"


def test_lost_packet_inside_the_window_returns_none_not_an_older_packet_in_its_slot():
    cache = PacketCache(size=8)
    for seq in range(20):
        if seq != 17:
            cache.put(seq, seq)
    assert cache.get(17) is None  # slot 1 holds packet 9, which must not answer for 17
    assert cache.get(16) == 16 and cache.get(18) == 18


def test_reordered_and_retransmitted_packets_are_stored_without_moving_the_head():
    cache = PacketCache(size=512)
    for seq in (100, 101, 103, 104):
        cache.put(seq, seq)
    cache.put(102, 102)  # arrives late (or as RTX from the publisher)
    assert [cache.get(s) for s in range(100, 105)] == [100, 101, 102, 103, 104]
    cache.put(105, 105)
    assert cache.get(105) == 105 and cache.get(100) == 100


def test_a_restarted_sequence_space_is_cached_afresh():
    cache = PacketCache(size=512)
    for seq in range(30000, 30600):
        cache.put(seq, ("old", seq))
    for seq in range(10000, 10010):  # the publisher restarted its numbering far behind
        cache.put(seq, ("new", seq))
    assert cache.get(10009) == ("new", 10009) and cache.get(10000) == ("new", 10000)
    assert cache.get(30599) is None


def test_size_must_be_a_power_of_two():
    for size in (0, 500, 513):
        with pytest.raises(ValueError):
            PacketCache(size=size)
    assert PacketCache(size=1024).size == 1024
