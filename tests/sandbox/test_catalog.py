"""Catalog actions."""

from __future__ import annotations

from decimal import Decimal

from tests.sandbox.conftest import Api

REQUIRED_COUNTRIES = {"0", "4", "6", "10", "12", "15", "16", "22", "36", "43", "62", "73", "187"}
REQUIRED_SERVICES = {"tg", "wa", "go", "ig", "fb", "vk", "ok", "ot", "wx", "dr", "tw", "ds", "lf"}


async def test_countries_have_three_languages(api: Api) -> None:
    countries = await api.json("getCountries")
    assert set(countries) >= REQUIRED_COUNTRIES
    assert countries["22"]["eng"] == "India" and countries["22"]["id"] == 22
    assert countries["12"]["eng"] == "USA (virtual)"
    for item in countries.values():
        assert item["eng"] and item["rus"] and item["chn"]
        assert item["eng"] == item["eng"].strip()


async def test_services_list(api: Api) -> None:
    data = await api.json("getServicesList")
    assert data["status"] == "success"
    codes = {item["code"]: item["name"] for item in data["services"]}
    assert len(codes) >= 15 and REQUIRED_SERVICES | {"mm", "ya"} <= set(codes)
    assert codes["tg"] == "Telegram"
    russian = await api.json("getServicesList", lang="ru")
    assert {s["code"]: s["name"] for s in russian["services"]}["tg"] == "Телеграм"
    assert await api.text("getServicesList", country="999") == "BAD_COUNTRY"


async def test_prices_filters_and_changes(api: Api) -> None:
    every = await api.json("getPrices")
    assert len(every) >= 12 and all(len(services) >= 15 for services in every.values())
    one = await api.json("getPrices", service="tg", country="16")
    assert one == {"16": {"tg": {"cost": 32.4, "count": one["16"]["tg"]["count"]}}}
    api.state.set_price("16", "tg", "1.30")
    api.state.set_stock("16", "tg", 20)
    assert await api.json("getPrices", service="tg", country="16") == {
        "16": {"tg": {"cost": 1.3, "count": 20}}
    }
    assert await api.text("getPrices", service="nope") == "BAD_SERVICE"
    assert await api.text("getPrices", country="nope") == "BAD_COUNTRY"


async def test_prices_v3_and_v2(api: Api) -> None:
    v3 = await api.json("getPricesV3", service="tg", country="22")
    offer = v3["22"]["tg"]
    assert Decimal(str(offer["price"])) == Decimal("12.60")
    provider = offer["providers"]["1"]
    assert provider["price"] == [offer["price"]] and provider["count"] == offer["count"]
    v2 = await api.json("getPricesV2", service="tg", country="22")
    assert v2 == {"22": {"tg": {"12.60": offer["count"]}}}


async def test_purchase_lowers_stock(api: Api) -> None:
    before = (await api.json("getPrices", service="ig", country="4"))["4"]["ig"]["count"]
    await api.buy("ig", "4")
    after = (await api.json("getPrices", service="ig", country="4"))["4"]["ig"]["count"]
    assert after == before - 1
