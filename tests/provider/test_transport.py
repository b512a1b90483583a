"""HTTP-level behaviour: errors in 200, HTML/Cloudflare, 429, hero problems, retries, purchases."""

from __future__ import annotations

import logging
from decimal import Decimal

import aiohttp
import pytest

from bot.provider.client import ProviderClient
from bot.provider.errors import (
    ActionNotSupported,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnknownOutcome,
)
from tests.provider.conftest import API_KEY, Canned

HTML_502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body></body></html>"
CLOUDFLARE_HTML = (
    "<!DOCTYPE html><html><head><title>Access denied | api used Cloudflare</title></head>"
    "<body><h1>Error 1020</h1><span>Ray ID: 1</span></body></html>"
)


async def test_html_502_on_read_is_retried_then_unavailable(fake, client):
    fake.answer("getBalance", Canned(502, HTML_502))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_balance()
    assert caught.value.code == "HTTP_502" and caught.value.http_status == 502
    assert len(fake.calls("getBalance")) == 3


async def test_read_recovers_after_transient_failure(fake, client):
    fake.answer("getBalance", Canned(500, "Internal"), "", "ACCESS_BALANCE:5")
    assert (await client.get_balance()).amount == Decimal("5")
    assert len(fake.calls("getBalance")) == 3


async def test_html_with_status_200_is_unavailable(fake, client):
    fake.answer("getPrices", Canned(200, "<!DOCTYPE html><html><body>maintenance</body></html>"))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_prices()
    assert caught.value.code == "HTML"


@pytest.mark.parametrize("body", ["error code: 1020", CLOUDFLARE_HTML])
async def test_cloudflare_1020_is_rate_limited_and_not_retried(fake, client, body):
    fake.answer("getStatus", Canned(403, body))
    with pytest.raises(RateLimited) as caught:
        await client.get_status("1")
    assert caught.value.http_status == 403
    assert len(fake.calls("getStatus")) == 1


async def test_429_with_retry_after(fake, client):
    fake.answer(
        "getActiveActivations",
        Canned(429, '{"message":"Too Many Attempts."}', {"Retry-After": "17"}),
    )
    with pytest.raises(RateLimited) as caught:
        await client.get_active_activations()
    assert caught.value.retry_after == 17.0
    assert caught.value.code == "HTTP_429"
    assert len(fake.calls("getActiveActivations")) == 1


async def test_non_200_with_success_looking_body_is_a_failure(fake, client):
    fake.answer("getBalance", Canned(302, "ACCESS_BALANCE:100", {"Location": "/elsewhere"}))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_balance()
    assert caught.value.code == "HTTP_302"


async def test_hero_problems(fake, client):
    fake.answer(
        "getNumberV2",
        Canned(400, '{"title":"WRONG_MAX_PRICE","details":"too low","info":{"min":0.1234}}'),
    )
    with pytest.raises(ProviderError) as caught:
        await client.get_number_v2("tg", "6", max_price=Decimal("0.1"))
    assert caught.value.code == "WRONG_MAX_PRICE"
    assert caught.value.min_price == Decimal("0.1234")
    assert not isinstance(caught.value, UnknownOutcome)
    assert caught.value.http_status == 400

    fake.answer("getBalance", Canned(401, '{"title":"BAD_KEY","details":"Unauthorized"}'))
    with pytest.raises(ProviderError) as caught:
        await client.get_balance()
    assert caught.value.code == "BAD_KEY" and caught.value.payload == "Unauthorized"

    fake.answer(
        "setStatus",
        Canned(
            409, '{"title":"EARLY_CANCEL_DENIED","details":"wait","info":{"minActivationTime":120}}'
        ),
    )
    with pytest.raises(ProviderError) as caught:
        await client.set_status("1", 8)
    assert caught.value.code == "EARLY_CANCEL_DENIED"

    fake.answer("getStatusV2", Canned(404, '{"title":"BAD_ACTION","details":"Not found"}'))
    with pytest.raises(ActionNotSupported):
        await client.get_status_v2("1")
    assert not client.supports("getStatusV2")


async def test_hero_banned_problem(fake, client):
    fake.answer(
        "getBalance",
        Canned(403, '{"title":"BANNED","details":"Banned","info":{"banned_until":1739448000}}'),
    )
    with pytest.raises(ProviderError) as caught:
        await client.get_balance()
    assert caught.value.banned_until == "1739448000"


async def test_text_error_with_4xx_status(fake, client):
    fake.answer("setStatus", Canned(400, "EARLY_CANCEL_DENIED"))
    with pytest.raises(ProviderError) as caught:
        await client.set_status("1", 8)
    assert caught.value.code == "EARLY_CANCEL_DENIED"
    assert not isinstance(caught.value, ProviderUnavailable)


async def test_timeout_on_read_is_retried(fake, session):
    client = ProviderClient(fake.url, API_KEY, session, timeout=0.05, retry_delay=0.001)
    fake.answer("getStatus", Canned(body="STATUS_WAIT_CODE", delay=0.3))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_status("1")
    assert caught.value.code == "TIMEOUT"
    assert len(fake.calls("getStatus")) == 3


async def test_timeout_on_purchase_is_unknown_outcome_and_not_retried(fake, session):
    client = ProviderClient(fake.url, API_KEY, session, timeout=0.05, retry_delay=0.001)
    fake.answer("getNumberV2", Canned(body="ACCESS_NUMBER:1:7999", delay=0.3))
    with pytest.raises(UnknownOutcome) as caught:
        await client.get_number_v2("tg", "0")
    assert caught.value.code == "TIMEOUT"
    assert len(fake.calls("getNumberV2")) == 1


@pytest.mark.parametrize(
    ("action", "canned"),
    [
        ("getNumber", Canned(500, "boom")),
        ("getNumber", Canned(502, HTML_502)),
        ("getNumber", Canned(200, "ACCESS_NUMBER:")),
        ("getNumber", Canned(200, "")),
        ("getNumberV2", Canned(200, '{"activationId":1')),
        ("getNumberV2", Canned(200, '{"phoneNumber":"79990001122"}')),
        ("getNumberV2", Canned(429, "slow down", {"Retry-After": "3"})),
        ("getRentNumber", Canned(200, '{"status":"success"}')),
        ("getRentNumber", Canned(503, '{"title":"SERVER_ERROR","details":"x"}')),
        ("continueRentNumber", Canned(200, "<html><body>oops</body></html>")),
    ],
)
async def test_unclear_purchase_answer_is_unknown_outcome(fake, client, action, canned):
    fake.answer(action, canned)
    with pytest.raises(UnknownOutcome):
        if action == "getRentNumber":
            await client.get_rent_number("tg", "0", 4)
        elif action == "continueRentNumber":
            await client.continue_rent_number("1", 4)
        elif action == "getNumberV2":
            await client.get_number_v2("tg", "0")
        else:
            await client.get_number("tg", "0")
    assert len(fake.calls(action)) == 1


async def test_buy_activation_does_not_fall_back_on_unknown_outcome(fake, client):
    fake.answer("getNumberV2", Canned(500, "boom"))
    fake.answer("getNumber", "ACCESS_NUMBER:1:79990001122")
    with pytest.raises(UnknownOutcome):
        await client.buy_activation("tg", "0")
    assert fake.calls("getNumber") == []


async def test_connection_refused_is_unavailable_even_for_purchase(session):
    # A port nobody listens on: the request never left, so nothing was bought.
    async with aiohttp.ClientSession() as probe:
        server = await _closed_port(probe)
    client = ProviderClient(server, API_KEY, session, timeout=0.5, retry_delay=0.001)
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_number("tg", "0")
    assert not isinstance(caught.value, UnknownOutcome)
    assert caught.value.code == "NETWORK"
    assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def _closed_port(_: aiohttp.ClientSession) -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/stubs/handler_api.php"


async def test_no_log_record_or_error_text_contains_the_key(fake, client, caplog):
    caplog.set_level(logging.DEBUG)
    fake.answer("getBalance", Canned(500, f"error near api_key={API_KEY}"))
    fake.answer("getNumber", f"WEIRD_CODE:{API_KEY}")
    fake.answer("getStatus", Canned(body="x", delay=0.3))
    failures: list[BaseException] = []
    for call in (
        client.get_balance(),
        client.get_number("tg", "0"),
        ProviderClient(
            fake.url, API_KEY, client._session, timeout=0.05, retry_delay=0.001
        ).get_status("1"),
    ):
        with pytest.raises(ProviderError) as caught:
            await call
        failures.append(caught.value)
    assert caplog.records, "the client should log its calls at DEBUG"
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
    for failure in failures:
        assert API_KEY not in str(failure) and API_KEY not in repr(failure)
        assert API_KEY not in (failure.payload or "")
    assert API_KEY not in repr(client)


async def test_dropped_connection_on_purchase_is_sent_once(fake, client):
    # aiohttp would silently re-send a GET after a disconnect; for a purchase that buys twice.
    fake.answer("getNumber", Canned(drop=True), "ACCESS_NUMBER:2:79990001122")
    with pytest.raises(UnknownOutcome) as caught:
        await client.get_number("tg", "0")
    assert caught.value.code == "NETWORK"
    assert len(fake.calls("getNumber")) == 1


async def test_dropped_connection_on_read_uses_only_our_retries(fake, client):
    fake.answer("getBalance", Canned(drop=True))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_balance()
    assert caught.value.code == "NETWORK"
    assert len(fake.calls("getBalance")) == 3
