"""The HTTP control API under /control/."""

from __future__ import annotations

from decimal import Decimal

from sandbox.state import SandboxState
from tests.sandbox.conftest import Api


async def test_keys_create_get_update(api: Api) -> None:
    status, created = await api.control("POST", "keys", {"balance": "12.50", "key": "k-1"})
    assert status == 201 and created["key"] == "k-1" and created["balance"] == "12.50"
    assert await api.balance("k-1") == Decimal("12.50")
    status, view = await api.control("GET", "keys/k-1")
    assert status == 200 and view["currency"] == "643"
    _, view = await api.control("POST", "keys/k-1", {"add": "7.5", "banned_until": None})
    assert view["balance"] == "20.00"
    await api.control("POST", "keys/k-1", {"geo_blocked": True})
    assert await api.text("getBalance", key="k-1") == "SERVICE_UNAVAILABLE_REGION"
    status, error = await api.control("GET", "keys/unknown")
    assert status == 404 and "error" in error
    _, random_key = await api.control("POST", "keys", {})
    assert random_key["key"].startswith("sbx-") and random_key["balance"] == "100"


async def test_sms_delivery_by_id_and_to_latest(api: Api) -> None:
    first = await api.buy()
    second = await api.buy("wa", "0")
    status, view = await api.control("POST", f"keys/{api.key}/sms", {"text": "code 3141"})
    assert status == 200 and view["id"] == second and view["codes"] == ["3141"]
    assert await api.text("getStatus", id=second) == "STATUS_OK:3141"
    _, view = await api.control(
        "POST", f"activations/{first}/sms", {"text": "whatever", "code": "00-1"}
    )
    assert await api.text("getStatus", id=first) == "STATUS_OK:00-1"
    status, _ = await api.control("POST", "activations/999/sms", {"text": "x"})
    assert status == 404
    status, _ = await api.control("POST", "activations/1/sms", {})
    assert status in (400, 404)


async def test_sms_to_ended_activation_is_a_conflict(api: Api) -> None:
    activation_id = await api.buy()
    await api.control("POST", "clock", {"advance": 1200})
    status, error = await api.control("POST", f"activations/{activation_id}/sms", {"text": "1"})
    assert status == 409 and "expired" in error["error"]


async def test_rental_sms_and_listings(api: Api) -> None:
    rent = await api.json("getRentNumber", service="tg", country="0")
    rent_id = str(rent["phone"]["id"])
    status, view = await api.control(
        "POST", f"rentals/{rent_id}/sms", {"text": "hi", "phone_from": "Bank"}
    )
    assert status == 200 and view["sms"][0]["phone_from"] == "Bank"
    _, listing = await api.control("GET", f"rentals?key={api.key}")
    assert [r["id"] for r in listing["rentals"]] == [rent_id]
    _, one = await api.control("GET", f"rentals/{rent_id}")
    assert one["status"] == "active" and one["hours"] == 4
    activation_id = await api.buy()
    _, activations = await api.control("GET", "activations?status=waiting")
    assert [a["id"] for a in activations["activations"]] == [activation_id]
    _, records = await api.control("GET", "purchases")
    assert [p["id"] for p in records["purchases"]] == [activation_id]
    assert records["purchases"][0]["cost"] == "18.00"
    assert [p["id"] for p in records["rent_purchases"]] == [rent_id]
    _, requests = await api.control("GET", "requests")
    assert "getRentNumber" in [r["action"] for r in requests["requests"]]


async def test_clock_advance_and_speed(api: Api) -> None:
    activation_id = await api.buy()
    _, clock = await api.control("GET", "clock")
    assert clock["time"] == "2027-01-15 08:00:00" and clock["speed"] == 0
    _, clock = await api.control("POST", "clock", {"advance": 1200})
    assert clock["time"] == "2027-01-15 08:20:00"
    assert await api.text("getStatus", id=activation_id) == "STATUS_CANCEL"
    _, clock = await api.control("POST", "clock", {"speed": 60})
    assert clock["speed"] == 60


async def test_clock_of_a_plain_callable_cannot_move() -> None:
    state = SandboxState(lambda: 1_800_000_000.0)
    try:
        state.advance_clock(10)
    except Exception as exc:
        assert "cannot be advanced" in str(exc)
    else:
        raise AssertionError("advance must fail for a plain callable")


async def test_stock_price_offer(api: Api) -> None:
    status, offer = await api.control(
        "POST", "stock", {"country": "0", "service": "tg", "count": 0}
    )
    assert status == 200 and offer["count"] == 0
    assert await api.text("getNumber", service="tg", country="0") == "NO_NUMBERS"
    await api.control("POST", "price", {"country": "0", "service": "tg", "cost": "2.5"})
    await api.control("POST", "stock", {"country": "0", "service": "tg", "count": 3})
    await api.buy()
    assert await api.balance() == Decimal("97.5")
    _, offer = await api.control(
        "POST",
        "offer",
        {"country": "0", "service": "wa", "prohibited": True, "rent_hour_cost": "1"},
    )
    assert offer["prohibited"] is True and offer["rent_hour_cost"] == "1"
    status, _ = await api.control("POST", "stock", {"country": "999", "service": "tg", "count": 1})
    assert status == 404


async def test_faults_via_control(api: Api) -> None:
    status, fault = await api.control(
        "POST", "faults", {"kind": "cloudflare", "action": "getBalance", "count": 2}
    )
    assert status == 201 and fault["remaining"] == 2
    _, listing = await api.control("GET", "faults")
    assert len(listing["faults"]) == 1
    assert (await api.raw({"api_key": api.key, "action": "getBalance"}))[0] == 403
    await api.control("DELETE", "faults")
    assert await api.text("getBalance") == "ACCESS_BALANCE:100"
    status, _ = await api.control("POST", "faults", {"kind": "nope"})
    assert status == 400


async def test_config_and_reset(api: Api) -> None:
    _, config = await api.control("POST", "config", {"quirks": True, "cancel_lock": 0})
    assert config["quirks"] is True and config["cancel_lock"] == 0
    activation_id = await api.buy()
    assert await api.text("setStatus", id=activation_id, status=8) == "ACCESS_CANCEL"
    status, _ = await api.control("POST", "config", {"colour": "red"})
    assert status == 400
    _, done = await api.control("POST", "reset", {"keep_keys": True})
    assert done["keys"] == 1
    assert api.state.activations == {} and api.state.purchases == []
    _, done = await api.control("POST", "reset")
    assert done["keys"] == 0
    assert await api.text("getBalance") == "BAD_KEY"
