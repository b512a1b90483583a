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
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import OTHER, Metrics, error_label
from bot.provider.client import ACTIONS
from tests.conftest import TEST_TOKEN
from tests.e2e.fake_telegram import FakeTelegram
from tests.harness import HeldHandler, until

USER = 7001
SECRET = "hook-secret_1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_page(text: str) -> tuple[dict[str, str], Samples]:
    """A /metrics page read as Prometheus reads it: each family's type, and every sample by
    (name, labels). A page the parser refuses fails the test here."""
    kinds: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        kinds[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return kinds, samples


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for (found, labels) in samples if found == name}


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
    kinds, samples = parse_page(text)
    assert sample(samples, "smsbot_live_activations") == 0
    assert kinds["smsbot_codes_delivered"] == "counter"
    assert sample(samples, "smsbot_rental_sms_delivered_total") == 0
    assert kinds["smsbot_provider_request_duration_seconds"] == "histogram"


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

    class RunningTracker:
        running = True

    metrics: Metrics = services.metrics
    # What the tracker counts where things happen:
    metrics.tracker_ticks.inc(4)
    metrics.codes_delivered.inc(3)
    metrics.tracker_provider_errors.labels(code="NO_BALANCE").inc(2)
    metrics.tracker_provider_errors.labels(code="HTTP_502").inc()
    for seconds in (0.25, 0.25, 0.25, 0.25, 0.25, 0.25):
        metrics.tracker_provider_latency.observe(seconds)
    # What the provider session's trace config reports:
    metrics.observe_provider_call("getStatus", 0.2, None)
    metrics.observe_provider_call("getNumberV2", 3.0, "NO_NUMBERS")
    services.tracker = RunningTracker()
    server = await serve(build_web_app(None, None, services, webhook=False), free_port())  # type: ignore[arg-type]
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{server.base}/metrics") as response:
            text = await response.text()
        async with aiohttp.ClientSession() as http, http.get(f"{server.base}/healthz") as response:
            health = await response.json()
    finally:
        await server.runner.cleanup()
    kinds, samples = parse_page(text)
    assert sample(samples, "smsbot_live_activations") == 1
    assert sample(samples, "smsbot_users") == 1
    assert sample(samples, "smsbot_activations_bought_total") == 1
    assert sample(samples, "smsbot_codes_delivered_total") == 1
    assert sample(samples, "smsbot_pending_purchases") == 0
    assert sample(samples, "smsbot_tracker_ticks_total") == 4
    assert sample(samples, "smsbot_tracker_codes_delivered_total") == 3
    assert sample(samples, "smsbot_tracker_provider_errors_total", code="NO_BALANCE") == 2
    assert sample(samples, "smsbot_tracker_provider_errors_total", code="HTTP_502") == 1
    assert sample(samples, "smsbot_tracker_provider_latency_seconds_sum") == 1.5
    assert sample(samples, "smsbot_tracker_provider_latency_seconds_count") == 6
    assert sample(samples, "smsbot_tracker_running") == 1
    assert sample(samples, "smsbot_provider_errors_total", code="NO_NUMBERS") == 1
    assert (
        sample(samples, "smsbot_provider_request_duration_seconds_count", action="getStatus") == 1
    )
    assert kinds["smsbot_live_activations"] == "gauge"
    assert kinds["smsbot_tracker_ticks"] == "counter"
    assert health == {"status": "ok", "db": True, "tracker": True, "mode": "polling"}


async def test_metrics_survive_an_unreadable_database(services: Any) -> None:
    """The database's numbers are left out, the rest of the page stays."""
    from bot.web import start_health_server

    services.metrics.tracker_ticks.inc()
    port = free_port()
    runner = await start_health_server(services, "127.0.0.1", port)
    try:
        await services.db.close()
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
            _, samples = parse_page(await response.text())
    finally:
        await runner.cleanup()
        services.db = _ClosedDb()
    assert sample(samples, "smsbot_tracker_ticks_total") == 1
    assert sample(samples, "smsbot_live_activations") is None


async def test_healthz_fails_when_the_tracker_stopped_or_db_is_closed(services: Any) -> None:
    from bot.web import start_health_server

    class StoppedTracker:
        running = False

    services.tracker = StoppedTracker()
    port = free_port()
    runner = await start_health_server(services, "127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 503
                assert (await response.json())["tracker"] is False
            services.tracker = None
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
    metrics = Metrics(buckets=(0.1, 1.0))
    metrics.observe_provider_call("getBalance", 0.05)
    metrics.observe_provider_call("getBalance", 0.5, "BAD_KEY")
    metrics.observe_provider_call("getBalance", 5.0, "TIMEOUT")
    kinds, samples = parse_page(generate_page(metrics))
    duration = "smsbot_provider_request_duration_seconds"
    assert sample(samples, f"{duration}_bucket", action="getBalance", le="0.1") == 1
    assert sample(samples, f"{duration}_bucket", action="getBalance", le="1.0") == 2
    assert sample(samples, f"{duration}_bucket", action="getBalance", le="+Inf") == 3
    assert sample(samples, f"{duration}_sum", action="getBalance") == 5.55
    assert sample(samples, "smsbot_provider_requests_total", action="getBalance") == 3
    assert sample(samples, "smsbot_provider_errors_total", code="BAD_KEY") == 1
    assert sample(samples, "smsbot_provider_errors_total", code="TIMEOUT") == 1
    assert kinds[duration] == "histogram"


def test_a_provider_request_finds_its_actions_series_without_the_librarys_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`labels()` validates and locks on every call: each action's series are looked up once,
    and every request after that counts in the same series."""
    metrics = Metrics(buckets=(0.1, 1.0))
    lookups: list[str] = []
    for instrument in (metrics.provider_latency, metrics.provider_requests):
        looked_up = instrument.labels

        def counting(*args: str, _looked_up: Any = looked_up, **labels: str) -> Any:
            lookups.append(labels["action"])
            return _looked_up(*args, **labels)

        monkeypatch.setattr(instrument, "labels", counting)
    for seconds in (0.05, 0.5, 0.05):
        metrics.observe_provider_call("getActiveActivations", seconds)
    metrics.observe_provider_call("getStatus", 0.05)
    assert lookups == ["getActiveActivations"] * 2 + ["getStatus"] * 2
    _, samples = parse_page(generate_page(metrics))
    count = "smsbot_provider_request_duration_seconds_count"
    assert sample(samples, count, action="getActiveActivations") == 3
    assert sample(samples, "smsbot_provider_requests_total", action="getStatus") == 1


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.tracker_ticks.inc()
    assert first.registry.get_sample_value("smsbot_tracker_ticks_total") == 1
    assert second.registry.get_sample_value("smsbot_tracker_ticks_total") == 0


def generate_page(metrics: Metrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


async def test_timing_middleware_times_requests_without_keeping_the_url(
    sandbox: Any, sandbox_key: str
) -> None:
    metrics = Metrics()
    async with aiohttp.ClientSession(middlewares=(metrics.timing_middleware(),)) as http:
        params = {"api_key": sandbox_key, "action": "getBalance"}
        async with http.get(sandbox.url, params=params) as response:
            await response.read()
        with pytest.raises(aiohttp.ClientError):
            async with http.get(
                f"http://127.0.0.1:{free_port()}/x", params={"action": "getStatus"}
            ):
                pass
    registry = metrics.registry
    count = "smsbot_provider_request_duration_seconds_count"
    assert registry.get_sample_value(count, {"action": "getBalance"}) == 1
    assert registry.get_sample_value("smsbot_provider_errors_total", {"code": "NETWORK"}) == 1
    assert sandbox_key not in generate_page(metrics)


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
    # DATABASE_URL wins over DATABASE_PATH, as in the bot.
    url = f"sqlite:///{db_path}"
    assert await asyncio.to_thread(check_health, {"DATABASE_URL": url, "DATABASE_PATH": missing})
    assert not await asyncio.to_thread(check_health, {"DATABASE_URL": "mysql://x/y"}, 2.0)


async def test_container_health_check_on_postgresql(postgres_url: str, tmp_path: Any) -> None:
    from cryptography.fernet import Fernet

    from bot.web import check_health
    from storage import Database, KeyCipher

    # Not migrated yet: no schema, not healthy.
    assert not await asyncio.to_thread(check_health, {"DATABASE_URL": postgres_url}, 2.0)
    db = await Database.connect(postgres_url, KeyCipher([Fernet.generate_key().decode()]))
    await db.close()
    assert await asyncio.to_thread(check_health, {"DATABASE_URL": postgres_url}, 2.0)


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


def test_unknown_provider_error_codes_count_under_other() -> None:
    metrics = Metrics()
    for n in range(500):  # a provider inventing a new code per answer
        metrics.observe_provider_call("getStatus", 0.1, f"WEIRD_CODE_{n}")
    for code in ("NO_BALANCE", "TIMEOUT", "NETWORK", "HTTP_503", "HTTP_999", "ACK_MISMATCH"):
        metrics.observe_provider_call("getStatus", 0.1, code)
    _, samples = parse_page(generate_page(metrics))
    errors = "smsbot_provider_errors_total"
    assert sample(samples, errors, code=OTHER) == 501  # + HTTP_999
    for code in ("NO_BALANCE", "TIMEOUT", "NETWORK", "HTTP_503", "ACK_MISMATCH"):
        assert sample(samples, errors, code=code) == 1
    codes = label_values(samples, errors, "code")
    assert codes == {OTHER, "NO_BALANCE", "TIMEOUT", "NETWORK", "HTTP_503", "ACK_MISMATCH"}


def test_actions_outside_the_protocol_count_under_other() -> None:
    """The action label comes from the request's URL: only the client's own actions keep
    their name, so a crafted URL (a quote, a newline, a new word per request) adds nothing."""
    metrics = Metrics()
    for n in range(100):
        metrics.observe_provider_call(f"action{n}", 0.1)
    metrics.observe_provider_call('get"Status\n\\', 0.1)
    metrics.observe_provider_call(None, 0.1)
    metrics.observe_provider_call("getStatus", 0.1)
    _, samples = parse_page(generate_page(metrics))
    count = "smsbot_provider_request_duration_seconds_count"
    assert label_values(samples, count, "action") == {OTHER, "getStatus"}
    assert sample(samples, count, action=OTHER) == 102
    requests = label_values(samples, "smsbot_provider_requests_total", "action")
    assert requests == {OTHER, "getStatus"}
    assert requests <= ACTIONS | {OTHER}


def test_tracker_error_codes_on_the_page_are_bounded() -> None:
    """The tracker counts its errors through error_label (bot/tracker): the page then holds at
    most the known codes plus "other", whatever a provider answers."""
    metrics = Metrics()
    for code in [f"STRANGE_{n}" for n in range(300)] + ["NO_BALANCE", "HTTP_502", "HTTP_999"]:
        metrics.tracker_provider_errors.labels(code=error_label(code)).inc()
    _, samples = parse_page(generate_page(metrics))
    errors = "smsbot_tracker_provider_errors_total"
    assert sample(samples, errors, code=OTHER) == 301
    assert label_values(samples, errors, "code") == {OTHER, "NO_BALANCE", "HTTP_502"}


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
