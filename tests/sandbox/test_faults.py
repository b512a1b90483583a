"""Fault injection: what a client sees, and whether the money moved."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import aiohttp
import pytest

from bot.provider.factory import ConnectionLost
from sandbox.state import SandboxError, SandboxState
from tests.sandbox.conftest import Api


async def _status_body(api: Api, action: str, **params: str) -> tuple[int, bytes, dict[str, str]]:
    query = {"api_key": api.key, "action": action, **params}
    async with api.session.get(api.server.url, params=query) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_latency_delays_but_answers(api: Api) -> None:
    api.state.inject_fault("latency", seconds=0.2)
    started = time.monotonic()
    assert await api.text("getBalance") == "ACCESS_BALANCE:100"
    assert time.monotonic() - started >= 0.2
    assert api.state.faults == []


async def test_http500_is_html_and_not_processed(api: Api) -> None:
    api.state.inject_fault("http500")
    status, body, headers = await _status_body(api, "getNumber", service="tg", country="0")
    assert status == 500 and b"Internal Server Error" in body
    assert headers["Content-Type"].startswith("text/html")
    assert api.state.purchases == []
    assert api.state.requests[-1]["fault"] == "http500"
    assert await api.balance() == Decimal("100")


async def test_502_only_for_the_named_action_and_count(api: Api) -> None:
    api.state.inject_fault("html502", action="getNumber", count=2)
    assert await api.text("getBalance") == "ACCESS_BALANCE:100"
    for _ in range(2):
        status, body, _headers = await _status_body(api, "getNumber", service="tg")
        assert status == 502 and b"502 Bad Gateway" in body
    assert (await api.buy()).isdigit()
    assert len(api.state.purchases) == 1


async def test_rate_limit_cloudflare_empty_garbled(api: Api) -> None:
    api.state.inject_fault("rate_limit", retry_after=7)
    status, _body, headers = await _status_body(api, "getBalance")
    assert status == 429 and headers["Retry-After"] == "7"
    api.state.inject_fault("cloudflare")
    assert (await _status_body(api, "getBalance"))[:2] == (403, b"error code: 1020")
    api.state.inject_fault("empty")
    assert (await _status_body(api, "getBalance"))[:2] == (200, b"")
    api.state.inject_fault("garbled")
    status, body, _headers = await _status_body(api, "getBalance")
    assert status == 200
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


async def test_garbled_after_processing(api: Api) -> None:
    api.state.inject_fault("garbled", action="getNumber", process=True)
    status, _body, _headers = await _status_body(api, "getNumber", service="tg")
    assert status == 200
    assert len(api.state.purchases) == 1


async def test_drop_after_charge_closes_connection_after_debit(api: Api) -> None:
    api.state.inject_fault("drop_after_charge")
    with pytest.raises(ConnectionLost) as caught:  # sent once: aiohttp did not send it again
        await api.text("getNumberV2", service="tg", country="0")
    assert isinstance(caught.value.__cause__, aiohttp.ServerDisconnectedError)
    assert await api.balance() == Decimal("82")
    (purchase,) = api.state.purchases
    active = await api.json("getActiveActivations")
    assert [item["activationId"] for item in active] == [purchase["id"]]


async def test_drop_after_charge_waits_for_a_real_purchase(api: Api) -> None:
    api.state.inject_fault("drop_after_charge", mode="garble")
    assert await api.text("getBalance") == "ACCESS_BALANCE:100"  # not a purchase
    assert await api.text("getNumber", service="zz") == "BAD_SERVICE"  # nothing charged
    assert len(api.state.faults) == 1
    status, body, _headers = await _status_body(api, "getNumber", service="tg")
    assert status == 200 and b"garbled" in body
    assert api.state.faults == []
    assert len(api.state.purchases) == 1
    assert (await api.buy()).isdigit()  # the fault was used up


async def test_drop_after_charge_garbles_a_rent_purchase(api: Api) -> None:
    api.state.inject_fault("drop_after_charge", action="getRentNumber", mode="garble")
    status, body, _headers = await _status_body(api, "getRentNumber", service="tg", country="0")
    assert status == 200 and b"garbled" in body
    assert len(api.state.rent_purchases) == 1
    assert await api.balance() == Decimal("84")


async def test_timeout_charges_then_answers_late(api: Api) -> None:
    api.state.inject_fault("timeout", action="getNumber", seconds=30)
    with pytest.raises(asyncio.TimeoutError):
        async with api.session.get(
            api.server.url,
            params={"api_key": api.key, "action": "getNumber", "service": "tg"},
            timeout=aiohttp.ClientTimeout(total=0.3),
        ) as response:
            await response.read()
    assert len(api.state.purchases) == 1
    # stop() wakes the parked request instead of waiting 30 s (checked by the test's speed).


async def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(SandboxError):
        SandboxState().inject_fault("meteor")
