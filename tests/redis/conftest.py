"""The tests of the Redis features, on the real server of tests/conftest.py (`redis_server_url`,
`redis`: Valkey started once per session, or TEST_REDIS_URL).

The bot's `settings` here carry REDIS_URL, so `services` (tests/conftest.py) is a replica wired
to Redis; `replica()` builds another one on the same database and the same Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest


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
