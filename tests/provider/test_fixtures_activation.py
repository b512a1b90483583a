"""Activation actions against literal bodies as providers send them (protocol.md §3, §7)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.provider.errors import (
    KNOWN_CODES,
    ActionNotSupported,
    ProviderError,
    ProviderUnavailable,
    UnknownOutcome,
)
from bot.provider.models import ActivationStatus
from tests.provider.conftest import API_KEY, Canned

GRIZZLY_V2 = (
    '{"activationId":495357953,"phoneNumber":"18036181752","activationCost":0.35,'
    '"currency":643,"countryCode":"12","canGetAnotherSms":"0",'
    '"activationTime":"2026-05-07 13:58:16","activationEnd":"2026-05-07 14:18:16",'
    '"activationCancel":"2026-05-07 14:03:16"}'
)


async def test_balance_high_precision(fake, client):
    fake.answer("getBalance", "ACCESS_BALANCE:123456789.01234567")
    balance = await client.get_balance()
    assert balance.amount == Decimal("123456789.01234567")
    assert fake.requests[0]["api_key"] == API_KEY


@pytest.mark.parametrize(
    "body",
    ["\ufeffACCESS_BALANCE:210.05\r\n", '"ACCESS_BALANCE:210.05"', "'ACCESS_BALANCE:210.05'"],
)
async def test_body_cleaning_bom_whitespace_quotes(fake, client, body):
    fake.answer("getBalance", body)
    assert (await client.get_balance()).amount == Decimal("210.05")


async def test_get_number_keeps_ids_as_strings(fake, client):
    fake.answer("getNumber", "ACCESS_NUMBER:038496653:66846426435")
    purchase = await client.get_number("tg", "6", max_price=Decimal("0.50"))
    assert purchase.activation_id == "038496653"
    assert purchase.phone == "66846426435"
    sent = fake.calls("getNumber")[0]
    assert sent["service"] == "tg" and sent["country"] == "6" and sent["maxPrice"] == "0.50"


async def test_get_number_v2_grizzly_fixture_computes_lifetime_and_cancel_lock(fake, client):
    fake.answer("getNumberV2", GRIZZLY_V2)
    purchase = await client.get_number_v2("tg", "12")
    assert purchase.activation_id == "495357953"
    assert purchase.cost == Decimal("0.35")
    assert purchase.currency == "643"
    assert purchase.country == "12"
    assert purchase.can_get_another_sms is False
    assert purchase.lifetime == 1200.0
    assert purchase.cancel_lock == 300.0


async def test_get_number_v2_older_documented_response_with_strings(fake, client):
    fake.answer(
        "getNumberV2",
        '{"activationId":"123","phoneNumber":"79990001122","activationCost":"0.35",'
        '"currency":"840"}',
    )
    purchase = await client.get_number_v2("tg", "0")
    assert (purchase.activation_id, purchase.cost, purchase.currency) == (
        "123",
        Decimal("0.35"),
        "840",
    )
    assert purchase.lifetime is None and purchase.cancel_lock is None


async def test_get_number_v2_text_errors(fake, client):
    fake.answer("getNumberV2", "NO_NUMBERS")
    with pytest.raises(ProviderError) as caught:
        await client.get_number_v2("tg", "0")
    assert caught.value.code == "NO_NUMBERS"
    assert not isinstance(caught.value, UnknownOutcome)


async def test_wrong_max_price_carries_minimum(fake, client):
    fake.answer("getNumber", "WRONG_MAX_PRICE:0.500000")
    with pytest.raises(ProviderError) as caught:
        await client.get_number("tg", "0", max_price=Decimal("0.1"))
    assert caught.value.code == "WRONG_MAX_PRICE"
    assert caught.value.min_price == Decimal("0.5")


async def test_banned_carries_date(fake, client):
    fake.answer("getBalance", "BANNED:'2026-1-2 3-4-5'")
    with pytest.raises(ProviderError) as caught:
        await client.get_balance()
    assert caught.value.code == "BANNED"
    assert caught.value.banned_until == "2026-1-2 3-4-5"


async def test_human_sentence_is_service_prohibited(fake, client):
    fake.answer("getNumber", "The service is prohibited for sale by administration")
    with pytest.raises(ProviderError) as caught:
        await client.get_number("tg", "0")
    assert caught.value.code == "SERVICE_PROHIBITED"
    assert not isinstance(caught.value, UnknownOutcome)


@pytest.mark.parametrize("code", sorted(KNOWN_CODES - {"BAD_ACTION"}))
async def test_every_known_code_is_an_error_on_reads(fake, client, code):
    fake.answer("getBalance", code)
    with pytest.raises(ProviderError) as caught:
        await client.get_balance()
    assert caught.value.code == code
    assert not isinstance(caught.value, ProviderUnavailable)
    assert len(fake.calls("getBalance")) == 1  # a definite answer is not retried


async def test_unknown_code_is_an_error_never_success(fake, client):
    fake.answer("getBalance", "SOMETHING_NEW:42")
    with pytest.raises(ProviderError) as caught:
        await client.get_balance()
    assert caught.value.code == "SOMETHING_NEW"


async def test_unknown_code_on_purchase_is_unknown_outcome(fake, client):
    fake.answer("getNumber", "ACCESS_NUMBER_MAYBE")
    with pytest.raises(UnknownOutcome):
        await client.get_number("tg", "0")


async def test_bad_action_remembered_and_buy_falls_back(fake, client):
    fake.answer("getNumberV2", "BAD_ACTION")
    fake.answer("getNumber", "ACCESS_NUMBER:1:79990001122")
    purchase = await client.buy_activation("tg", "0")
    assert purchase.activation_id == "1"
    assert not client.supports("getNumberV2")
    await client.buy_activation("tg", "0")
    assert len(fake.calls("getNumberV2")) == 1  # not asked again
    assert len(fake.calls("getNumber")) == 2


async def test_bad_action_raises_action_not_supported(fake, client):
    fake.answer("getActiveActivations", "BAD_ACTION")
    with pytest.raises(ActionNotSupported):
        await client.get_active_activations()
    assert not client.supports("getActiveActivations")
    assert client.supports("getStatus")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STATUS_WAIT_CODE", ActivationStatus("wait_code")),
        ("STATUS_WAIT_RESEND", ActivationStatus("wait_resend")),
        ("STATUS_CANCEL", ActivationStatus("cancel")),
        ("STATUS_OK:001234", ActivationStatus("ok", "001234")),
        ("STATUS_OK:12:34", ActivationStatus("ok", "12:34")),
        ("STATUS_WAIT_RETRY:001234", ActivationStatus("wait_retry", "001234")),
        ('"STATUS_WAIT_CODE"', ActivationStatus("wait_code")),
        ("'STATUS_CANCEL'", ActivationStatus("cancel")),
        ("STATUS_OK:Нет кода", ActivationStatus("wait_code")),
    ],
)
async def test_get_status_states(fake, client, body, expected):
    fake.answer("getStatus", body)
    assert await client.get_status("1") == expected


async def test_get_status_v2_json_and_text(fake, client):
    fake.answer(
        "getStatusV2",
        '{"verificationType":0,"sms":{"code":"852508","text":"code 852508"},"call":null}',
        "STATUS_WAIT_CODE",
        '{"verificationType":0,"sms":[{"code":"1"},{"code":"0042","text":"new"}],"call":null}',
        '{"verificationType":"sms","data":{"code":"777","text":"hero 777"}}',
        "NO_ACTIVATION",
    )
    first = await client.get_status_v2("1")
    assert (first.state, first.code, first.text) == ("ok", "852508", "code 852508")
    assert (await client.get_status_v2("1")).state == "wait_code"
    third = await client.get_status_v2("1")
    assert (third.code, third.text) == ("0042", "new")
    assert (await client.get_status_v2("1")).code == "777"
    with pytest.raises(ProviderError) as caught:
        await client.get_status_v2("1")
    assert caught.value.code == "NO_ACTIVATION"


@pytest.mark.parametrize(
    ("status", "ack"),
    [
        (1, "ACCESS_READY"),
        (3, "ACCESS_RETRY_GET"),
        (6, "ACCESS_ACTIVATION"),
        (8, "ACCESS_CANCEL"),
        (-1, "ACCESS_CANCEL"),
        (8, "ALREADY_CANCEL"),
    ],
)
async def test_set_status_ack(fake, client, status, ack):
    fake.answer("setStatus", ack)
    assert await client.set_status("5", status) == ack
    assert fake.calls("setStatus")[0]["status"] == str(status)


@pytest.mark.parametrize(("status", "ack"), [(8, "ACCESS_READY"), (6, "ACCESS_CANCEL")])
async def test_set_status_ack_mismatch(fake, client, status, ack):
    fake.answer("setStatus", ack)
    with pytest.raises(ProviderError) as caught:
        await client.set_status("5", status)
    assert caught.value.code == "ACK_MISMATCH"
    assert caught.value.payload == ack


async def test_set_status_errors_and_no_retry(fake, client):
    fake.answer("setStatus", "EARLY_CANCEL_DENIED", Canned(500, "oops"))
    with pytest.raises(ProviderError) as caught:
        await client.set_status("5", 8)
    assert caught.value.code == "EARLY_CANCEL_DENIED"
    with pytest.raises(ProviderUnavailable):
        await client.set_status("5", 8)
    assert len(fake.calls("setStatus")) == 2  # the write is not retried


async def test_set_status_rejects_unknown_value_locally(fake, client):
    with pytest.raises(ValueError):
        await client.set_status("5", 2)
    assert fake.requests == []
