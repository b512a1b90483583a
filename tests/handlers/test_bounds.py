"""Hostile callback data: every int field of every factory is range-checked when decoded.

A tampered button (a huge id SQLite cannot hold, a negative page, letters where a number
belongs) never reaches a handler: the tap is answered "this button is out of date" and nothing
is logged as an error.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import tracemalloc
from typing import Any

import pytest
from aiogram import Dispatcher, F
from aiogram.filters.callback_data import CallbackData
from aiogram.types import Update

from bot.app import build_dispatcher
from tests.handlers.test_callback_sizes import FACTORIES, LARGEST
from tests.harness import ChatDriver, HeldHandler, find_middleware, message_update, until

HOSTILE_INTS = ("99999999999999999999", str(2**63), "-1", "abc", "1e3", "0x10", "1.5")


def _int_fields(cls: type[CallbackData]) -> list[str]:
    return [name for name, field in cls.model_fields.items() if field.annotation is int]


def _packed_with(cls: type[CallbackData], name: str, raw: str) -> str:
    """The largest valid payload of `cls`, packed, with field `name` replaced by `raw`."""
    valid = cls(**LARGEST[cls.__name__][0])
    parts = valid.pack().split(cls.__separator__)
    parts[1 + list(cls.model_fields).index(name)] = raw
    return cls.__separator__.join(parts)


INT_FIELDS = [(cls, name) for cls in FACTORIES for name in _int_fields(cls)]


def test_the_factories_with_int_fields_are_all_found() -> None:
    names = {cls.__name__ for cls, _ in INT_FIELDS}
    assert {"ActivationCb", "KeyCb", "RentalCb", "RentExtendCb", "BuyCb", "NumbersCb"} <= names


@pytest.mark.parametrize(
    ("cls", "name"), INT_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in INT_FIELDS]
)
def test_every_int_field_refuses_hostile_values(cls: type[CallbackData], name: str) -> None:
    # The largest value a keyboard makes still decodes (test_callback_sizes packs it).
    assert cls.unpack(cls(**LARGEST[cls.__name__][0]).pack()) is not None
    for raw in HOSTILE_INTS:
        with pytest.raises((ValueError, TypeError)):
            cls.unpack(_packed_with(cls, name, raw))
    field = cls.model_fields[name]
    if field.is_required():
        with pytest.raises((ValueError, TypeError)):
            cls.unpack(_packed_with(cls, name, ""))
    else:  # aiogram's rule: an empty optional field decodes to its default
        assert getattr(cls.unpack(_packed_with(cls, name, "")), name) == field.default


TAMPERED = [
    "a1:open:99999999999999999999",
    "a1:cancel:-5",
    "k1:open:99999999999999999999:",
    "k1:del:-1:",
    "r1:open:99999999999999999999:0:0",
    "r1:sms:1:-1:0",
    "r1e:99999999999999999999:4:AAAAAAAAAAAA",
    "n1:hist:a:99999999999999999999",
    "b1:cp:tg:0:-1::",
    "r1f:cty:tg::0:99999999999999999999",
    "a1:open:abc",
]


@pytest.mark.parametrize("data", TAMPERED)
async def test_a_tampered_button_is_out_of_date_and_logs_no_error(
    keyed_chat: ChatDriver, data: str, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    answer = await keyed_chat.tap_data(data)
    assert answer is not None and "out of date" in (answer.text or "")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_the_out_of_date_answer_is_localised(services: Any, bot: Any, dp: Any) -> None:
    ru = ChatDriver(dp, bot, user_id=7007, language="ru")
    await ru.send("/start")
    answer = await ru.tap_data("a1:open:99999999999999999999")
    assert answer is not None and "устарела" in (answer.text or "")


# --- the in-flight cap ----------------------------------------------------------------------


def _limiter(dp: Dispatcher) -> Any:
    from handlers.middlewares import InFlightMiddleware

    return find_middleware(dp, InFlightMiddleware)


def test_the_dispatcher_caps_updates_in_flight_and_throttles_around_handlers(
    dp: Dispatcher,
) -> None:
    from handlers.middlewares import UPDATES_IN_FLIGHT, ThrottleMiddleware

    kinds = [type(m).__name__ for m in dp.update.outer_middleware[:]]
    assert kinds.index("KeyGuardMiddleware") < kinds.index("InFlightMiddleware")
    assert kinds.index("InFlightMiddleware") < kinds.index("RegistrationMiddleware")
    assert _limiter(dp).limit == UPDATES_IN_FLIGHT
    # The throttle sits around the handlers, where a handler's flags decide its policy.
    assert "ThrottleMiddleware" not in kinds
    assert find_middleware(dp, ThrottleMiddleware)


async def test_n_plus_one_slow_updates_run_at_most_n_at_once(
    services: Any, bot: Any, monkeypatch: Any
) -> None:
    from handlers import middlewares

    limit = 3
    monkeypatch.setattr(middlewares, "UPDATES_IN_FLIGHT", limit)
    dp = build_dispatcher(services, bot, with_tracker=False)
    slow = HeldHandler()
    dp.message.register(slow.handle, F.text == "slow")  # the dispatcher's own handlers come first
    limiter = _limiter(dp)

    updates = [message_update(n + 1, 9100 + n, "slow") for n in range(limit + 1)]
    tasks = [asyncio.create_task(dp.feed_update(bot, update)) for update in updates]
    await until(lambda: slow.running == limit and limiter.waiting == 1)
    assert slow.running == limit  # the (N+1)th waits for a slot, before any database work
    slow.gate.set()
    await asyncio.gather(*tasks)
    assert (slow.peak, slow.handled) == (limit, limit + 1)
    assert (limiter.running, limiter.waiting) == (0, 0)


async def test_webhook_updates_share_the_same_cap(
    services: Any, bot: Any, monkeypatch: Any
) -> None:
    """The webhook feeds each update to the dispatcher in a task of its own: same cap."""
    from aiohttp.test_utils import TestClient, TestServer

    from bot.web import build_web_app
    from handlers import middlewares

    limit = 2
    monkeypatch.setattr(middlewares, "UPDATES_IN_FLIGHT", limit)
    services.settings = services.settings.model_copy(
        update={"webhook_url": "https://bot.example/webhook", "webhook_secret": "s3cret"}
    )
    dp = build_dispatcher(services, bot, with_tracker=False)
    slow = HeldHandler()
    dp.message.register(slow.handle, F.text == "slow")
    limiter = _limiter(dp)
    app = build_web_app(bot, dp, services, webhook=True)
    app.on_startup.clear()  # no setWebhook, no tracker: only the request handler matters
    app.on_shutdown.clear()
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        for n in range(limit + 3):
            body = message_update(n + 1, 9200 + n, "slow").model_dump(mode="json")
            response = await client.post(
                "/webhook", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
            )
            assert response.status == 200
        await until(lambda: slow.running == limit and limiter.waiting == 3)
        slow.gate.set()
        await until(lambda: slow.handled == limit + 3)
        assert slow.peak == limit
    finally:
        slow.gate.set()
        await client.close()


async def test_memory_of_a_burst_is_released(bot: Any) -> None:
    from handlers.middlewares import InFlightMiddleware

    limit, burst = 4, 2000
    dp = Dispatcher()
    limiter = InFlightMiddleware(limit)
    dp.update.outer_middleware(limiter)
    slow = HeldHandler()
    dp.message.register(slow.handle)

    async def tap_burst() -> int:
        """2000 taps from 10 users at once; the bytes they hold while waiting for slots."""
        tasks = [
            asyncio.create_task(dp.feed_update(bot, message_update(n + 1, 5000 + n % 10, "tap")))
            for n in range(burst)
        ]
        await until(lambda: slow.running == limit and limiter.waiting == burst - limit)
        held = tracemalloc.get_traced_memory()[0] - baseline
        slow.gate.set()
        await asyncio.gather(*tasks)
        return held

    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        during = await tap_burst()
        for _ in range(3):  # let the loop run the gather's last wake-up callbacks
            await asyncio.sleep(0)
        # aiogram memoises Update.event_type for its last 128 updates (a bounded cache that
        # holds them): empty it, so what remains is what a burst would leave for good.
        Update.event_type.fget.cache_clear()  # type: ignore[attr-defined]
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    assert (slow.peak, slow.handled) == (limit, burst)
    assert after < during / 20, f"{after} bytes still held after a burst that took {during}"
