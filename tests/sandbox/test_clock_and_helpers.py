"""The sandbox Clock, code extraction and settings that only change formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest

import sandbox.state as state_module
from sandbox.state import Clock, SandboxState, extract_code


@pytest.fixture
def real_time(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(state_module.time, "time", lambda: now[0])
    return now


def test_clock_follows_real_time_by_default(real_time: list[float]) -> None:
    clock = Clock()
    assert clock() == 1000.0
    real_time[0] += 5
    assert clock.now() == 1005.0


def test_clock_advance_and_speed(real_time: list[float]) -> None:
    clock = Clock(start=50.0)
    clock.advance(10)
    assert clock() == 60.0
    real_time[0] += 2
    assert clock() == 62.0
    clock.set_speed(60)
    real_time[0] += 1
    assert clock() == 122.0  # the 2 s before the change kept speed 1
    clock.set_speed(0)
    real_time[0] += 100
    assert clock() == 122.0 and clock.speed == 0
    with pytest.raises(ValueError):
        clock.set_speed(-1)


def test_state_clock_helpers_work_on_a_bound_method() -> None:
    clock = Clock(start=0, speed=0)
    state = SandboxState(clock.now)
    state.advance_clock(30)
    state.set_clock_speed(2)
    assert clock.speed == 2 and clock.now() >= 30


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Telegram code 12345", "12345"),
        ("Your code: 001234. Don't share it", "001234"),
        ("G-482913 is your Google code", "482913"),
        ("no digits here ", "no digits here"),
    ],
)
def test_extract_code(text: str, code: str) -> None:
    assert extract_code(text) == code


def test_timezone_offset_shifts_dates() -> None:
    state = SandboxState(Clock(start=1_800_000_000, speed=0), tz_offset_hours=3)
    key = state.create_key()
    reply = state.handle({"api_key": key, "action": "getNumberV2", "service": "tg"})
    assert '"activationTime":"2027-01-15 11:00:00"' in reply.body


def test_cashback_balance_alias_and_long_rent_limit() -> None:
    state = SandboxState(Clock(start=1_800_000_000, speed=0))
    key = state.create_key(balance="100000")
    assert state.handle({"api_key": key, "action": "getBalanceAndCashBack"}).body == (
        "ACCESS_BALANCE:100000"
    )
    rent = state.handle(
        {"api_key": key, "action": "getRentNumber", "service": "ot", "rent_time": "1344"}
    )
    assert '"status":"success"' in rent.body
    (rental,) = state.rentals.values()
    extend = {"api_key": key, "action": "continueRentNumber", "id": rental.id, "time": "4"}
    assert state.handle(extend).body == '{"status":"error","error":"MAX_HOURS_EXCEED"}'
    assert state.balance(key) == Decimal("100000") - Decimal("1.5") * 1344


def test_no_seed_catalog_means_empty_catalog() -> None:
    state = SandboxState(Clock(start=0, speed=0), seed_catalog=False)
    key = state.create_key()
    assert state.handle({"api_key": key, "action": "getCountries"}).body == "{}"
    assert state.handle({"api_key": key, "action": "getNumber", "service": "tg"}).body == (
        "BAD_SERVICE"
    )


def test_request_records_are_trimmed_when_capped() -> None:
    state = SandboxState(Clock(start=0, speed=0), max_requests=3)
    key = state.create_key()
    for _ in range(7):
        state.handle({"api_key": key, "action": "getBalance"})
    assert 3 <= len(state.requests) <= 6
    unlimited = SandboxState(Clock(start=0, speed=0))
    for _ in range(7):
        unlimited.handle({"api_key": key, "action": "getBalance"})
    assert len(unlimited.requests) == 7


def test_many_activations_expire_in_one_tick() -> None:
    clock = Clock(start=0, speed=0)
    state = SandboxState(clock, lifetime=60)
    key = state.create_key(balance="100000")
    state.account(key).channels_limit = 1000
    for _ in range(300):
        state.handle({"api_key": key, "action": "getNumber", "service": "ot", "country": "6"})
    assert state.handle({"api_key": key, "action": "getBalance"}).body == "ACCESS_BALANCE:99100"
    clock.advance(60)
    state.tick()
    assert {a.status for a in state.activations.values()} == {"expired"}
    assert state.balance(key) == Decimal("100000")
    assert state.handle({"api_key": key, "action": "getActiveActivations"}).body == "[]"
