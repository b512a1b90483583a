"""getRentList (item 23): the key's rentals, in sms-activate's and sms.online's shapes, read as
tolerantly as the other lists; Grizzly has no such action (BAD_ACTION, asked once)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.provider.errors import ActionNotSupported, ProviderError, ProviderUnavailable
from bot.provider.models import RentListItem


async def test_rent_list_sms_activate_shape(fake, client):
    fake.answer(
        "getRentList",
        '{"status":"success","values":{"0":{"id":29169009,"phone":"79001112233"},'
        '"1":{"id":"29169010","phone":79001112244,"endDate":"2025-09-30T00:36:18+00:00"}}}',
    )
    first, second = await client.get_rent_list()
    assert first == RentListItem("29169009", "79001112233")
    assert (second.rent_id, second.phone) == ("29169010", "79001112244")
    assert second.end_date == "2025-09-30T00:36:18+00:00" and second.ends_at == 1759192578.0


async def test_rent_list_sms_online_shape(fake, client):
    fake.answer(
        "getRentList",
        '{"status":"success","values":[{"id":"635468024","phone":"79918529716",'
        '"price":"100","hours":"4"}]}',
    )
    [item] = await client.get_rent_list()
    assert item == RentListItem("635468024", "79918529716", price=Decimal("100"), hours=4)


@pytest.mark.parametrize(
    "body",
    [
        '{"status":"success","values":{}}',
        '{"status":"success","values":[]}',
        '{"status":"success","values":null}',
        '{"status":"success"}',
        "[]",
    ],
)
async def test_rent_list_empty(fake, client, body):
    fake.answer("getRentList", body)
    assert await client.get_rent_list() == []


async def test_rent_list_drops_a_malformed_item(fake, client):
    fake.answer(
        "getRentList",
        '{"status":"success","values":{"0":{"id":"1","phone":"79000000001"},'
        '"1":{"phone":"79000000002"},"2":"junk","3":{"id":"4"}}}',
    )
    assert [item.rent_id for item in await client.get_rent_list()] == ["1"]


async def test_rent_list_with_nothing_readable_is_garbled(fake, client):
    fake.answer("getRentList", '{"status":"success","values":{"0":{"foo":1}}}')
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_rent_list()
    assert caught.value.code == "GARBLED"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"status":"error","message":"BAD_KEY"}', "BAD_KEY"),
        ('{"status":"error","error":"SERVER_ERROR"}', "SERVER_ERROR"),
        ("BAD_KEY", "BAD_KEY"),
    ],
)
async def test_rent_list_errors_raise(fake, client, body, code):
    fake.answer("getRentList", body)
    with pytest.raises(ProviderError) as caught:
        await client.get_rent_list()
    assert caught.value.code == code


async def test_rent_list_bad_action_is_remembered(fake, client):
    fake.answer("getRentList", "BAD_ACTION")
    with pytest.raises(ActionNotSupported):
        await client.get_rent_list()
    assert not client.supports("getRentList")
    assert client.supports("getRentStatus")
