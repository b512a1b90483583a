"""A tiny canned-answer provider on 127.0.0.1, so tests can feed the client exact bodies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from bot.provider.client import ProviderClient
from bot.provider.factory import provider_session

API_KEY = "SECRETKEY0123456789abcdef"


@dataclass
class Canned:
    status: int = 200
    body: str | bytes = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


class FakeProvider:
    """Serves queued answers per action; the last answer of an action repeats."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Canned]] = {}
        self.requests: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def answer(self, action: str, *answers: Canned | str) -> None:
        self.answers[action] = [a if isinstance(a, Canned) else Canned(body=a) for a in answers]

    def calls(self, action: str) -> list[dict[str, str]]:
        return [request for request in self.requests if request.get("action") == action]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        self.requests.append(params)
        queue = self.answers.get(params.get("action", ""), [])
        if not queue:
            return web.Response(text="BAD_ACTION")
        canned = queue.pop(0) if len(queue) > 1 else queue[0]
        if canned.delay:
            await asyncio.sleep(canned.delay)
        if canned.drop and request.transport is not None:
            request.transport.abort()
            return web.Response()  # never reaches the client
        body = canned.body.encode() if isinstance(canned.body, str) else canned.body
        return web.Response(status=canned.status, body=body, headers=canned.headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/stubs/handler_api.php", self._handle)
        # No access log: it would print the query string, key included.
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/stubs/handler_api.php"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    provider = FakeProvider()
    await provider.start()
    yield provider
    await provider.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with provider_session() as shared:
        yield shared


@pytest.fixture
def client(fake: FakeProvider, session: aiohttp.ClientSession) -> ProviderClient:
    return ProviderClient(
        fake.url, API_KEY, session, timeout=5.0, read_retries=2, retry_delay=0.001
    )
