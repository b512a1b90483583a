"""HTTP-level behaviour: errors in 200, HTML/Cloudflare, 429, hero problems, retries, purchases."""

from __future__ import annotations

import logging
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from bot.provider.client import ProviderClient
from bot.provider.errors import (
    ActionNotSupported,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnknownOutcome,
)
from bot.provider.factory import ProviderFactory
from bot.provider.guard import AddressPolicy
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


async def test_the_factory_session_sends_a_dropped_purchase_once(fake):
    # The bot's own sessions are made by the factory: the same guarantee holds there.
    factory = ProviderFactory(
        timeout=5.0, retry_delay=0.001, address_policy=AddressPolicy(allow_loopback=True)
    )
    try:
        fake.answer("getNumber", Canned(drop=True), "ACCESS_NUMBER:2:79990001122")
        with pytest.raises(UnknownOutcome) as caught:
            await factory.client(fake.url, API_KEY).get_number("tg", "0")
        assert caught.value.code == "NETWORK"
        assert len(fake.calls("getNumber")) == 1
    finally:
        await factory.close()


async def test_dropped_connection_on_read_uses_only_our_retries(fake, client):
    fake.answer("getBalance", Canned(drop=True))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_balance()
    assert caught.value.code == "NETWORK"
    assert len(fake.calls("getBalance")) == 3


# --------------------------------------------------------------------------- charset (item 17)


async def test_charset_of_the_content_type_is_honoured(fake, client):
    body = '{"sms":{"code":"1234","text":"Ваш код 1234"}}'.encode("cp1251")
    cp1251 = {"Content-Type": "text/plain; charset=windows-1251"}
    fake.answer("getStatusV2", Canned(body=body, headers=cp1251))
    status = await client.get_status_v2("1")
    assert status.code == "1234" and status.text == "Ваш код 1234"


async def test_undecodable_body_is_an_error_never_a_code(fake, client):
    fake.answer("getStatus", Canned(body=b"STATUS_OK:12\xff34"))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_status("1")
    assert caught.value.code == "GARBLED"
    fake.answer("getNumber", Canned(body=b"ACCESS_NUMBER:5:7999\xfe\xff"))
    with pytest.raises(UnknownOutcome):
        await client.get_number("tg", "0")
    assert len(fake.calls("getNumber")) == 1


# --------------------------------------------------------------------------- retries (item 18)


class FakeTime:
    """A clock and a sleep that moves it: retry waits are recorded, never really slept."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def timed_client(fake, session, fake_time: FakeTime, **options) -> ProviderClient:
    settings = {"timeout": 0.5, "read_retries": 2, "retry_delay": 0.001, **options}
    return ProviderClient(
        fake.url, API_KEY, session, sleep=fake_time.sleep, clock=fake_time.clock, **settings
    )


async def test_429_read_is_retried_after_the_delay_the_provider_asked(fake, session, fake_time):
    client = timed_client(fake, session, fake_time)
    fake.answer(
        "getBalance", Canned(429, "Too Many Requests", {"Retry-After": "3"}), "ACCESS_BALANCE:5"
    )
    assert (await client.get_balance()).amount == Decimal("5")
    assert fake_time.sleeps == [3.0]
    assert len(fake.calls("getBalance")) == 2


async def test_503_read_honours_retry_after(fake, session, fake_time):
    client = timed_client(fake, session, fake_time)
    fake.answer(
        "getCountries",
        Canned(503, "Service Unavailable", {"Retry-After": "2"}),
        '{"0":{"id":0,"eng":"Russia","visible":1}}',
    )
    await client.get_countries()
    assert fake_time.sleeps == [2.0]


@pytest.mark.parametrize("headers", [{}, {"Retry-After": "3"}])
async def test_cloudflare_1020_waits_at_least_ten_seconds(fake, session, fake_time, headers):
    client = timed_client(fake, session, fake_time, read_deadline=60.0)
    fake.answer("getBalance", Canned(403, "error code: 1020", headers), "ACCESS_BALANCE:5")
    assert (await client.get_balance()).amount == Decimal("5")
    assert fake_time.sleeps == [10.0]


async def test_interactive_read_gives_up_within_ten_seconds_and_says_when(fake, session, fake_time):
    client = timed_client(fake, session, fake_time)  # the default deadline: 10 s
    fake.answer("getBalance", Canned(429, "slow down", {"Retry-After": "7"}))
    started = fake_time.now
    with pytest.raises(RateLimited) as caught:
        await client.get_balance()
    assert fake_time.now - started <= 10.0
    assert fake_time.sleeps == [7.0]  # a second wait of 7 s would pass the deadline
    assert caught.value.retry_after == 7.0
    assert len(fake.calls("getBalance")) == 2


async def test_interactive_read_after_1020_gives_up_at_once_with_ten_seconds(
    fake, session, fake_time
):
    client = timed_client(fake, session, fake_time)
    fake.answer("getBalance", Canned(403, "error code: 1020"))
    with pytest.raises(RateLimited) as caught:
        await client.get_balance()
    assert caught.value.retry_after == 10.0
    assert fake_time.sleeps == []


async def test_a_retry_after_beyond_the_cap_is_handed_to_the_caller(fake, session, fake_time):
    client = timed_client(fake, session, fake_time, read_deadline=None)
    fake.answer("getBalance", Canned(429, "slow down", {"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        await client.get_balance()
    assert caught.value.retry_after == 3600.0
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    "canned",
    [
        Canned(429, "slow down", {"Retry-After": "1"}),
        Canned(503, "busy", {"Retry-After": "1"}),
        Canned(403, "error code: 1020"),
    ],
)
async def test_purchases_and_status_changes_are_never_retried(fake, session, fake_time, canned):
    client = timed_client(fake, session, fake_time)
    fake.answer("getNumber", canned)
    fake.answer("setStatus", canned)
    fake.answer("setRentStatus", canned)
    with pytest.raises(UnknownOutcome):
        await client.get_number("tg", "0")
    with pytest.raises(ProviderUnavailable):
        await client.set_status("1", 8)
    with pytest.raises(ProviderUnavailable):
        await client.set_rent_status("1", 2)
    for action in ("getNumber", "setStatus", "setRentStatus"):
        assert len(fake.calls(action)) == 1, action
    assert fake_time.sleeps == []


async def test_background_client_hands_rate_limits_back_at_once(fake, fake_time):
    factory = ProviderFactory(
        timeout=0.5, retry_delay=0.001, address_policy=AddressPolicy(allow_loopback=True)
    )
    try:
        client = factory.client(fake.url, API_KEY, background=True)
        client._sleep, client._clock = fake_time.sleep, fake_time.clock
        fake.answer("getStatus", Canned(429, "slow down", {"Retry-After": "3"}))
        with pytest.raises(RateLimited) as caught:
            await client.get_status("1")
        assert caught.value.retry_after == 3.0
        fake.answer("getActiveActivations", Canned(403, "error code: 1020"))
        with pytest.raises(RateLimited) as caught:
            await client.get_active_activations()
        assert caught.value.retry_after == 10.0  # the tracker's back-off waits at least this
        assert fake_time.sleeps == []
        assert len(fake.calls("getStatus")) == 1
    finally:
        await factory.close()


# --------------------------------------------------------------------------- size cap (item 31)


async def test_an_answer_over_the_size_cap_is_refused_and_not_retried(fake, session):
    client = ProviderClient(fake.url, API_KEY, session, timeout=2.0, max_body=4096)
    fake.answer("getPrices", Canned(body="{" + " " * 10_000 + "}"))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_prices()
    assert caught.value.code == "TOO_LARGE"
    assert len(fake.calls("getPrices")) == 1
    fake.answer("getPrices", '{"0":{"tg":{"cost":1,"count":2}}}')
    assert "0" in await client.get_prices()  # under the cap: read as usual


async def test_a_streamed_answer_is_abandoned_past_the_cap(session):
    sent: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to check up front
        await response.prepare(request)
        chunk = b"9" * 65536
        for _ in range(256):  # 16 MiB, far past the cap
            await response.write(chunk)
            sent.append(len(chunk))
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/stubs/handler_api.php", endless)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/stubs/handler_api.php"
    try:
        client = ProviderClient(url, API_KEY, session, timeout=5.0, max_body=200_000)
        with pytest.raises(ProviderUnavailable) as caught:
            await client.get_balance()
        assert caught.value.code == "TOO_LARGE"
    finally:
        await runner.cleanup()


async def test_the_factory_passes_its_size_cap_on(fake):
    factory = ProviderFactory(max_body=1024, address_policy=AddressPolicy(allow_loopback=True))
    try:
        fake.answer("getBalance", Canned(body="ACCESS_BALANCE:" + "1" * 2000))
        with pytest.raises(ProviderUnavailable) as caught:
            await factory.client(fake.url, API_KEY).get_balance()
        assert caught.value.code == "TOO_LARGE"
    finally:
        await factory.close()


async def test_retry_after_is_read_whatever_its_case(fake, session, fake_time):
    client = timed_client(fake, session, fake_time)
    fake.answer("getBalance", Canned(503, "busy", {"retry-after": "4"}), "ACCESS_BALANCE:5")
    assert (await client.get_balance()).amount == Decimal("5")
    assert fake_time.sleeps == [4.0]
