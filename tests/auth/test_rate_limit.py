"""Rate-limit counters: in memory and in Redis (the server at 127.0.0.1:6379)."""

from __future__ import annotations

import uuid

import pytest

from wardbook.ops.hardening import MemoryCounter, RedisCounter

pytestmark = pytest.mark.anyio


async def test_memory_counter_counts_per_key_and_window() -> None:
    counter = MemoryCounter(max_keys=2)
    assert [await counter.hit("a", 1) for _ in range(3)] == [1, 2, 3]
    assert await counter.hit("a", 2) == 1  # a new minute starts again
    await counter.hit("b", 2)
    await counter.hit("c", 2)  # bounded: the oldest key is forgotten
    assert await counter.hit("a", 2) == 1


async def test_redis_counter_is_shared_between_instances() -> None:
    key = f"test-{uuid.uuid4().hex}"
    first = RedisCounter("redis://127.0.0.1:6379/0")
    second = RedisCounter("redis://127.0.0.1:6379/0")
    try:
        assert await first.hit(key, 7) == 1
        assert await second.hit(key, 7) == 2  # another worker sees the same count
        assert await first.hit(key, 8) == 1
    finally:
        await first.close()
        await second.close()
