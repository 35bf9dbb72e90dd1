"""Rate limits across server processes: with CONTEXTDESK_REDIS_URL every worker counts in the same windows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from agent.errors import RateLimited
from agent.limits import RateLimiter, RedisWindows
from contextdesk.app import create_app
from contextdesk.settings import Settings
from tests.clock import tick
from tests.contextdesk.http_helpers import serve_in_thread

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_available() -> bool:
    from redis import Redis, RedisError

    try:
        return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except RedisError:
        return False


needs_redis = pytest.mark.skipif(not _redis_available(), reason=f"Redis not reachable at {REDIS_URL}")


@contextmanager
def _workers(tmp_path: Path, redis_url: str | None, count: int = 2) -> Iterator[list[str]]:
    """`count` app instances (as many server processes would be) on one database; yield their base URLs."""
    config = tmp_path / "contextdesk.yaml"
    config.write_text(
        "agent:\n  limits:\n    messages_per_minute_per_conversation: 4\n"
        "    messages_per_minute_per_ip: 100000\n    conversations_per_minute_per_ip: 100000\n"
    )
    settings = Settings(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'shared.db'}",
        config_file=config,
        redis_url=redis_url,
        handoff_worker=False,
        webhook_worker=False,
    )
    with ExitStack() as stack:
        yield [stack.enter_context(serve_in_thread(create_app(settings, clock=tick), settings)) for _ in range(count)]


def _send(base: str, cid: str) -> int:
    return httpx.post(f"{base}/v1/conversations/{cid}/messages", json={"content": "hello"}, timeout=30).status_code


@needs_redis
def test_two_workers_count_one_conversations_messages_together(tmp_path: Path) -> None:
    with _workers(tmp_path, REDIS_URL) as (first, second):
        cid = httpx.post(f"{first}/v1/conversations", json={}, timeout=30).json()["id"]
        codes = [_send(first, cid), _send(second, cid), _send(first, cid), _send(second, cid)]
        assert codes == [200] * 4
        # The limit is 4 a minute for the conversation, whichever worker the fifth message reaches.
        limited = httpx.post(f"{second}/v1/conversations/{cid}/messages", json={"content": "hello"}, timeout=30)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert _send(first, cid) == 429


def test_without_redis_each_worker_counts_its_own(tmp_path: Path) -> None:
    with _workers(tmp_path, None) as (first, second):
        cid = httpx.post(f"{first}/v1/conversations", json={}, timeout=30).json()["id"]
        assert [_send(first, cid) for _ in range(4)] == [200] * 4
        assert _send(first, cid) == 429
        assert _send(second, cid) == 200  # documented: one process, one set of windows


@needs_redis
def test_redis_window_slides_like_the_memory_one() -> None:
    from redis import Redis

    limiter = RateLimiter(RedisWindows(Redis.from_url(REDIS_URL), prefix=f"test:{secrets.token_hex(6)}:"))
    for i in range(3):
        limiter.hit("messages", "c1", 3, now=100.0 + i)
    with pytest.raises(RateLimited) as err:
        limiter.hit("messages", "c1", 3, now=110.0)
    assert err.value.retry_after_s == pytest.approx(50.0)
    limiter.hit("messages", "c2", 3, now=110.0)  # other keys are independent
    limiter.hit("messages", "c1", 3, now=161.0)  # the window moved on


@pytest.mark.parametrize("windows", ["memory", "redis"])
def test_several_counts_in_one_call_stop_at_the_first_refused(windows: str) -> None:
    if windows == "redis" and not _redis_available():
        pytest.skip("Redis not reachable")
    from redis import Redis

    store = (
        RedisWindows(Redis.from_url(REDIS_URL), prefix=f"test:{secrets.token_hex(6)}:") if windows == "redis" else None
    )
    limiter = RateLimiter(store)
    hits = [("per conversation", "c1", 2), ("per address", "ip1", 3)]
    limiter.hit_all(hits, now=100.0)
    limiter.hit_all(hits, now=101.0)
    with pytest.raises(RateLimited) as err:  # the conversation is at its limit: the address is not counted
        limiter.hit_all(hits, now=110.0)
    assert (err.value.what, err.value.retry_after_s) == ("per conversation", pytest.approx(50.0))
    limiter.hit_all([("per conversation", "c2", 2), ("per address", "ip1", 3)], now=110.0)  # the third of ip1
    with pytest.raises(RateLimited) as err:
        limiter.hit_all([("per conversation", "c3", 2), ("per address", "ip1", 3)], now=111.0)
    assert err.value.what == "per address"


def test_an_unreachable_redis_falls_back_to_this_process() -> None:
    from redis import Redis

    limiter = RateLimiter(RedisWindows(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)))
    for i in range(2):
        limiter.hit("messages", "c1", 2, now=float(i))
    with pytest.raises(RateLimited):
        limiter.hit("messages", "c1", 2, now=5.0)
