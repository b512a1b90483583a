"""Webhook mode, /healthz and /metrics (bot/web.py) and the metrics registry (bot/metrics.py).

The webhook runs for real: the fake Telegram server is told the URL by setWebhook and pushes the
user's updates to it with the secret header, as Telegram does; the real dispatcher answers.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiohttp import web

from bot.metrics import Metrics, format_labels
from tests.conftest import TEST_TOKEN
from tests.e2e.fake_telegram import FakeTelegram
from tests.harness import HeldHandler, until

USER = 7001
SECRET = "hook-secret_1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TEST_TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def api_bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    instance = Bot(
        TEST_TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )
    try:
        yield instance
    finally:
        await instance.session.close()


class WebServer:
    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.base = f"http://127.0.0.1:{port}"


async def serve(app: web.Application, port: int) -> WebServer:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return WebServer(runner, port)


@pytest.fixture
async def webhook_server(
    services: Any, api_bot: Bot, fake: FakeTelegram
) -> AsyncIterator[WebServer]:
    from bot.app import build_dispatcher
    from bot.web import build_web_app

    port = free_port()
    services.settings = services.settings.model_copy(
        update={
            "webhook_url": f"http://127.0.0.1:{port}",
            "webhook_secret": SECRET,
            "webhook_path": "/tg/hook",
            "listen_port": port,
        }
    )
    dp = build_dispatcher(services, api_bot)  # the tracker follows the web app
    server = await serve(build_web_app(api_bot, dp, services, webhook=True), port)
    try:
        yield server
    finally:
        await server.runner.cleanup()


async def test_set_webhook_at_startup_with_the_secret(
    webhook_server: WebServer, fake: FakeTelegram
) -> None:
    assert fake.webhook["url"] == f"{webhook_server.base}/tg/hook"
    assert fake.webhook["secret_token"] == SECRET


async def test_updates_delivered_by_webhook_are_handled(
    webhook_server: WebServer, fake: FakeTelegram
) -> None:
    fake.send_text(USER, "/start")
    await fake.wait_for(lambda: fake.bot_messages(USER), timeout=10)
    reply = fake.last(USER)
    assert reply.markup, "the main menu comes with its keyboard"
    assert fake.errors == []
    # The update was delivered (and so is not queued any more).
    await fake.wait_for(lambda: fake._updates == [], timeout=5)


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}])
async def test_wrong_or_missing_secret_is_refused(
    webhook_server: WebServer, fake: FakeTelegram, headers: dict[str, str]
) -> None:
    update = {
        "update_id": 99,
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "Mallory"},
            "text": "/start",
        },
    }
    fake.send_text(USER, "hi")  # the chat exists, so a handled update could be answered
    await fake.wait_for(lambda: fake._updates == [], timeout=5)
    before = len(fake.bot_messages(USER))
    async with aiohttp.ClientSession() as http:
        url = f"{webhook_server.base}/tg/hook"
        async with http.post(url, json=update, headers=headers) as response:
            assert response.status in (401, 403)
        # Control: the very same update with the right secret is handled.
        good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(url, json={**update, "update_id": 100}, headers=good) as response:
            assert response.status == 200
        await fake.wait_for(lambda: len(fake.bot_messages(USER)) == before + 1, timeout=5)
        # One more good update, answered after the first: had the refused update been handled
        # too, its answer would be among them by then (an ordering, not a guessed pause).
        async with http.post(url, json={**update, "update_id": 101}, headers=good) as response:
            assert response.status == 200
        await fake.wait_for(lambda: len(fake.bot_messages(USER)) >= before + 2, timeout=5)
    assert len(fake.bot_messages(USER)) == before + 2


async def test_healthz_and_metrics_on_the_webhook_server(webhook_server: WebServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{webhook_server.base}/healthz") as response:
            assert response.status == 200
            body = await response.json()
        async with http.get(f"{webhook_server.base}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    assert body["db"] is True
    assert body["status"] == "ok"
    assert body["mode"] == "webhook"
    assert "smsbot_live_activations 0" in text
    assert "# TYPE smsbot_codes_delivered_total counter" in text
    assert "smsbot_rental_sms_delivered_total 0" in text


async def test_metrics_show_live_numbers_and_tracker_counters(
    services: Any, sandbox: Any, sandbox_key: str
) -> None:
    from bot.web import build_web_app

    key = await services.db.keys.add(111, label="k", base_url=sandbox.url, api_key=sandbox_key)
    await services.db.users.get_or_create(111)
    activation = await services.db.activations.add(
        user_id=111, key_id=key.id, provider_id="555", service="tg", country="0",
        phone="79990001122", cost=None, currency=None, created_at=1.0, ends_at=1201.0,
        cancel_allowed_at=121.0,
    )  # fmt: skip
    await services.db.activations.add_code(activation.id, 0, "12345", "code 12345", 5.0)
    await services.db.activations.mark_code_delivered(activation.id, 0)

    class FakeTracker:
        running = True
        stats = {
            "codes_delivered": 3,
            "provider_errors": {"NO_BALANCE": 2, "HTTP_502": 1},
            "provider_latency_sum": 1.5,
            "provider_latency_count": 6,
        }

    registry = Metrics()
    registry.observe_provider_call("getStatus", 0.2, None)
    registry.observe_provider_call("getNumberV2", 3.0, "NO_NUMBERS")
    services.extra["tracker"] = FakeTracker()
    services.metrics = registry
    server = await serve(build_web_app(None, None, services, webhook=False), free_port())  # type: ignore[arg-type]
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{server.base}/metrics") as response:
            text = await response.text()
        async with aiohttp.ClientSession() as http, http.get(f"{server.base}/healthz") as response:
            health = await response.json()
    finally:
        await server.runner.cleanup()
    lines = set(text.splitlines())
    assert "smsbot_live_activations 1" in lines
    assert "smsbot_codes_delivered_total 1" in lines
    assert "smsbot_tracker_codes_delivered_total 3" in lines
    assert 'smsbot_tracker_provider_errors_total{code="NO_BALANCE"} 2' in lines
    assert 'smsbot_tracker_provider_errors_total{code="HTTP_502"} 1' in lines
    assert "smsbot_tracker_provider_latency_seconds_sum 1.5" in lines
    assert "smsbot_tracker_provider_latency_seconds_count 6" in lines
    assert "smsbot_tracker_running 1" in lines
    assert 'smsbot_provider_errors_total{code="NO_NUMBERS"} 1' in lines
    assert 'smsbot_provider_request_duration_seconds_count{action="getStatus"} 1' in lines
    assert health == {"status": "ok", "db": True, "tracker": True, "mode": "polling"}


async def test_healthz_fails_when_the_tracker_stopped_or_db_is_closed(services: Any) -> None:
    from bot.web import start_health_server

    class StoppedTracker:
        running = False

    services.extra["tracker"] = StoppedTracker()
    port = free_port()
    runner = await start_health_server(services, "127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 503
                assert (await response.json())["tracker"] is False
            services.extra.pop("tracker")
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            await services.db.close()
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 503
                assert (await response.json())["db"] is False
    finally:
        await runner.cleanup()
        services.db = _ClosedDb()


class _ClosedDb:
    async def close(self) -> None:
        return None


def test_registry_histogram_and_counters() -> None:
    registry = Metrics(buckets=(0.1, 1.0))
    registry.observe_provider_call("getBalance", 0.05)
    registry.observe_provider_call("getBalance", 0.5, "BAD_KEY")
    registry.observe_provider_call("getBalance", 5.0, "TIMEOUT")
    registry.inc("custom_total", 2, kind="x")
    text = registry.render()
    lines = text.splitlines()
    assert (
        'smsbot_provider_request_duration_seconds_bucket{action="getBalance",le="0.1"} 1' in lines
    )
    assert (
        'smsbot_provider_request_duration_seconds_bucket{action="getBalance",le="1.0"} 2' in lines
    )
    assert (
        'smsbot_provider_request_duration_seconds_bucket{action="getBalance",le="+Inf"} 3' in lines
    )
    assert 'smsbot_provider_request_duration_seconds_sum{action="getBalance"} 5.55' in lines
    assert 'smsbot_provider_requests_total{action="getBalance"} 3' in lines
    assert 'smsbot_provider_errors_total{code="BAD_KEY"} 1' in lines
    assert 'smsbot_custom_total{kind="x"} 2' in lines
    assert "# TYPE smsbot_provider_request_duration_seconds histogram" in lines
    assert registry.counter("provider_errors_total", code="TIMEOUT") == 1


def test_label_values_are_escaped() -> None:
    assert format_labels({"code": 'a"b\\c\nd'}) == '{code="a\\"b\\\\c\\nd"}'


async def test_trace_config_times_requests_without_keeping_the_url(
    sandbox: Any, sandbox_key: str
) -> None:
    registry = Metrics()
    async with aiohttp.ClientSession(trace_configs=[registry.trace_config()]) as http:
        params = {"api_key": sandbox_key, "action": "getBalance"}
        async with http.get(sandbox.url, params=params) as response:
            await response.read()
        with pytest.raises(aiohttp.ClientError):
            async with http.get(
                f"http://127.0.0.1:{free_port()}/x", params={"action": "getStatus"}
            ):
                pass
    assert registry.latency_count("getBalance") == 1
    assert registry.counter("provider_errors_total", code="NETWORK") == 1
    assert sandbox_key not in registry.render()


async def test_container_health_check_uses_healthz_or_the_database(
    services: Any, tmp_path: Any
) -> None:
    from bot.web import check_health, health_check_target, start_health_server

    assert health_check_target({}) is None
    assert health_check_target({"WEBHOOK_URL": "https://x", "LISTEN_PORT": "9"}).endswith(
        ":9/healthz"
    )
    assert health_check_target({"HEALTH_PORT": "7"}) == "http://127.0.0.1:7/healthz"

    port = free_port()
    assert not await asyncio.to_thread(check_health, {"HEALTH_PORT": str(port)}, 2.0)
    runner = await start_health_server(services, "127.0.0.1", port)
    try:
        assert await asyncio.to_thread(check_health, {"HEALTH_PORT": str(port)}, 2.0)
    finally:
        await runner.cleanup()
    # Polling without a health server: the database must open and carry the schema.
    db_path = str(services.settings.database_path)
    assert await asyncio.to_thread(check_health, {"DATABASE_PATH": db_path}, 2.0)
    missing = str(tmp_path / "nope.db")
    assert not await asyncio.to_thread(check_health, {"DATABASE_PATH": missing}, 2.0)


REPO = Path(__file__).resolve().parents[1]


def _documented_names(text: str) -> set[str]:
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_env_example_documents_every_setting_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.config import Settings, load_settings

    text = (REPO / ".env.example").read_text()
    fields = {name.upper() for name in Settings.model_fields}
    assert fields <= _documented_names(text)
    # Copied as it is (with a token), it is a valid configuration.
    for name in fields:
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text(text.replace("BOT_TOKEN=\n", "BOT_TOKEN=123456:abcdefghijk\n"))
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.bot_token == "123456:abcdefghijk"
    assert settings.secret_key_file is None
    assert not settings.webhook_mode


def test_compose_passes_every_setting_to_the_bot() -> None:
    from bot.config import Settings

    text = (REPO / "docker-compose.yml").read_text()
    passed = set(re.findall(r"^      ([A-Z][A-Z0-9_]+):", text, flags=re.MULTILINE))
    assert {name.upper() for name in Settings.model_fields} <= passed
    assert 'profiles: ["sandbox"]' in text
    assert "SANDBOX_URL" in passed


def _label_values(text: str, metric: str, label: str) -> set[str]:
    pattern = re.compile(rf'^{metric}\{{.*?{label}="([^"]*)"', re.M)
    return set(pattern.findall(text))


def test_unknown_provider_error_codes_count_under_other() -> None:
    registry = Metrics()
    for n in range(500):  # a provider inventing a new code per answer
        registry.observe_provider_call("getStatus", 0.1, f"WEIRD_CODE_{n}")
    for code in ("NO_BALANCE", "TIMEOUT", "NETWORK", "HTTP_503", "HTTP_999", "ACK_MISMATCH"):
        registry.observe_provider_call("getStatus", 0.1, code)
    assert registry.counter("provider_errors_total", code="other") == 501  # + HTTP_999
    for code in ("NO_BALANCE", "TIMEOUT", "NETWORK", "HTTP_503", "ACK_MISMATCH"):
        assert registry.counter("provider_errors_total", code=code) == 1
    codes = _label_values(registry.render(), "smsbot_provider_errors_total", "code")
    assert codes == {"other", "NO_BALANCE", "TIMEOUT", "NETWORK", "HTTP_503", "ACK_MISMATCH"}


def test_every_series_set_is_bounded_with_an_other_bucket() -> None:
    registry = Metrics(max_series=10)
    for n in range(100):
        registry.inc("custom_total", kind=f"k{n}")
        registry.observe_provider_call(f"action{n}", 0.1)
    text = registry.render()
    assert len(_label_values(text, "smsbot_custom_total", "kind")) <= 10
    assert registry.counter("custom_total", kind="other") == 100 - 9
    assert registry.counter("custom_total", kind="k0") == 1  # the first ones keep their labels
    actions = _label_values(text, "smsbot_provider_request_duration_seconds_count", "action")
    assert len(actions) <= 10 and "other" in actions
    assert len(_label_values(text, "smsbot_provider_requests_total", "action")) <= 10
    assert registry.latency_count("other") == 100 - 9


def test_tracker_counts_unknown_error_codes_under_other() -> None:
    from types import SimpleNamespace

    from bot.web import tracker_families

    # (The tracker's own counting: tests/bot/test_tracker_faults.py.)
    # /metrics applies the same rule to whatever a tracker's stats hold.
    services = SimpleNamespace(extra={"tracker": SimpleNamespace(stats={"provider_errors": {
        **{f"ODD_{n}": 1 for n in range(50)}, "BAD_KEY": 2}})})  # fmt: skip
    from bot.metrics import render

    text = render(tracker_families(services))
    assert 'smsbot_tracker_provider_errors_total{code="other"} 50' in text.splitlines()
    assert _label_values(text, "smsbot_tracker_provider_errors_total", "code") == {
        "other",
        "BAD_KEY",
    }


async def test_polling_takes_no_more_updates_than_it_may_keep_alive(
    fake: FakeTelegram, api_bot: Bot, monkeypatch: Any
) -> None:
    from aiogram import Dispatcher

    from bot import app

    monkeypatch.setattr(app, "UPDATES_ALIVE", 3)
    dp = Dispatcher()
    held = HeldHandler()
    dp.message.register(held.handle)
    for n in range(7):
        fake.send_text(USER + n, f"tap {n}")
    polling = asyncio.create_task(app.run_polling(api_bot, dp))
    try:
        await until(lambda: held.running == 3)
        # The poller is parked until an update finishes: no fourth one is started meanwhile.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(until(lambda: held.running > 3), timeout=0.3)
        held.gate.set()
        await until(lambda: held.handled == 7)
        assert held.peak == 3
    finally:
        held.gate.set()
        await dp.stop_polling()
        await polling


async def test_the_webhook_holds_requests_while_its_updates_are_alive(api_bot: Bot) -> None:
    from aiogram import Dispatcher
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web import BoundedRequestHandler

    dp = Dispatcher()
    held = HeldHandler()
    dp.message.register(held.handle)
    app = web.Application()
    BoundedRequestHandler(dispatcher=dp, bot=api_bot, secret_token=SECRET, limit=2).register(
        app, path="/hook"
    )
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()

    async def post(n: int) -> int:
        update = {
            "update_id": n + 1,
            "message": {
                "message_id": n + 1,
                "date": 0,
                "chat": {"id": USER + n, "type": "private"},
                "from": {"id": USER + n, "is_bot": False, "first_name": "U"},
                "text": "tap",
            },
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with client.post("/hook", json=update, headers=headers) as response:
            return response.status

    try:
        requests = [asyncio.create_task(post(n)) for n in range(5)]
        await until(lambda: held.running == 2 and sum(r.done() for r in requests) == 2)
        # Telegram's further requests get no answer until an update finishes.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(until(lambda: sum(r.done() for r in requests) > 2), 0.3)
        held.gate.set()
        assert await asyncio.gather(*requests) == [200] * 5
        await until(lambda: held.handled == 5)
        assert held.peak == 2
    finally:
        held.gate.set()
        await client.close()
