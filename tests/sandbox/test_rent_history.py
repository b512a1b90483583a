"""getRentHistory as the seed page documents it: `id` of one rental, its periods keyed "1",
"2", ... with date, price and hours, NO_ID_RENT for a missing or wrong id."""

from __future__ import annotations

import pytest

from sandbox.state import Clock, SandboxState
from tests.sandbox.conftest import Api

# Seed: tg rent costs 4.00 per hour in Russia.


async def _rent(api: Api, hours: int = 4) -> str:
    data = await api.json("getRentNumber", service="tg", country="0", rent_time=hours)
    assert data["status"] == "success", data
    return str(data["phone"]["id"])


async def test_periods_of_one_rental_newest_first(api: Api, fake_clock: Clock) -> None:
    rent_id = await _rent(api, 4)
    other = await _rent(api, 6)
    fake_clock.advance(3600)
    extended = await api.json("continueRentNumber", id=rent_id, rent_time=5)
    assert extended["status"] == "success"
    history = await api.json("getRentHistory", id=rent_id)
    assert history == {
        "status": "success",
        "quantity": "2",
        "values": {
            "1": {"date": "2027-01-15 09:00:00", "price": 20, "hours": 5},
            "2": {"date": "2027-01-15 08:00:00", "price": 16, "hours": 4},
        },
    }
    other_history = await api.json("getRentHistory", id=other)
    assert other_history["quantity"] == "1" and other_history["values"]["1"]["hours"] == 6


async def test_fractional_price_is_a_json_number(api: Api, state: SandboxState) -> None:
    state.set_rent("0", "tg", hour_cost="0.9")
    rent_id = await _rent(api, 4)
    history = await api.json("getRentHistory", id=rent_id)
    assert history["values"]["1"]["price"] == 3.6


@pytest.mark.parametrize("params", [{}, {"id": ""}, {"id": "123"}])
async def test_missing_or_unknown_id_is_no_id_rent(api: Api, params: dict[str, str]) -> None:
    await _rent(api)
    assert await api.json("getRentHistory", **params) == {"status": "error", "error": "NO_ID_RENT"}


async def test_another_keys_rental_is_no_id_rent(api: Api, state: SandboxState) -> None:
    rent_id = await _rent(api)
    stranger = state.create_key(balance="100")
    answer = await api.json("getRentHistory", key=stranger, id=rent_id)
    assert answer == {"status": "error", "error": "NO_ID_RENT"}


async def test_error_key_follows_the_dialect(api: Api, state: SandboxState) -> None:
    state.configure(rent_error_key="message")
    assert await api.json("getRentHistory") == {"status": "error", "message": "NO_ID_RENT"}


async def test_quirks_put_the_seed_example_leading_space_in_a_date(
    api: Api, state: SandboxState, fake_clock: Clock
) -> None:
    state.configure(quirks=True)
    rent_id = await _rent(api, 4)
    fake_clock.advance(60)
    await api.json("continueRentNumber", id=rent_id, rent_time=4)
    values = (await api.json("getRentHistory", id=rent_id))["values"]
    assert values["1"]["date"] == "2027-01-15 08:01:00"
    assert values["2"]["date"] == " 2027-01-15 08:00:00"
