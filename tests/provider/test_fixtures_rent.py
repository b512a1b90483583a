"""Rent JSON quirks (protocol.md §3.16, §7.8)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.provider.errors import ProviderError, UnknownOutcome
from bot.provider.models import RentPrice, RentSms

GRIZZLY_DOC_STATUS = (
    '{"status":"success","quantity":"2 ","values":{'
    '"0 ":{"phoneFrom":"66846426435","service":"tg","test":"123456","date":"2023-10-26 11:03:39"},'
    '"1":{"phoneFrom ":"66846426435","service":"tg","test":"224444","date":"2023-10-26 11:02:31"}}}'
)


async def test_rent_number_sends_hours(fake, client):
    fake.answer(
        "getRentNumber",
        '{"status":"success","phone":{"id":10000,"endDate":"2022-07-17T19:54:55+03:00",'
        '"number":9089100000}}',
    )
    rent = await client.get_rent_number("tg", "0", 4)
    assert (rent.rent_id, rent.phone) == ("10000", "9089100000")
    assert rent.ends_at == 1658076895.0
    sent = fake.calls("getRentNumber")[0]
    assert sent["rent_time"] == "4" and sent["service"] == "tg"


async def test_continue_rent_naive_end_date_has_no_epoch(fake, client):
    fake.answer(
        "continueRentNumber",
        '{"status":"success","phone":{"id":29169009,"endDate":"2025-09-30 00:36:18",'
        '"number":"33780736225"}}',
    )
    rent = await client.continue_rent_number("29169009", 24)
    assert rent.end_date == "2025-09-30 00:36:18" and rent.ends_at is None
    assert fake.calls("continueRentNumber")[0]["rent_time"] == "24"


@pytest.mark.parametrize("key", ["error", "message", "msg"])
async def test_rent_errors_under_any_key(fake, client, key):
    fake.answer("getRentNumber", f'{{"status":"error","{key}":"NO_BALANCE"}}')
    with pytest.raises(ProviderError) as caught:
        await client.get_rent_number("tg", "0", 4)
    assert caught.value.code == "NO_BALANCE"
    assert not isinstance(caught.value, UnknownOutcome)


async def test_rent_text_error(fake, client):
    fake.answer("getRentStatus", "BAD_KEY")
    with pytest.raises(ProviderError) as caught:
        await client.get_rent_status("1")
    assert caught.value.code == "BAD_KEY"


async def test_rent_status_grizzly_documented_quirks(fake, client):
    fake.answer("getRentStatus", GRIZZLY_DOC_STATUS)
    status = await client.get_rent_status("1")
    assert status.quantity == 2
    assert status.messages == [
        RentSms("66846426435", "123456", "tg", "2023-10-26 11:03:39"),
        RentSms("66846426435", "224444", "tg", "2023-10-26 11:02:31"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        '{"status":"success","values":{}}',
        '{"status":"success","values":[]}',
        '{"status":"error","message":"STATUS_WAIT_CODE"}',
    ],
)
async def test_rent_status_no_sms_yet(fake, client, body):
    fake.answer("getRentStatus", body)
    status = await client.get_rent_status("1")
    assert status.messages == [] and status.quantity == 0


async def test_rent_status_sms_activate_shape(fake, client):
    fake.answer(
        "getRentStatus",
        '{"status":"success","service":"wa","currency":840,"quantity":"2","values":{'
        '"0":{"phoneFrom":"WhatsApp","text":"code 8362","service":"wa",'
        '"date":"2025-08-22T08:54:25+00:00"},'
        '"1":{"phoneFrom":"WhatsApp","text":"code 9999","service":"wa","date":null}}}',
    )
    status = await client.get_rent_status("1")
    assert [m.text for m in status.messages] == ["code 8362", "code 9999"]


@pytest.mark.parametrize("code", ["STATUS_FINISH", "STATUS_CANCEL", "NO_ID_RENT", "INVALID_PHONE"])
async def test_rent_status_state_errors(fake, client, code):
    fake.answer("getRentStatus", f'{{"status":"error","error":"{code}"}}')
    with pytest.raises(ProviderError) as caught:
        await client.get_rent_status("1")
    assert caught.value.code == code


async def test_set_rent_status(fake, client):
    fake.answer(
        "setRentStatus", '{"status":"success"}', '{"status":"error","msg":"ALREADY_FINISH"}'
    )
    assert await client.set_rent_status("7", 1) is None
    assert fake.calls("setRentStatus")[0]["status"] == "1"
    with pytest.raises(ProviderError) as caught:
        await client.set_rent_status("7", 1)
    assert caught.value.code == "ALREADY_FINISH"


async def test_rent_history(fake, client):
    fake.answer(
        "getRentHistory",
        '[{"id":635468024,"date":"2022-11-12 15:58:39","phone":"79918529716",'
        '"sms":"[\\"Your sms code\\"]","cost":100,"status":"4"},'
        '{"id":"2","date":null,"phone":"7999","sms":["a","b"],"cost":"1.5","status":null}]',
    )
    [period] = await client.get_rent_history("2")
    assert period.price == Decimal("1.5") and period.date is None and period.hours is None
    assert fake.calls("getRentHistory")[0]["id"] == "2"
    fake.answer("getRentHistory", '{"status":"success","values":[]}')
    assert await client.get_rent_history("2") == []


async def test_rent_prices(fake, client):
    fake.answer(
        "getRentPrices",
        '{"status":"success","values":{"0":{"tg":{"cost":"15.5","count":7}}}}',
    )
    prices = await client.get_rent_prices(service="tg", country="0", hours=12)
    assert prices == {"0": {"tg": RentPrice(Decimal("15.5"), 7)}}
    assert fake.calls("getRentPrices")[0]["rent_time"] == "12"


async def test_sms_text_mentioning_1020_is_not_cloudflare(fake, client):
    fake.answer(
        "getRentStatus",
        '{"status":"success","quantity":"1","values":{"0":{"phoneFrom":"Bank",'
        '"text":"error code: 1020 means retry","service":"ot","date":null}}}',
    )
    [message] = (await client.get_rent_status("1")).messages
    assert message.text == "error code: 1020 means retry"
