"""Activation lifecycle over real HTTP with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sandbox.state import Clock, SandboxState
from tests.sandbox.conftest import Api


def _parse(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


async def test_get_number_v2_debits_and_reports_times(api: Api, fake_clock: Clock) -> None:
    data = await api.json("getNumberV2", service="tg", country="12")
    assert set(data) == {
        "activationId",
        "phoneNumber",
        "activationCost",
        "currency",
        "countryCode",
        "canGetAnotherSms",
        "activationTime",
        "activationEnd",
        "activationCancel",
    }
    assert data["countryCode"] == "12"
    assert data["currency"] == 643
    assert data["phoneNumber"].startswith("1") and data["phoneNumber"].isdigit()
    assert Decimal(str(data["activationCost"])) == Decimal("7.20")
    assert _parse(data["activationTime"]) == fake_clock.now()
    assert _parse(data["activationEnd"]) - _parse(data["activationTime"]) == 1200
    assert _parse(data["activationCancel"]) - _parse(data["activationTime"]) == 120
    assert await api.balance() == Decimal("92.80")
    assert [p["id"] for p in api.state.purchases] == [str(data["activationId"])]
    assert api.state.purchases[0]["action"] == "getNumberV2"


async def test_get_number_text_and_status_wait(api: Api) -> None:
    body = await api.text("getNumber", service="wa", country="22")
    prefix, activation_id, phone = body.split(":")
    assert prefix == "ACCESS_NUMBER" and phone.startswith("91")
    assert await api.text("getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    assert await api.text("getStatusV2", id=activation_id) == "STATUS_WAIT_CODE"


async def test_purchase_errors(api: Api, state: SandboxState) -> None:
    assert await api.text("getNumber", service="zz", country="0") == "BAD_SERVICE"
    assert await api.text("getNumber", service="tg", country="999") == "BAD_COUNTRY"
    state.set_stock("0", "tg", 0)
    assert await api.text("getNumber", service="tg", country="0") == "NO_NUMBERS"
    assert await api.text("getNumber", service="vk", country="187") == "NO_NUMBERS"  # seed
    body = await api.text("getNumberV2", service="wa", country="0", maxPrice="1")
    assert body == "WRONG_MAX_PRICE:22.000000"
    state.set_prohibited("0", "wa")
    assert await api.text("getNumber", service="wa", country="0") == (
        "The service is prohibited for sale by administration"
    )
    poor = state.create_key(balance="1")
    assert await api.text("getNumberV2", key=poor, service="go", country="0") == "NO_BALANCE"
    assert state.balance(poor) == Decimal("1")
    assert state.purchases == []


async def test_channels_limit(api: Api, state: SandboxState) -> None:
    state.account(api.key).channels_limit = 1
    await api.buy("ot", "6")
    assert await api.text("getNumber", service="ot", country="6") == "CHANNELS_LIMIT"


async def test_auth_errors(api: Api, state: SandboxState) -> None:
    assert (await api.raw({"action": "getBalance"})) == (200, "NO_KEY")
    assert await api.text("getBalance", key="nope") == "BAD_KEY"
    assert await api.text("frobnicate") == "BAD_ACTION"
    banned = state.create_key()
    state.ban(banned, "2030-1-2 3-4-5")
    assert await api.text("getBalance", key=banned) == "BANNED:'2030-1-2 3-4-5'"
    blocked = state.create_key()
    state.geo_block(blocked)
    assert await api.text("getNumber", key=blocked, service="tg") == "SERVICE_UNAVAILABLE_REGION"


async def test_post_form_is_accepted(api: Api) -> None:
    status, body = await api.raw({"api_key": api.key, "action": "getBalance"}, method="POST")
    assert (status, body) == (200, "ACCESS_BALANCE:100")


async def test_cancel_lock_then_refund(api: Api, fake_clock: Clock) -> None:
    activation_id = await api.buy("tg", "0")
    assert await api.balance() == Decimal("82")
    assert await api.text("setStatus", id=activation_id, status=8) == "EARLY_CANCEL_DENIED"
    fake_clock.advance(119)
    assert await api.text("setStatus", id=activation_id, status=-1) == "EARLY_CANCEL_DENIED"
    fake_clock.advance(1)
    assert await api.text("setStatus", id=activation_id, status=8) == "ACCESS_CANCEL"
    assert await api.balance() == Decimal("100")
    assert await api.text("getStatus", id=activation_id) == "STATUS_CANCEL"
    # An ended activation: NO_ACTIVATION for every setStatus (the documented choice).
    assert await api.text("setStatus", id=activation_id, status=8) == "NO_ACTIVATION"
    assert await api.balance() == Decimal("100")


async def test_cancel_after_code_is_refused(api: Api, fake_clock: Clock) -> None:
    activation_id = await api.buy()
    api.state.deliver_sms(activation_id, "Telegram code 12345")
    fake_clock.advance(300)
    assert await api.text("setStatus", id=activation_id, status=8) == "BAD_STATUS"
    assert await api.text("getStatus", id=activation_id) == "STATUS_OK:12345"
    assert await api.balance() == Decimal("82")


async def test_expiry_without_code_refunds(api: Api, fake_clock: Clock) -> None:
    activation_id = await api.buy()
    fake_clock.advance(1199)
    assert await api.text("getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    fake_clock.advance(1)
    assert await api.text("getStatus", id=activation_id) == "STATUS_CANCEL"
    assert await api.balance() == Decimal("100")
    assert api.state.activations[activation_id].status == "expired"
    assert await api.json("getActiveActivations") == []


async def test_expiry_with_code_completes_and_charges(api: Api, fake_clock: Clock) -> None:
    activation_id = await api.buy()
    api.state.deliver_sms(activation_id, "your code: 0042", code="0042")
    fake_clock.advance(1200)
    api.state.tick()
    assert api.state.activations[activation_id].status == "finished"
    assert await api.text("getStatus", id=activation_id) == "STATUS_OK:0042"
    assert await api.balance() == Decimal("82")


async def test_ready_retry_and_finish(api: Api) -> None:
    activation_id = await api.buy()
    assert await api.text("setStatus", id=activation_id, status=1) == "ACCESS_READY"
    assert await api.text("setStatus", id=activation_id, status=3) == "BAD_STATUS"
    assert await api.text("setStatus", id=activation_id, status=6) == "BAD_STATUS"
    assert await api.text("setStatus", id=activation_id, status=5) == "BAD_STATUS"
    api.state.deliver_sms(activation_id, "code 111111")
    assert await api.text("getStatus", id=activation_id) == "STATUS_OK:111111"
    v2 = await api.json("getStatusV2", id=activation_id)
    assert v2["verificationType"] == 0 and v2["call"] is None
    assert v2["sms"]["code"] == "111111" and v2["sms"]["text"] == "code 111111"
    assert await api.text("setStatus", id=activation_id, status=3) == "ACCESS_RETRY_GET"
    assert await api.text("getStatus", id=activation_id) == "STATUS_WAIT_RETRY:111111"
    assert await api.text("getStatusV2", id=activation_id) == "STATUS_WAIT_RETRY:111111"
    assert await api.text("setStatus", id=activation_id, status=3) == "BAD_STATUS"
    api.state.deliver_sms(activation_id, "code 222222")
    assert await api.text("getStatus", id=activation_id) == "STATUS_OK:222222"
    assert await api.text("setStatus", id=activation_id, status=6) == "ACCESS_ACTIVATION"
    assert api.state.activations[activation_id].status == "finished"
    assert await api.text("setStatus", id=activation_id, status=3) == "NO_ACTIVATION"
    assert await api.balance() == Decimal("82")


async def test_retry_refused_when_service_gives_one_sms(api: Api, state: SandboxState) -> None:
    state.configure(can_get_another_sms=False)
    data = await api.json("getNumberV2", service="tg", country="0")
    assert data["canGetAnotherSms"] == "0"
    activation_id = str(data["activationId"])
    state.deliver_sms(activation_id, "code 5555")
    assert await api.text("setStatus", id=activation_id, status=3) == "BAD_STATUS"


async def test_ended_answer_is_configurable(fake_clock: Clock) -> None:
    state = SandboxState(fake_clock, ended_answer="BAD_STATUS")
    key = state.create_key()
    activation = state.handle({"api_key": key, "action": "getNumber", "service": "tg"})
    activation_id = activation.body.split(":")[1]
    state.deliver_sms(activation_id, "1234")
    finish = {"api_key": key, "action": "setStatus", "id": activation_id, "status": "6"}
    assert state.handle(finish).body == "ACCESS_ACTIVATION"
    assert state.handle(finish).body == "BAD_STATUS"


async def test_foreign_and_unknown_ids(api: Api, state: SandboxState) -> None:
    activation_id = await api.buy()
    other = state.create_key()
    assert await api.text("getStatus", key=other, id=activation_id) == "NO_ACTIVATION"
    assert await api.text("setStatus", key=other, id=activation_id, status=8) == "NO_ACTIVATION"
    assert await api.text("getStatus", id="1") == "NO_ACTIVATION"
    assert await api.json("getActiveActivations", key=other) == []


async def test_active_activations_list(api: Api) -> None:
    first = await api.buy("tg", "0")
    second = await api.buy("wa", "16")
    api.state.deliver_sms(second, "WhatsApp code 987-654", code="987654")
    items = await api.json("getActiveActivations")
    assert [item["activationId"] for item in items] == [first, second]
    one, two = items
    assert one["serviceCode"] == "tg" and one["countryCode"] == "0"
    assert one["countryName"] == "Russia"
    assert one["activationStatus"] == "4" and one["smsCode"] is None
    assert two["activationStatus"] == "2" and two["smsCode"] == "987654"
    assert two["smsText"] == "WhatsApp code 987-654"
    assert Decimal(str(two["activationCost"])) == Decimal("39.60")
    for field in ("phoneNumber", "currency", "activationTime", "canGetAnotherSms"):
        assert field in one


async def test_any_country_picks_cheapest(api: Api) -> None:
    data = await api.json("getNumberV2", service="tg", country="any")
    assert data["countryCode"] == "12"  # factor 0.4 is the lowest in the seed


async def test_requests_never_keep_the_key(api: Api) -> None:
    await api.balance()
    await api.text("getPrices", service="tg")
    assert [r["action"] for r in api.state.requests] == ["getBalance", "getPrices"]
    assert all("api_key" not in r["params"] for r in api.state.requests)
    assert api.key not in repr(api.state.requests)
