"""The client against the real sandbox provider over HTTP on 127.0.0.1: every action's success
and its documented errors, and the money-safety faults."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from bot.provider.client import ProviderClient
from bot.provider.errors import ProviderError, ProviderUnavailable, RateLimited, UnknownOutcome
from sandbox.server import SandboxServer
from sandbox.state import Clock, SandboxState

START = 1_800_000_000.0


@pytest.fixture
def state() -> SandboxState:
    return SandboxState(clock=Clock(start=START, speed=0))


@pytest.fixture
async def server(state: SandboxState) -> AsyncIterator[SandboxServer]:
    sandbox = SandboxServer(state)
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
def key(state: SandboxState) -> str:
    return state.create_key(balance="100")


def make_client(server: SandboxServer, key: str, session, **kwargs) -> ProviderClient:
    options = {"timeout": 2.0, "read_retries": 2, "retry_delay": 0.001, **kwargs}
    return ProviderClient(server.url, key, session, **options)


@pytest.fixture
def api(server: SandboxServer, key: str, session: aiohttp.ClientSession) -> ProviderClient:
    return make_client(server, key, session)


def sent(state: SandboxState, action: str) -> list[dict]:
    return [request for request in state.requests if request["action"] == action]


async def expect_code(code: str, awaitable) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await awaitable
    assert caught.value.code == code, caught.value
    return caught.value


def cheapest(state: SandboxState, country: str, service: str) -> Decimal:
    return state.offers[(country, service)].cost


# ---------------------------------------------------------------- account


async def test_balance_and_account_errors(state, server, key, session, api):
    assert (await api.get_balance()).amount == Decimal("100")
    await expect_code("BAD_KEY", make_client(server, "nope", session).get_balance())
    await expect_code("NO_KEY", make_client(server, "", session).get_balance())
    state.geo_block(key)
    await expect_code("SERVICE_UNAVAILABLE_REGION", api.get_balance())
    state.geo_block(key, False)
    state.ban(key, "2030-1-2 3-4-5")
    banned = await expect_code("BANNED", api.get_balance())
    assert banned.banned_until == "2030-1-2 3-4-5"


async def test_balance_with_quirks(state, api):
    state.configure(quirks=True)
    assert (await api.get_balance()).amount == Decimal("100")


# ---------------------------------------------------------------- buying


async def test_get_number_charges_once(state, key, api):
    cost = cheapest(state, "0", "tg")
    purchase = await api.get_number("tg", "0", max_price=cost)
    assert purchase.activation_id in state.activations
    assert purchase.phone == state.activations[purchase.activation_id].phone
    assert state.balance(key) == Decimal("100") - cost
    assert len(state.purchases) == 1
    assert Decimal(sent(state, "getNumber")[0]["params"]["maxPrice"]) == cost


async def test_get_number_v2_details(state, api):
    purchase = await api.get_number_v2("wa", "6")
    activation = state.activations[purchase.activation_id]
    assert purchase.cost == activation.cost
    assert purchase.country == "6"
    assert purchase.currency == "643"
    assert purchase.lifetime == 1200.0 and purchase.cancel_lock == 120.0
    assert purchase.can_get_another_sms is True


async def test_get_number_v2_with_quirks(state, api):
    state.configure(quirks=True)
    purchase = await api.get_number_v2("wa", "6")
    assert purchase.cost == state.activations[purchase.activation_id].cost
    assert purchase.country == "6" and purchase.lifetime == 1200.0


async def test_buy_activation_uses_v2(state, api):
    await api.buy_activation("tg", "0")
    assert len(sent(state, "getNumberV2")) == 1 and sent(state, "getNumber") == []


@pytest.mark.parametrize("action", ["get_number", "get_number_v2"])
async def test_purchase_errors(state, key, api, action):
    buy = getattr(api, action)
    await expect_code("BAD_SERVICE", buy("zzz", "0"))
    await expect_code("BAD_COUNTRY", buy("tg", "9999"))
    state.set_stock("0", "tg", 0)
    await expect_code("NO_NUMBERS", buy("tg", "0"))
    state.set_prohibited("6", "tg")
    await expect_code("SERVICE_PROHIBITED", buy("tg", "6"))
    low = await expect_code("WRONG_MAX_PRICE", buy("wa", "0", max_price=Decimal("0.01")))
    assert low.min_price == cheapest(state, "0", "wa")
    state.account(key).channels_limit = 0
    await expect_code("CHANNELS_LIMIT", buy("wa", "0"))
    state.account(key).channels_limit = 50
    state.set_balance(key, "0")
    error = await expect_code("NO_BALANCE", buy("wa", "0"))
    assert not isinstance(error, UnknownOutcome)
    assert state.purchases == []


# ---------------------------------------------------------------- activation lifecycle


async def test_status_code_retry_and_finish(state, api):
    purchase = await api.get_number("tg", "0")
    aid = purchase.activation_id
    assert (await api.get_status(aid)).state == "wait_code"
    assert (await api.get_status_v2(aid)).state == "wait_code"
    assert await api.set_status(aid, 1) == "ACCESS_READY"
    await expect_code("BAD_STATUS", api.set_status(aid, 3))  # no code yet
    await expect_code("BAD_STATUS", api.set_status(aid, 6))
    state.deliver_sms(aid, "Your code 001234", code="001234")
    status = await api.get_status(aid)
    assert (status.state, status.code) == ("ok", "001234")
    v2 = await api.get_status_v2(aid)
    assert (v2.state, v2.code, v2.text) == ("ok", "001234", "Your code 001234")
    [active] = await api.get_active_activations()
    assert (active.activation_id, active.code, active.service) == (aid, "001234", "tg")
    await expect_code("BAD_STATUS", api.set_status(aid, 8))  # cancel after a code
    assert await api.set_status(aid, 3) == "ACCESS_RETRY_GET"
    retry = await api.get_status(aid)
    assert (retry.state, retry.code) == ("wait_retry", "001234")  # the OLD code
    state.deliver_sms(aid, "code 5:67", code="5:67")
    assert (await api.get_status(aid)).code == "5:67"
    assert await api.set_status(aid, 6) == "ACCESS_ACTIVATION"
    await expect_code("NO_ACTIVATION", api.set_status(aid, 6))
    assert await api.get_active_activations() == []


async def test_cancel_lock_refund_and_expiry(state, key, api):
    aid = (await api.get_number("tg", "0")).activation_id
    after_buy = state.balance(key)
    await expect_code("EARLY_CANCEL_DENIED", api.set_status(aid, 8))
    state.advance_clock(121)
    assert await api.set_status(aid, 8) == "ACCESS_CANCEL"
    assert state.balance(key) == Decimal("100")
    assert (await api.get_status(aid)).state == "cancel"
    await expect_code("NO_ACTIVATION", api.set_status(aid, -1))
    other = (await api.get_number("tg", "0")).activation_id
    assert state.balance(key) == after_buy
    state.advance_clock(1201)
    assert (await api.get_status(other)).state == "cancel"  # expired and refunded
    assert state.balance(key) == Decimal("100")


async def test_unknown_activation(api):
    await expect_code("NO_ACTIVATION", api.get_status("1"))
    await expect_code("NO_ACTIVATION", api.get_status_v2("1"))
    await expect_code("NO_ACTIVATION", api.set_status("1", 8))


async def test_active_activations_with_quirks(state, api):
    state.configure(quirks=True)
    assert await api.get_active_activations() == []  # null
    aid = (await api.get_number("tg", "0")).activation_id
    state.deliver_sms(aid, "code 4321")
    [item] = await api.get_active_activations()
    assert item.code == "4321" and item.cost == state.activations[aid].cost
    assert (await api.get_status(aid)).code == "4321"  # quoted body


# ---------------------------------------------------------------- catalog


async def test_catalog(state, api):
    prices = await api.get_prices(service="tg")
    assert prices["0"]["tg"].cost == cheapest(state, "0", "tg")
    assert set(prices) == set(state.countries)
    offers = await api.get_prices_v3(service="tg", country="0")
    assert [(o.country, o.service, o.price) for o in offers] == [
        ("0", "tg", cheapest(state, "0", "tg"))
    ]
    countries = {c.id: c for c in await api.get_countries()}
    assert countries["0"].name("ru") == "Россия" and countries["187"].name("en") == "USA"
    services = {s.code: s.name for s in await api.get_services_list(lang="en")}
    assert services["tg"] == "Telegram"
    await expect_code("BAD_SERVICE", api.get_prices(service="zzz"))
    await expect_code("BAD_COUNTRY", api.get_prices_v3(country="9999"))
    await expect_code("BAD_COUNTRY", api.get_services_list(country="9999"))


async def test_catalog_with_quirks(state, api):
    state.configure(quirks=True)
    countries = await api.get_countries()
    assert all(not name.endswith((" ", "\t")) for c in countries for name in c.names.values())
    assert all(c.name("zh") for c in countries)
    services = {s.code: s.name for s in await api.get_services_list(lang="ru")}
    assert services["tg"] == "Телеграм"


# ---------------------------------------------------------------- rent


async def test_rent_lifecycle(state, key, api):
    rent = await api.get_rent_number("tg", "0", 4)
    assert sent(state, "getRentNumber")[0]["params"]["rent_time"] == "4"
    assert state.rent_purchases[0]["hours"] == 4
    assert rent.phone == state.rentals[rent.rent_id].phone
    status = await api.get_rent_status(rent.rent_id)
    assert status.messages == [] and status.quantity == 0
    state.deliver_rent_sms(rent.rent_id, "hello 1111", phone_from="Telegram")
    state.deliver_rent_sms(rent.rent_id, "hello 2222", phone_from="Telegram")
    status = await api.get_rent_status(rent.rent_id)
    assert status.quantity == 2
    assert {m.text for m in status.messages} == {"hello 1111", "hello 2222"}
    assert {m.phone_from for m in status.messages} == {"Telegram"}
    extended = await api.continue_rent_number(rent.rent_id, 8)
    assert extended.rent_id == rent.rent_id and state.extensions[0]["hours"] == 8
    await expect_code("CANT_CANCEL", api.set_rent_status(rent.rent_id, 2))  # SMS arrived
    assert await api.set_rent_status(rent.rent_id, 1) is None
    await expect_code("ALREADY_FINISH", api.set_rent_status(rent.rent_id, 1))
    await expect_code("RENT_DIE", api.continue_rent_number(rent.rent_id, 4))
    extension, first = await api.get_rent_history(rent.rent_id)
    assert sent(state, "getRentHistory")[0]["params"]["id"] == rent.rent_id
    assert (first.hours, extension.hours) == (4, 8)
    assert first.price + extension.price == state.rentals[rent.rent_id].cost


async def test_rent_cancel_refunds(state, key, api):
    rent = await api.get_rent_number("wa", "6", 4)
    assert state.balance(key) < Decimal("100")
    assert await api.set_rent_status(rent.rent_id, 2) is None
    assert state.balance(key) == Decimal("100")
    await expect_code("ALREADY_CANCEL", api.set_rent_status(rent.rent_id, 2))
    late = await api.get_rent_number("wa", "6", 4)
    state.advance_clock(1201)
    await expect_code("CANT_CANCEL", api.set_rent_status(late.rent_id, 2))


async def test_rent_errors(state, key, api):
    await expect_code("BAD_SERVICE", api.get_rent_number("zzz", "0", 4))
    await expect_code("BAD_COUNTRY", api.get_rent_number("tg", "9999", 4))
    await expect_code("INVALID_TIME", api.get_rent_number("tg", "0", 2))
    state.set_rent("0", "tg", count=0)
    await expect_code("NO_NUMBERS", api.get_rent_number("tg", "0", 4))
    state.set_prohibited("6", "tg")
    await expect_code("SERVICE_PROHIBITED", api.get_rent_number("tg", "6", 4))
    rent = await api.get_rent_number("wa", "0", 4)
    await expect_code("INVALID_TIME", api.continue_rent_number(rent.rent_id, 1))
    await expect_code("MAX_HOURS_EXCEED", api.continue_rent_number(rent.rent_id, 1344))
    await expect_code("INVALID_PHONE", api.continue_rent_number("123", 4))
    await expect_code("INVALID_PHONE", api.get_rent_status("123"))
    await expect_code("NO_ID_RENT", api.get_rent_status(""))
    await expect_code("INVALID_PHONE", api.set_rent_status("123", 1))
    with pytest.raises(ValueError):  # INCORECT_STATUS is prevented before sending
        await api.set_rent_status(rent.rent_id, 3)
    state.set_balance(key, "0")
    error = await expect_code("NO_BALANCE", api.get_rent_number("wa", "0", 4))
    assert not isinstance(error, UnknownOutcome)
    await expect_code("NO_BALANCE", api.continue_rent_number(rent.rent_id, 4))
    await expect_code("INVALID_TIME", api.get_rent_prices(hours=2))
    assert len(state.rent_purchases) == 1


async def test_rent_quirks_and_message_key(state, api):
    state.configure(quirks=True, rent_error_key="message")
    rent = await api.get_rent_number("tg", "0", 4)
    assert (await api.get_rent_status(rent.rent_id)).messages == []  # values: []
    for text in ("one 111", "two 222", "three 333"):
        state.deliver_rent_sms(rent.rent_id, text)
    status = await api.get_rent_status(rent.rent_id)
    assert status.quantity == 3
    assert sorted(m.text for m in status.messages) == ["one 111", "three 333", "two 222"]
    assert all(m.phone_from == "Service" for m in status.messages)
    [period] = await api.get_rent_history(rent.rent_id)
    assert period.hours == 4 and period.price == state.rentals[rent.rent_id].cost
    await expect_code("INVALID_PHONE", api.get_rent_status("123"))


async def test_rent_prices(state, api):
    prices = await api.get_rent_prices(service="tg", country="0", hours=12)
    assert prices["0"]["tg"].cost == state.offers[("0", "tg")].rent_hour * 12
    assert sent(state, "getRentPrices")[0]["params"]["rent_time"] == "12"


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("mode", ["close", "garble"])
async def test_dropped_purchase_is_unknown_outcome_and_not_retried(state, key, api, mode):
    state.inject_fault("drop_after_charge", action="getNumberV2", mode=mode)
    with pytest.raises(UnknownOutcome):
        await api.buy_activation("tg", "0")
    assert len(state.purchases) == 1  # charged exactly once
    assert len(sent(state, "getNumberV2")) == 1
    assert sent(state, "getNumber") == []  # no fallback either
    assert state.balance(key) == Decimal("100") - cheapest(state, "0", "tg")


async def test_dropped_rent_purchase_is_unknown_outcome(state, api):
    state.inject_fault("drop_after_charge", action="getRentNumber")
    with pytest.raises(UnknownOutcome):
        await api.get_rent_number("tg", "0", 4)
    assert len(state.rent_purchases) == 1
    assert len(sent(state, "getRentNumber")) == 1


async def test_purchase_timeout_is_unknown_outcome(state, server, key, session):
    client = make_client(server, key, session, timeout=0.1)
    state.inject_fault("timeout", action="getNumber", seconds=0.5)
    with pytest.raises(UnknownOutcome) as caught:
        await client.get_number("tg", "0")
    assert caught.value.code == "TIMEOUT"
    assert len(state.purchases) == 1 and len(sent(state, "getNumber")) == 1


@pytest.mark.parametrize("kind", ["http500", "html502", "garbled", "empty"])
async def test_purchase_fault_is_not_retried(state, api, kind):
    state.inject_fault(kind, action="getNumber", count=5)
    with pytest.raises(UnknownOutcome):
        await api.get_number("tg", "0")
    assert len(sent(state, "getNumber")) == 1


async def test_read_retries_through_transient_faults(state, api):
    state.inject_fault("http500", action="getBalance", count=1)
    state.inject_fault("html502", action="getBalance", count=1)
    assert (await api.get_balance()).amount == Decimal("100")
    assert len(sent(state, "getBalance")) == 3


@pytest.mark.parametrize(
    ("kind", "code"), [("garbled", "GARBLED"), ("empty", "GARBLED"), ("html502", "HTTP_502")]
)
async def test_read_gives_up_after_retries(state, api, kind, code):
    state.inject_fault(kind, action="getActiveActivations", count=5)
    with pytest.raises(ProviderUnavailable) as caught:
        await api.get_active_activations()
    assert caught.value.code == code
    assert len(sent(state, "getActiveActivations")) == 3


async def test_rate_limits(state, server, key, session):
    waits: list[float] = []
    now = [0.0]

    async def sleep(seconds: float) -> None:  # waits are recorded, never really slept
        waits.append(seconds)
        now[0] += seconds

    api = make_client(server, key, session, sleep=sleep, clock=lambda: now[0])
    state.inject_fault("rate_limit", action="getStatus", count=2, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        await api.get_status("1")
    # Waited the 7 s asked once; a second wait would pass the 10 s an interactive read has.
    assert caught.value.retry_after == 7.0 and waits == [7.0]
    state.inject_fault("cloudflare", action="getStatus")
    with pytest.raises(RateLimited) as caught:
        await api.get_status("1")
    assert caught.value.retry_after == 10.0  # at least 10 s after a 1020
    assert len(sent(state, "getStatus")) == 3


async def test_key_never_logged_or_raised(state, server, key, session, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(server, key, session, timeout=0.1)
    state.inject_fault("timeout", action="getNumber", seconds=0.5)
    state.inject_fault("drop_after_charge", action="getNumberV2")
    state.inject_fault("html502", action="getBalance", count=5)
    errors = []
    for call in (
        client.get_number("tg", "0"),
        client.get_number_v2("tg", "0"),
        client.get_balance(),
        make_client(server, key + "x", session).get_balance(),
    ):
        with pytest.raises(ProviderError) as caught:
            await call
        errors.append(caught.value)
    assert caplog.records
    for record in caplog.records:
        assert key not in record.getMessage()
    for error in errors:
        assert key not in str(error) and key not in repr(error)
        assert error.__cause__ is None


async def test_rent_history_with_id_over_http(state, api):
    """The seed page's getRentHistory&id=: one rental's periods, date, price and hours."""
    rent = await api.get_rent_number("tg", "0", 4)
    state.advance_clock(600)
    await api.continue_rent_number(rent.rent_id, 12)
    other = await api.get_rent_number("wa", "0", 4)
    periods = await api.get_rent_history(rent.rent_id)
    hour = state.offers[("0", "tg")].rent_hour
    assert [(p.hours, p.price) for p in periods] == [(12, hour * 12), (4, hour * 4)]
    assert periods[0].date == state.fmt_time(START + 600)
    assert periods[1].date == state.fmt_time(START)
    assert [p.hours for p in await api.get_rent_history(other.rent_id)] == [4]
    await expect_code("NO_ID_RENT", api.get_rent_history("123"))
    assert [r["params"]["id"] for r in sent(state, "getRentHistory")] == [
        rent.rent_id,
        other.rent_id,
        "123",
    ]
