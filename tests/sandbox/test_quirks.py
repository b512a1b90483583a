"""quirks=True: the odd shapes real providers and their docs show."""

from __future__ import annotations

import pytest

from sandbox.state import Clock, SandboxState
from tests.sandbox.conftest import Api


@pytest.fixture
def state(fake_clock: Clock) -> SandboxState:
    return SandboxState(fake_clock, quirks=True)


async def test_rent_status_broken_keys(api: Api) -> None:
    rent = await api.json("getRentNumber", service="tg", country="0")
    rent_id = rent["phone"]["id"]
    assert isinstance(rent_id, str)
    assert await api.json("getRentStatus", id=rent_id) == {"status": "success", "values": []}
    api.state.deliver_rent_sms(rent_id, "123456")
    api.state.deliver_rent_sms(rent_id, "224444")
    data = await api.json("getRentStatus", id=rent_id)
    assert data["quantity"] == "2 "
    assert set(data["values"]) == {"0 ", "1"}
    assert data["values"]["0 "]["test"] == "224444"
    assert data["values"]["1"]["phoneFrom "] == "Service"
    assert "text" not in data["values"]["1"]


async def test_quoted_status_and_bom_balance(api: Api) -> None:
    body = await api.text("getBalance")
    assert body == "\ufeffACCESS_BALANCE:100\n"
    activation_id = await api.buy()
    assert await api.text("getStatus", id=activation_id) == '"STATUS_WAIT_CODE"'
    api.state.deliver_sms(activation_id, "code 77")
    assert await api.text("getStatus", id=activation_id) == '"STATUS_OK:code 77"'


async def test_loose_typing_and_null_list(api: Api) -> None:
    assert await api.text("getActiveActivations") == "null"
    data = await api.json("getNumberV2", service="tg", country="12")
    assert isinstance(data["activationId"], str)
    assert data["activationCost"] == "7.2"
    assert data["currency"] == "643" and data["countryCode"] == 12
    assert data["canGetAnotherSms"] is True
    api.state.deliver_sms(data["activationId"], "Your code 4321")
    (item,) = await api.json("getActiveActivations")
    assert item["smsCode"] == ["4321"]


async def test_catalog_whitespace_and_bare_list(api: Api) -> None:
    services = await api.json("getServicesList")
    assert isinstance(services, list)
    assert services[0]["name"] != services[0]["name"].strip()
    countries = await api.json("getCountries")
    assert countries["0"]["rus"] == "Россия "
    assert countries["0"]["chn"] == ""


async def test_quirks_toggle_at_run_time(api: Api) -> None:
    api.state.configure(quirks=False)
    assert await api.text("getBalance") == "ACCESS_BALANCE:100"
    assert await api.text("getActiveActivations") == "[]"
