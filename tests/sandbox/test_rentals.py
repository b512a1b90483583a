"""Rentals over real HTTP with a fake clock."""

from __future__ import annotations

from decimal import Decimal

from sandbox.state import Clock, SandboxState
from tests.sandbox.conftest import Api

# Seed: tg rent costs 4.00 per hour in Russia (factor 1).


async def _rent(api: Api, hours: int = 4, **params: str) -> str:
    data = await api.json("getRentNumber", service="tg", country="0", rent_time=hours, **params)
    assert data["status"] == "success", data
    return str(data["phone"]["id"])


async def test_rent_number_shape_and_price(api: Api, fake_clock: Clock) -> None:
    data = await api.json("getRentNumber", service="tg", country="0", rent_time=4)
    phone = data["phone"]
    assert set(phone) == {"id", "endDate", "number"}
    assert phone["endDate"] == "2027-01-15 12:00:00"  # start 08:00 UTC + 4 h
    assert phone["number"].startswith("7")
    assert await api.balance() == Decimal("84")
    assert api.state.rent_purchases[0]["hours"] == 4
    assert api.state.rent_purchases[0]["cost"] == Decimal("16")


async def test_time_param_name_is_tolerated(api: Api) -> None:
    data = await api.json("getRentNumber", service="tg", country="0", time=5)
    assert data["status"] == "success"
    assert api.state.rentals[str(data["phone"]["id"])].hours == 5


async def test_invalid_time_and_other_errors(api: Api, state: SandboxState) -> None:
    for hours in (3, 1345, "x"):
        error = await api.json("getRentNumber", service="tg", country="0", rent_time=hours)
        assert error == {"status": "error", "error": "INVALID_TIME"}
    assert (await api.json("getRentNumber", service="zz", country="0"))["error"] == "BAD_SERVICE"
    assert (await api.json("getRentNumber", service="tg", country="9"))["error"] == "BAD_COUNTRY"
    poor = state.create_key(balance="1")
    body = await api.json("getRentNumber", key=poor, service="tg", country="0")
    assert body["error"] == "NO_BALANCE"
    state.set_rent("0", "tg", count=0)
    assert (await api.json("getRentNumber", service="tg", country="0"))["error"] == "NO_NUMBERS"
    assert state.rent_purchases == []


async def test_sms_list_grizzly_shape(api: Api, fake_clock: Clock) -> None:
    rent_id = await _rent(api)
    assert await api.json("getRentStatus", id=rent_id) == {"status": "success", "values": {}}
    api.state.deliver_rent_sms(rent_id, "first 1111", phone_from="Telegram")
    fake_clock.advance(60)
    api.state.deliver_rent_sms(rent_id, "second 2222")
    data = await api.json("getRentStatus", id=rent_id)
    assert data["status"] == "success" and data["quantity"] == "2"
    assert data["values"]["0"] == {
        "phoneFrom": "Service",
        "service": "tg",
        "text": "second 2222",
        "date": "2027-01-15 08:01:00",
    }
    assert data["values"]["1"]["text"] == "first 1111"
    assert data["values"]["1"]["phoneFrom"] == "Telegram"


async def test_rent_status_errors(api: Api, state: SandboxState) -> None:
    rent_id = await _rent(api)
    assert await api.json("getRentStatus") == {"status": "error", "error": "NO_ID_RENT"}
    assert (await api.json("getRentStatus", id="123"))["error"] == "INVALID_PHONE"
    other = state.create_key()
    assert (await api.json("getRentStatus", key=other, id=rent_id))["error"] == "INVALID_PHONE"
    assert (await api.json("setRentStatus", id=rent_id, status=3))["error"] == "INCORECT_STATUS"


async def test_extend_debits_and_dies_after_end(api: Api, fake_clock: Clock) -> None:
    rent_id = await _rent(api)
    data = await api.json("continueRentNumber", id=rent_id, rent_time=4)
    assert data["status"] == "success"
    assert data["phone"]["endDate"] == "2027-01-15 16:00:00"
    assert await api.balance() == Decimal("68")
    assert api.state.extensions[0]["hours"] == 4
    bad = await api.json("continueRentNumber", id=rent_id, rent_time=2)
    assert bad["error"] == "INVALID_TIME"
    fake_clock.advance(4 * 3600)  # the first end passed, but the extension moved it
    assert (await api.json("getRentStatus", id=rent_id))["status"] == "success"
    assert api.state.rentals[rent_id].status == "active"
    fake_clock.advance(4 * 3600)
    dead = await api.json("continueRentNumber", id=rent_id, rent_time=4)
    assert dead == {"status": "error", "error": "RENT_DIE"}
    assert api.state.rentals[rent_id].status == "finished"
    assert await api.balance() == Decimal("68")


async def test_finish_then_already_finish(api: Api) -> None:
    rent_id = await _rent(api)
    assert await api.json("setRentStatus", id=rent_id, status=1) == {"status": "success"}
    assert (await api.json("setRentStatus", id=rent_id, status=1))["error"] == "ALREADY_FINISH"
    assert (await api.json("setRentStatus", id=rent_id, status=2))["error"] == "ALREADY_FINISH"
    assert await api.balance() == Decimal("84")


async def test_cancel_refunds_within_window(api: Api, fake_clock: Clock) -> None:
    rent_id = await _rent(api)
    fake_clock.advance(1199)
    assert await api.json("setRentStatus", id=rent_id, status=2) == {"status": "success"}
    assert await api.balance() == Decimal("100")
    assert (await api.json("setRentStatus", id=rent_id, status=2))["error"] == "ALREADY_CANCEL"
    assert (await api.json("setRentStatus", id=rent_id, status=1))["error"] == "ALREADY_CANCEL"


async def test_cancel_refused_after_window_or_sms(api: Api, fake_clock: Clock) -> None:
    late = await _rent(api)
    early_with_sms = await _rent(api)
    api.state.deliver_rent_sms(early_with_sms, "hello")
    refused = await api.json("setRentStatus", id=early_with_sms, status=2)
    assert refused["error"] == "CANT_CANCEL"
    fake_clock.advance(1200)
    assert (await api.json("setRentStatus", id=late, status=2))["error"] == "CANT_CANCEL"
    assert await api.balance() == Decimal("68")


async def test_history_and_prices(api: Api) -> None:
    rent_id = await _rent(api)
    api.state.deliver_rent_sms(rent_id, "code 42")
    history = await api.json("getRentHistory", id=rent_id)
    assert history == {
        "status": "success",
        "quantity": "1",
        "values": {"1": {"date": "2027-01-15 08:00:00", "price": 16, "hours": 4}},
    }
    prices = await api.json("getRentPrices", service="tg", country="0", rent_time=8)
    assert prices["status"] == "success"
    assert prices["values"]["0"]["tg"]["cost"] == 32
    assert prices["values"]["0"]["tg"]["count"] > 0
    every = await api.json("getRentPrices")
    assert len(every["values"]) >= 12
    assert (await api.json("getRentPrices", rent_time=2))["error"] == "INVALID_TIME"


async def test_rent_error_key_dialect(fake_clock: Clock) -> None:
    state = SandboxState(fake_clock, rent_error_key="message")
    key = state.create_key()
    reply = state.handle({"api_key": key, "action": "getRentStatus"})
    assert reply.body == '{"status":"error","message":"NO_ID_RENT"}'


async def test_optional_auto_cancel_without_sms(fake_clock: Clock) -> None:
    state = SandboxState(fake_clock, rent_auto_cancel=True)
    key = state.create_key()
    reply = state.handle({"api_key": key, "action": "getRentNumber", "service": "tg"})
    assert '"status":"success"' in reply.body
    fake_clock.advance(1200)
    state.tick()
    assert [r.status for r in state.rentals.values()] == ["cancelled"]
    assert state.balance(key) == Decimal("100")
