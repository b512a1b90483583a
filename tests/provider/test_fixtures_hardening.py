"""Literal bodies behind the provider items of the Hardening issue: canGetAnotherSms, rent
history, HTML sniffing, malformed list items, problem JSON and STATUS_OK without a code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.metrics import Metrics
from bot.provider import parsing
from bot.provider.errors import ProviderError, ProviderUnavailable, UnknownOutcome
from bot.provider.models import ActivationStatus, RentHistoryItem
from tests.provider.conftest import Canned

V2_HEAD = '{"activationId":"7","phoneNumber":"79990001122","activationCost":"1.5"'
ITEM = '{"activationId":"635468021","phoneNumber":"79000000001","serviceCode":"vk"'


def _item(**extra: str) -> str:
    fields = "".join(f',"{name}":{value}' for name, value in extra.items())
    return ITEM + fields + "}"


# --------------------------------------------------------------------------- 5. canGetAnotherSms


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('""', False),
        ('" "', False),
        ('"0"', False),
        ("0", False),
        ("false", False),
        ('"false"', False),
        ("true", True),
        ('"1"', True),
        ("1", True),
    ],
)
async def test_can_get_another_sms_on_purchase(fake, client, raw, expected):
    fake.answer("getNumberV2", V2_HEAD + f',"canGetAnotherSms":{raw}}}')
    purchase = await client.get_number_v2("tg", "0")
    assert purchase.can_get_another_sms is expected


async def test_can_get_another_sms_missing_is_unknown(fake, client):
    fake.answer("getNumberV2", V2_HEAD + "}")
    assert (await client.get_number_v2("tg", "0")).can_get_another_sms is None


@pytest.mark.parametrize("raw", ['""', '"0"', "0", "false"])
async def test_can_get_another_sms_in_the_list(fake, client, raw):
    fake.answer("getActiveActivations", f"[{_item(canGetAnotherSms=raw)}]")
    [item] = await client.get_active_activations()
    assert item.can_get_another_sms is False


# --------------------------------------------------------------------------- 12. rent history

SEED_HISTORY = (
    '{"status":"success","quantity":"2","values":{'
    '"1":{"date":"2023-10-26 11:03:39","price":3.6,"hours":4},'
    '"2":{"date":" 2023-10-25 11:02:31","price":4,"hours":5}}}'
)


async def test_rent_history_seed_shape_sends_the_rental_id(fake, client):
    fake.answer("getRentHistory", SEED_HISTORY)
    periods = await client.get_rent_history("29169009")
    assert fake.calls("getRentHistory")[0]["id"] == "29169009"
    assert periods == [
        RentHistoryItem(date="2023-10-26 11:03:39", price=Decimal("3.6"), hours=4),
        RentHistoryItem(date="2023-10-25 11:02:31", price=Decimal("4"), hours=5),
    ]


@pytest.mark.parametrize(
    "body",
    [
        '{"status":"success","values":{}}',
        '{"status":"success","values":[]}',
        '{"status":"success","quantity":"0","values":null}',
        "[]",
    ],
)
async def test_rent_history_empty(fake, client, body):
    fake.answer("getRentHistory", body)
    assert await client.get_rent_history("1") == []


@pytest.mark.parametrize("code", ["NO_ID_RENT", "SQL_ERROR", "BAD_KEY"])
async def test_rent_history_errors(fake, client, code):
    fake.answer("getRentHistory", f'{{"status":"error","error":"{code}"}}')
    with pytest.raises(ProviderError) as caught:
        await client.get_rent_history("1")
    assert caught.value.code == code


async def test_rent_history_key_wide_list_keeps_this_rental(fake, client):
    # sms.online's shape: every rental of the key; only the one asked for is this history.
    fake.answer(
        "getRentHistory",
        '[{"id":635468024,"date":"2022-11-12 15:58:39","phone":"79918529716",'
        '"sms":"[\\"Your sms code\\"]","cost":100,"status":"4"},'
        '{"id":"2","date":"2022-11-13 10:00:00","phone":"7999","sms":["a"],"cost":"1.5"}]',
    )
    periods = await client.get_rent_history("635468024")
    assert periods == [RentHistoryItem("2022-11-12 15:58:39", Decimal("100"), None)]


async def test_rent_history_sms_activate_continue_shape(fake, client):
    fake.answer(
        "getRentHistory",
        '{"status":"success","history":{"0":{"createdDate":"2025-01-01 10:00:00",'
        '"price":"0.3125","hours":4}}}',
    )
    [period] = await client.get_rent_history("1")
    assert period == RentHistoryItem("2025-01-01 10:00:00", Decimal("0.3125"), 4)


# --------------------------------------------------------------------------- 14. HTML in JSON


async def test_sms_text_with_html_does_not_make_the_listing_html(fake, client):
    item = _item(smsCode='"1234"', smsText='"<html><body>1234</body></html>"')
    fake.answer("getActiveActivations", f"[{item}]")
    [item] = await client.get_active_activations()
    assert item.code == "1234" and item.text == "<html><body>1234</body></html>"


async def test_rent_sms_with_doctype_is_a_message(fake, client):
    fake.answer(
        "getRentStatus",
        '{"status":"success","quantity":"1","values":{"0":{"phoneFrom":"Spam",'
        '"text":"<html lang=en> <!DOCTYPE html> click","service":"ot","date":null}}}',
    )
    [message] = (await client.get_rent_status("1")).messages
    assert message.text == "<html lang=en> <!DOCTYPE html> click"


async def test_status_v2_sms_with_html_is_a_code(fake, client):
    fake.answer(
        "getStatusV2",
        '{"verificationType":0,"sms":{"code":"5555","text":"<html>5555"},"call":null}',
    )
    status = await client.get_status_v2("1")
    assert status.code == "5555" and status.text == "<html>5555"


def test_no_html_sniffing_for_json_looking_bodies():
    reply = parsing.Reply(200, {}, '[{"smsText":"<html> x"}')  # broken JSON, still not HTML
    body = parsing.screen(reply)
    assert not body.is_json and body.text.startswith("[")


async def test_real_html_page_is_still_html(fake, client):
    fake.answer("getActiveActivations", "<!DOCTYPE html><html><body>down</body></html>")
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_active_activations()
    assert caught.value.code == "HTML"


# --------------------------------------------------------------------------- 15. malformed items


async def test_malformed_activation_items_are_dropped_and_counted(fake, client):
    before = parsing.dropped_items().get("getActiveActivations", 0)
    fake.answer(
        "getActiveActivations",
        f'[{_item()},{{"activationId":"2","phoneNumber":null}},{{"phoneNumber":"7999"}},5]',
    )
    [item] = await client.get_active_activations()
    assert item.activation_id == "635468021"
    assert parsing.dropped_items()["getActiveActivations"] == before + 3


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"activeActivations":{}}',
        '{"status":"success","activeActivations":{}}',
        '{"status":"success","activeActivations":null}',
        '{"status":"success","data":{}}',
    ],
)
async def test_php_empty_forms_are_no_activations(fake, client, body):
    fake.answer("getActiveActivations", body)
    assert await client.get_active_activations() == []


async def test_activations_keyed_by_index(fake, client):
    fake.answer("getActiveActivations", f'{{"activeActivations":{{"0":{_item()}}}}}')
    [item] = await client.get_active_activations()
    assert item.activation_id == "635468021"


@pytest.mark.parametrize(
    "body", ['{"status":"success"}', '{"activeActivations":"x"}', '{"data":5}', '"[1]"']
)
async def test_not_a_list_shape_stays_garbled(fake, client, body):
    fake.answer("getActiveActivations", body)
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_active_activations()
    assert caught.value.code == "GARBLED"


async def test_malformed_rent_message_is_dropped(fake, client):
    before = parsing.dropped_items().get("getRentStatus", 0)
    fake.answer(
        "getRentStatus",
        '{"status":"success","quantity":"3","values":{"0":{"phoneFrom":"A","text":"one"},'
        '"1":"garbage","2":{"phoneFrom":"B","text":null}}}',
    )
    status = await client.get_rent_status("1")
    assert [m.text for m in status.messages] == ["one"]
    assert parsing.dropped_items()["getRentStatus"] == before + 2


async def test_malformed_rent_history_period_is_dropped(fake, client):
    fake.answer(
        "getRentHistory",
        '{"status":"success","values":{"1":{"date":"2023-10-26 11:03:39","price":3.6,"hours":4},'
        '"2":7,"3":{"hours":"x"}}}',
    )
    assert await client.get_rent_history("1") == [
        RentHistoryItem("2023-10-26 11:03:39", Decimal("3.6"), 4)
    ]


async def test_malformed_catalog_items_are_dropped(fake, client):
    before = parsing.dropped_items().get("getServicesList", 0)
    fake.answer(
        "getServicesList",
        '{"status":"success","services":[{"code":"tg","name":"Telegram"},{"name":"x"},7]}',
    )
    assert [s.code for s in await client.get_services_list()] == ["tg"]
    assert parsing.dropped_items()["getServicesList"] == before + 2
    before = parsing.dropped_items().get("getCountries", 0)
    fake.answer("getCountries", '{"0":{"id":0,"eng":"Russia"},"6":"Indonesia"}')
    assert [c.id for c in await client.get_countries()] == ["0"]
    assert parsing.dropped_items()["getCountries"] == before + 1


async def test_services_object_without_a_list_is_garbled(fake, client):
    fake.answer("getServicesList", '{"status":"success"}')
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_services_list()
    assert caught.value.code == "GARBLED"


async def test_dropped_items_show_on_metrics(fake, client):
    fake.answer("getActiveActivations", f'[{_item()},{{"activationId":"9"}}]')
    await client.get_active_activations()
    metrics = Metrics()
    count = parsing.dropped_items()["getActiveActivations"]
    sample = metrics.registry.get_sample_value(
        "smsbot_provider_dropped_items_total", {"action": "getActiveActivations"}
    )
    assert sample == count


def test_dropped_items_counter_is_bounded():
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            parsing.parse_active_activations(parsing.sniff("[1]"))
    assert set(parsing.dropped_items()) <= set(parsing.LIST_ACTIONS)


# --------------------------------------------------------------------------- 19. problem JSON


@pytest.mark.parametrize(
    ("canned", "code", "payload"),
    [
        (Canned(401, '{"title":"BAD_KEY"}'), "BAD_KEY", None),
        (Canned(401, '{"title":"BAD_KEY","detail":"Unauthorized"}'), "BAD_KEY", "Unauthorized"),
        (Canned(200, '{"title":"BAD_KEY","details":"Unauthorized"}'), "BAD_KEY", "Unauthorized"),
        (
            Canned(
                404,
                '{"type":"about:blank","title":"Not Found","status":404,'
                '"detail":"Activation not found"}',
            ),
            "NOT_FOUND",
            "Activation not found",
        ),
        (Canned(403, '{"title":"BANNED","status":403}'), "BANNED", None),
    ],
)
async def test_problem_json_is_the_error_it_names(fake, client, canned, code, payload):
    fake.answer("getBalance", canned)
    with pytest.raises(ProviderError) as caught:
        await client.get_balance()
    assert caught.value.code == code and caught.value.payload == payload
    assert not isinstance(caught.value, ProviderUnavailable)


@pytest.mark.parametrize(
    "body",
    [
        '{"title":"BAD_KEY"}',
        '{"title":"BAD_KEY","detail":"Unauthorized","status":401}',
        '{"status":401,"error":"Unauthorized"}',
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_services_list(),
        lambda c: c.get_countries(),
        lambda c: c.get_prices(),
        lambda c: c.get_prices_v3(),
        lambda c: c.get_rent_prices(),
    ],
)
async def test_json_error_where_a_catalog_was_expected_is_an_error(fake, client, body, call):
    for action in ("getServicesList", "getCountries", "getPrices", "getPricesV3", "getRentPrices"):
        fake.answer(action, body)
    with pytest.raises(ProviderError) as caught:
        await call(client)
    assert caught.value.code != "GARBLED"


@pytest.mark.parametrize(
    ("canned", "code"),
    [
        (Canned(402, '{"title":"NO_BALANCE"}'), "NO_BALANCE"),
        (Canned(402, '{"title":"INSUFFICIENT_FUNDS","detail":"top up"}'), "INSUFFICIENT_FUNDS"),
        (Canned(400, '{"status":"error","error":"SOME_NEW_REFUSAL"}'), "SOME_NEW_REFUSAL"),
        (Canned(409, '{"title":"Conflict","status":409}'), "CONFLICT"),
        (Canned(200, '{"title":"NO_NUMBERS","detail":"none left"}'), "NO_NUMBERS"),
    ],
)
async def test_definite_refusal_of_a_purchase_is_a_refusal(fake, client, canned, code):
    fake.answer("getNumberV2", canned)
    with pytest.raises(ProviderError) as caught:
        await client.get_number_v2("tg", "0")
    assert caught.value.code == code
    assert not isinstance(caught.value, UnknownOutcome | ProviderUnavailable)
    assert len(fake.calls("getNumberV2")) == 1


@pytest.mark.parametrize(
    "canned",
    [
        Canned(408, '{"title":"REQUEST_TIMEOUT"}'),
        Canned(429, '{"title":"RATE_LIMIT"}'),
        Canned(502, '{"title":"NO_BALANCE"}'),
        Canned(403, "<html><body>Forbidden</body></html>"),
        Canned(400, "something broke"),
        Canned(400, '{"activationId":"1","phoneNumber":"79990001122"}'),
        Canned(200, '{"title":"SOMETHING_NEW"}'),
    ],
)
async def test_unclear_purchase_answers_stay_unknown(fake, client, canned):
    fake.answer("getNumberV2", canned)
    with pytest.raises(UnknownOutcome):
        await client.get_number_v2("tg", "0")


def test_success_with_a_title_is_not_a_problem():
    body = parsing.sniff('{"status":"success","services":[{"code":"tg","name":"T"}],"title":"x"}')
    assert [s.code for s in parsing.parse_services(body)] == ["tg"]


# --------------------------------------------------------------------------- 21. STATUS_OK:


@pytest.mark.parametrize("body", ["STATUS_OK:", "STATUS_OK: ", '"STATUS_OK:"', "STATUS_OK"])
async def test_status_ok_without_a_code_is_no_information(fake, client, body):
    fake.answer("getStatus", body)
    status = await client.get_status("1")
    assert status == ActivationStatus("unknown")
    assert status.state != "wait_code"


async def test_status_v2_text_ok_without_code_is_no_information(fake, client):
    fake.answer("getStatusV2", "STATUS_OK:")
    assert (await client.get_status_v2("1")).state == "unknown"
