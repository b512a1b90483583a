"""getActiveActivations and catalog shape zoos (protocol.md §3.7–3.10, §7.6–7.7)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.provider.errors import ProviderError, ProviderUnavailable
from bot.provider.models import Country, PriceInfo

ITEM = (
    '{"activationId":"635468021","countryCode":"0","countryName":"Russia","serviceCode":"vk",'
    '"phoneNumber":"79000000001","activationCost":12.50,"activationStatus":"4",'
    '"smsCode":["111","0222"],"activationTime":"2022-06-01 16:59:16"}'
)
GRIZZLY_ITEM = (
    '{"activationId":495357953,"phoneNumber":"18036181752","serviceCode":"tg","countryCode":12,'
    '"activationCost":"0.35","currency":643,"activationStatus":"2","canGetAnotherSms":1,'
    '"smsCode":"852508","smsText":"code 852508","activationTime":"2026-05-07 13:58:16"}'
)


@pytest.mark.parametrize(
    "body",
    [
        f"[{ITEM}]",
        f'{{"status":"success","activeActivations":[{ITEM}]}}',
        f'{{"status":"success","data":[{ITEM}]}}',
        f'{{"status":"success","activeActivations":{{"num_rows":1,"rows":[{ITEM}]}}}}',
    ],
)
async def test_active_activations_shapes(fake, client, body):
    fake.answer("getActiveActivations", body)
    [item] = await client.get_active_activations()
    assert item.activation_id == "635468021"
    assert item.service == "vk" and item.country == "0"
    assert item.cost == Decimal("12.50")
    assert item.code == "0222"  # smsCode array: the latest
    assert item.status == "4"


async def test_active_activations_grizzly_item_loose_types(fake, client):
    fake.answer("getActiveActivations", f"[{GRIZZLY_ITEM}]")
    [item] = await client.get_active_activations()
    assert item.activation_id == "495357953" and item.country == "12"
    assert item.code == "852508" and item.text == "code 852508"
    assert item.can_get_another_sms is True
    assert item.cost == Decimal("0.35")


@pytest.mark.parametrize(
    "body",
    [
        "null",
        "[]",
        '{"status":"error","error":"NO_ACTIVATIONS"}',
        "NO_ACTIVATIONS",
        '{"status":"success","data":[],"activeActivations":{"affected_rows":0,"num_rows":0,'
        '"row":[],"rows":[]}}',
    ],
)
async def test_active_activations_empty_shapes(fake, client, body):
    fake.answer("getActiveActivations", body)
    assert await client.get_active_activations() == []


@pytest.mark.parametrize(
    "body",
    ["", '{"status":"success"}', '[{"activationId":"1"}]', '[{"activationId":1', "[1, 2]"],
)
async def test_active_activations_malformed_is_no_information(fake, client, body):
    fake.answer("getActiveActivations", body)
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_active_activations()
    assert caught.value.code == "GARBLED"
    assert len(fake.calls("getActiveActivations")) == 3  # a read: retried twice


async def test_active_activations_bad_key(fake, client):
    fake.answer("getActiveActivations", "BAD_KEY")
    with pytest.raises(ProviderError) as caught:
        await client.get_active_activations()
    assert caught.value.code == "BAD_KEY"


async def test_countries_map_with_blank_names(fake, client):
    fake.answer(
        "getCountries",
        '{"22":{"id":22,"eng":"India ","rus":"Индия","chn":"","visible":1,"retry":1,"rent":0},'
        '"0":{"id":0,"eng":"Russia","rus":" ","chn":"俄罗斯"}}',
    )
    countries = {c.id: c for c in await client.get_countries()}
    assert countries["22"].names == {"eng": "India", "rus": "Индия"}
    assert countries["22"].name("zh") == "India"  # blank chn falls back to English
    assert countries["0"].name("ru") == "Russia"
    assert countries["0"].name("zh") == "俄罗斯"


async def test_countries_array_and_single_object(fake, client):
    fake.answer(
        "getCountries",
        '[{"id":"187","eng":"USA","rus":"США"},{"id":6,"eng":"Indonesia"}]',
        '{"id":112,"eng":"Country","chn":"国家","rus":"Country"}',
    )
    assert [c.id for c in await client.get_countries()] == ["187", "6"]
    [single] = await client.get_countries()
    assert single == Country("112", {"eng": "Country", "chn": "国家", "rus": "Country"})


@pytest.mark.parametrize(
    "body",
    [
        '{"status":"success","services":[{"code":"kt","name":"KakaoTalk "},'
        '{"code":"wa","name":"\\t Whatsapp \\r\\n"}]}',
        '[{"code":"kt","name":"KakaoTalk"},{"code":"wa","name":"Whatsapp"}]',
    ],
)
async def test_services_wrapped_or_bare(fake, client, body):
    fake.answer("getServicesList", body)
    services = await client.get_services_list(lang="en")
    assert [(s.code, s.name) for s in services] == [("kt", "KakaoTalk"), ("wa", "Whatsapp")]
    assert fake.calls("getServicesList")[0]["lang"] == "en"


async def test_prices(fake, client):
    fake.answer(
        "getPrices",
        '{"16":{"tg":{"cost":1.3,"count":20}},'
        '"187":{"ot":{"cost":0.6,"count":592116,"physicalCount":8317}}}',
    )
    prices = await client.get_prices()
    assert prices["16"]["tg"] == PriceInfo(Decimal("1.3"), 20)
    assert prices["187"]["ot"].count == 592116


async def test_prices_hero_error(fake, client):
    fake.answer("getPrices", '{"status":"false","msg":"service is incorrect"}')
    with pytest.raises(ProviderError) as caught:
        await client.get_prices(service="zz")
    assert caught.value.code == "BAD_SERVICE"


async def test_prices_v3(fake, client):
    fake.answer(
        "getPricesV3",
        '{"187":{"wa":{"price":0.35,"count":999,"providers":{"12":{"count":900,'
        '"price":[0.5,0.35],"provider_id":"12"}}}},"6":{}}',
    )
    [offer] = await client.get_prices_v3(service="wa")
    assert (offer.country, offer.service, offer.price, offer.count) == (
        "187",
        "wa",
        Decimal("0.35"),
        999,
    )
    assert offer.providers["12"].prices == (Decimal("0.35"), Decimal("0.5"))
    fake.answer("getPricesV3", "{}")
    assert await client.get_prices_v3() == []
