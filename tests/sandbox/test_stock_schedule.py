"""Stock that changes over time: changes scheduled at a clock time, applied lazily (at the
next request, control call or tick), through the state and through the control API."""

from __future__ import annotations

import json

from sandbox.state import SandboxState
from tests.sandbox.conftest import Api


def _cell(state: SandboxState, key: str) -> dict[str, object]:
    reply = state.handle({"api_key": key, "action": "getPrices", "service": "tg", "country": "62"})
    return json.loads(reply.body)["62"]["tg"]


async def test_stock_appears_and_goes_at_its_time() -> None:
    now = [1_800_000_000.0]
    state = SandboxState(lambda: now[0])
    key = state.create_key(balance="100")
    state.set_stock("62", "tg", 0)
    state.schedule_stock("62", "tg", 4, at=now[0] + 60, cost="3.5")
    state.schedule_stock("62", "tg", 0, at=now[0] + 120)
    assert _cell(state, key)["count"] == 0
    now[0] += 60
    assert _cell(state, key) == {"cost": 3.5, "count": 4}
    now[0] += 60
    assert _cell(state, key)["count"] == 0
    state.schedule_stock("62", "tg", 2, at=now[0] - 5)  # a past time applies at once
    assert state.offers[("62", "tg")].count == 2
    state.schedule_stock("62", "tg", 9, at=now[0] + 10)
    state.reset()  # forgets what was scheduled, with everything else
    seeded = state.offers[("62", "tg")].count
    now[0] += 10
    assert _cell(state, key if key in state.accounts else state.create_key())["count"] == seeded


async def test_schedule_through_the_control_api(api: Api) -> None:
    await api.control("POST", "stock", {"country": "62", "service": "tg", "count": 0})
    status, offer = await api.control(
        "POST", "stock", {"country": "62", "service": "tg", "count": 7, "after": 90, "cost": "4"}
    )
    assert status == 200 and offer["count"] == 0  # not yet
    await api.control("POST", "clock", {"advance": 90})
    prices = await api.json("getPrices", service="tg", country="62")
    assert prices["62"]["tg"] == {"cost": 4, "count": 7}
    status, _ = await api.control(
        "POST", "stock", {"country": "999", "service": "tg", "count": 1, "after": 5}
    )
    assert status == 404
    status, _ = await api.control(
        "POST", "stock", {"country": "62", "service": "tg", "count": 1, "after": "soon"}
    )
    assert status == 400
