"""Registration (language from Telegram), allowlist, suspended users, throttling (the bot's
commands per language: test_bot_profile.py)."""

from __future__ import annotations

from typing import Any

from bot.app import build_dispatcher
from handlers.keys import KeyAction, KeyCb
from handlers.middlewares import THROTTLE_BURST, ThrottleMiddleware
from tests.harness import ChatDriver, SqlTrace, find_middleware, message_update


def _dispatcher(services: Any, bot: Any, **changes: Any) -> Any:
    services.settings = services.settings.model_copy(update=changes)
    return build_dispatcher(services, bot, with_tracker=False)


async def test_registration_stores_the_user_with_telegrams_language(
    chat: ChatDriver, dp: Any, bot: Any, services: Any
) -> None:
    assert await services.db.users.get(chat.user.id) is None
    await chat.send("/help")
    user = await services.db.users.get(chat.user.id)
    assert user is not None and user.language == "en"
    ru = ChatDriver(dp, bot, user_id=612, language="ru-RU")
    await ru.send("/help")
    stored = await services.db.users.get(612)
    assert stored is not None and stored.language == "ru"


async def test_allowlist_refuses_others_and_lets_admins_in(services: Any, bot: Any) -> None:
    dp = _dispatcher(services, bot, allowed_users=[1001], admin_ids=[2002])
    stranger = ChatDriver(dp, bot, user_id=3003, language="ru")
    await stranger.send("/start")
    assert "закрытый бот" in stranger.last_text
    assert await services.db.users.get(3003) is None  # refused users leave no row
    await stranger.send("/start")
    answer = await stranger.tap_data("m1:main")
    assert answer is not None and "закрытый бот" in (answer.text or "")

    for allowed in (1001, 2002):
        friend = ChatDriver(dp, bot, user_id=allowed)
        await friend.send("/start")
        assert "Main menu" in friend.last_text


async def test_a_suspended_user_is_refused(chat: ChatDriver, services: Any) -> None:
    await services.db.users.set_suspended(chat.user.id, True)
    await chat.send("/start")
    assert "suspended" in chat.last_text
    answer = await chat.tap_data("m1:main")
    assert answer is not None and "suspended" in (answer.text or "")


async def test_throttling_drops_a_flood_but_answers_taps(services: Any, bot: Any) -> None:
    dp = _dispatcher(services, bot, throttle_rate=30)
    chat = ChatDriver(dp, bot, user_id=4004)
    await chat.send("/start")
    for _ in range(THROTTLE_BURST - 1):  # a burst of quick updates passes whole
        await chat.send("/help")
    shown = len(chat.texts())
    assert shown == THROTTLE_BURST
    await chat.send("/help")  # past the burst, within the window: dropped
    assert len(chat.texts()) == shown
    answer = await chat.tap_data("m1:main")
    assert answer is not None and "Too fast" in (answer.text or "")
    # Another user is not slowed down by the first one.
    other = ChatDriver(dp, bot, user_id=4005)
    await other.send("/help")
    assert "How this bot works" in other.last_text


async def test_throttle_window_reopens() -> None:
    now = [100.0]
    throttle = ThrottleMiddleware(1.0, clock=lambda: now[0], burst=1)
    assert throttle._allowed(1)
    assert not throttle._allowed(1)
    now[0] += 0.5
    assert not throttle._allowed(1)
    now[0] += 0.6
    assert throttle._allowed(1)


async def test_the_bucket_lets_a_burst_through_and_refills_at_the_rate() -> None:
    now = [100.0]
    throttle = ThrottleMiddleware(0.3, clock=lambda: now[0], burst=4)
    assert [throttle._allowed(1) for _ in range(5)] == [True] * 4 + [False]
    assert not throttle._allowed(1)  # a refused tap takes no token: the flood digs no deeper
    now[0] += 0.3  # one token back
    assert [throttle._allowed(1) for _ in range(2)] == [True, False]
    now[0] += 10  # a pause refills the bucket, never above its size
    assert [throttle._allowed(1) for _ in range(5)] == [True] * 4 + [False]


async def test_zero_rate_disables_throttling(chat: ChatDriver) -> None:
    await chat.send("/help")
    await chat.send("/help")
    assert sum("How this bot works" in text for text in chat.texts()) == 2


async def test_an_awaited_key_is_never_throttled(services: Any, bot: Any, sandbox_key: str) -> None:
    dp = _dispatcher(services, bot, throttle_rate=30)
    chat = ChatDriver(dp, bot, user_id=4006)
    await chat.send("/keys")
    # Taps inside the window would be dropped: open the window again before each one.
    throttle = find_middleware(dp, ThrottleMiddleware)
    for data in (
        KeyCb(action=KeyAction.ADD).pack(),
        KeyCb(action=KeyAction.PRESET, p="sandbox").pack(),
    ):
        throttle._full_at.clear()
        await chat.tap_data(data)
    assert "Send your" in chat.last_text
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:  # records the wait instead of sitting it out
        waits.append(seconds)

    throttle._sleep = no_sleep
    throttle.burst = 1  # no tokens to spare: the key waits for the next one
    await chat.send(sandbox_key)  # right after the tap: still delivered, and deleted
    assert len(waits) == 1 and 29 < waits[0] <= 30  # it waited for the window, not dropped
    assert "Key added" in chat.last_text
    key_message = next(m for m in chat.session.messages.values() if m.text == sandbox_key)
    assert key_message.deleted


async def test_a_page_tap_reads_user_and_key_in_one_read_and_writes_only_a_screen_change(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str, monkeypatch: Any
) -> None:
    from handlers.activation import BuyCb

    await services.accounts.add_key(
        chat.user.id, base_url=sandbox.url, api_key=sandbox_key, label="k"
    )
    await chat.send("/buy")  # warms the catalog: the taps below ask the provider nothing
    await chat.tap_data(BuyCb(action="s", s="tg").pack())
    sql = await SqlTrace.start(services.db)
    await chat.tap_data(BuyCb(action="sp", p=0).pack())
    await chat.tap_data(BuyCb(action="cp", s="tg", p=1).pack())
    writes = [s for s in sql.statements if s.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    # The only writes: the dialogue state, once per tap that changes the screen (services ->
    # countries), so that a restart keeps it. It is never read again (the storage keeps it).
    assert len(writes) == 2 and all("INTO fsm_states" in w for w in writes)
    assert sql.matching("FROM fsm_states") == []
    # One read per update for the user and the active key together.
    together = sql.matching("FROM users")
    assert len(together) == 2 and all("JOIN api_keys" in s for s in together)
    assert sql.matching("FROM api_keys") == []
    assert len(sql.matching("FROM favourites")) == 1  # favourites and recents together
    assert sql.count == 3 + len(writes)


async def test_registration_reuses_one_bound_translator_per_language() -> None:
    from bot.i18n import Translator
    from handlers.middlewares import RegistrationMiddleware

    middleware = RegistrationMiddleware([])
    first, second = Translator(), Translator()
    assert middleware._t(first, "en") is middleware._t(first, "en")
    assert middleware._t(first, "en") is not middleware._t(first, "ru")
    assert middleware._t(first, "en") is not middleware._t(second, "en")
    assert middleware._t(first, "ru")("btn-back") == first.bind("ru")("btn-back")


async def test_active_key_loader_reads_once_per_update() -> None:
    from handlers.common import ActiveKeyLoader

    class Accounts:
        def __init__(self) -> None:
            self.reads: list[int] = []

        async def find_active(self, user_id: int) -> Any:
            self.reads.append(user_id)
            return f"key-of-{user_id}-#{len(self.reads)}"

    accounts: Any = Accounts()
    loader = ActiveKeyLoader(accounts, 5)
    assert await loader() == "key-of-5-#1"
    assert await loader() == "key-of-5-#1"
    assert accounts.reads == [5]
    # The next update gets a loader of its own: a key switched meanwhile is seen.
    assert await ActiveKeyLoader(accounts, 5)() == "key-of-5-#2"
    assert accounts.reads == [5, 5]


async def test_messages_at_the_key_prompt_are_paced_and_none_is_dropped(
    services: Any, bot: Any, sandbox_key: str, monkeypatch: Any
) -> None:
    import asyncio
    import time

    from bot.provider.client import ProviderClient

    rate = 0.1
    dp = _dispatcher(services, bot, throttle_rate=rate)
    chat = ChatDriver(dp, bot, user_id=4008)
    await chat.send("/keys")
    throttle = find_middleware(dp, ThrottleMiddleware)
    for data in (
        KeyCb(action=KeyAction.ADD).pack(),
        KeyCb(action=KeyAction.PRESET, p="sandbox").pack(),
    ):
        throttle._full_at.clear()
        await chat.tap_data(data)
    assert "Send your" in chat.last_text

    checks: list[float] = []  # when each getBalance (the key check) was sent
    original = ProviderClient.get_balance

    async def timed(client: Any) -> Any:
        checks.append(time.monotonic())
        return await original(client)

    monkeypatch.setattr(ProviderClient, "get_balance", timed)
    throttle.burst = 1  # past a burst, each input waits for the next token
    keys = [*(f"wrong-key-{n:02d}-xxxxxxxx" for n in range(9)), sandbox_key]
    start = time.monotonic()
    await asyncio.gather(*(chat.send(text) for text in keys))

    assert len(checks) == 10  # every message reached the key check: none was dropped
    # One check per throttle window: the n-th check waited for the n-th window after the
    # flood began (slots are booked ahead, so a late check never lets the next one sooner;
    # the loop may wake up a clock tick early).
    for n, checked in enumerate(sorted(checks)):
        assert checked - start >= n * rate - 0.02
    assert any("Key added" in text for text in chat.texts())  # the last key still counted
    sent = [m for m in chat.session.messages.values() if m.text in keys]
    assert len(sent) == 10 and all(m.deleted for m in sent)


async def test_booked_slots_follow_one_another() -> None:
    now = [100.0]
    throttle = ThrottleMiddleware(1.0, clock=lambda: now[0], burst=1)
    assert [throttle._reserve(7) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert throttle._reserve(8) == 0.0  # another user has a window of their own
    assert not throttle._allowed(7)  # a tap while inputs wait is still too fast
    now[0] += 5.0
    assert throttle._reserve(7) == 0.0


async def test_a_handler_flag_decides_whether_a_flood_is_dropped_or_paced(bot: Any) -> None:
    from aiogram import Dispatcher, F

    from handlers.common import input_flags

    now = [100.0]
    waits: list[float] = []

    async def record_wait(seconds: float) -> None:
        waits.append(seconds)

    dp = Dispatcher()
    dp.message.middleware(ThrottleMiddleware(1.0, clock=lambda: now[0], sleep=record_wait, burst=1))
    handled: list[str] = []

    async def handle(message: Any) -> None:
        handled.append(message.text)

    dp.message.register(handle, F.text == "input", flags=input_flags())
    dp.message.register(handle, F.text == "command")

    for n in range(3):  # three commands within one window: the first one only
        await dp.feed_update(bot, message_update(n + 1, 7, "command"))
    assert handled == ["command"]
    for n in range(3):  # three inputs within the same window: each waits for its slot
        await dp.feed_update(bot, message_update(n + 10, 7, "input"))
    assert handled == ["command", "input", "input", "input"]
    assert waits == [1.0, 2.0, 3.0]


async def test_paced_input_gives_its_in_flight_slot_up_while_it_waits(bot: Any) -> None:
    import asyncio

    from aiogram import Dispatcher, F

    from handlers.common import input_flags
    from handlers.middlewares import InFlightMiddleware

    limiter = InFlightMiddleware(1)
    waiting = asyncio.Event()
    released = asyncio.Event()

    async def held_wait(seconds: float) -> None:
        waiting.set()
        await released.wait()

    throttle = ThrottleMiddleware(30.0, sleep=held_wait, burst=1)
    dp = Dispatcher()
    dp.update.outer_middleware(limiter)
    dp.message.middleware(throttle)
    handled: list[tuple[int, str]] = []

    async def handle(message: Any) -> None:
        handled.append((message.from_user.id, message.text))

    dp.message.register(handle, F.text == "input", flags=input_flags())
    dp.message.register(handle)

    await dp.feed_update(bot, message_update(1, 7, "input"))  # takes user 7's window
    paced = asyncio.create_task(dp.feed_update(bot, message_update(2, 7, "input")))
    await waiting.wait()  # the second input waits for user 7's next window...
    assert (limiter.running, limiter.waiting) == (0, 0)  # ...holding no slot
    await dp.feed_update(bot, message_update(3, 8, "hello"))  # the only slot serves another user
    assert handled == [(7, "input"), (8, "hello")]
    released.set()
    await paced
    assert handled[-1] == (7, "input")
    assert (limiter.running, limiter.waiting) == (0, 0)
