"""Fixtures of the sandbox tests: a sandbox on 127.0.0.1 driven over real HTTP, fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from bot.provider.factory import provider_session
from sandbox.server import SandboxServer
from sandbox.state import Clock, SandboxState

START = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


class Api:
    """A tiny independent client: raw protocol calls and control calls."""

    def __init__(self, server: SandboxServer, session: aiohttp.ClientSession, key: str) -> None:
        self.server = server
        self.state = server.state
        self.session = session
        self.key = key

    async def raw(self, params: dict[str, str], method: str = "GET") -> tuple[int, str]:
        if method == "POST":
            request = self.session.post(self.server.url, data=params)
        else:
            request = self.session.get(self.server.url, params=params)
        async with request as response:
            return response.status, (await response.read()).decode("utf-8", "replace")

    async def text(self, action: str, key: str | None = None, **params: Any) -> str:
        query = {"api_key": key or self.key, "action": action}
        query.update({name: str(value) for name, value in params.items()})
        status, body = await self.raw(query)
        assert status == 200, body
        return body

    async def json(self, action: str, key: str | None = None, **params: Any) -> Any:
        import json

        return json.loads(await self.text(action, key, **params))

    async def balance(self, key: str | None = None) -> Decimal:
        body = await self.text("getBalance", key)
        assert body.startswith("ACCESS_BALANCE:"), body
        return Decimal(body.split(":", 1)[1])

    async def buy(self, service: str = "tg", country: str = "0", **params: Any) -> str:
        body = await self.text("getNumber", service=service, country=country, **params)
        assert body.startswith("ACCESS_NUMBER:"), body
        return body.split(":")[1]

    async def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, self.server.base + "/control/" + path, json=body
        ) as response:
            return response.status, await response.json()


@pytest.fixture
def fake_clock() -> Clock:
    return Clock(start=START, speed=0)


@pytest.fixture
def state(fake_clock: Clock) -> SandboxState:
    return SandboxState(fake_clock)


@pytest.fixture
async def api(state: SandboxState) -> AsyncIterator[Api]:
    server = SandboxServer(state)
    await server.start()
    # force_close and no silent re-send: every call is exactly one request, as a test needs.
    session = provider_session(aiohttp.TCPConnector(force_close=True))
    try:
        yield Api(server, session, state.create_key(balance="100"))
    finally:
        await session.close()
        await server.stop()
