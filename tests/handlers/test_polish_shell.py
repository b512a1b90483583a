"""Issue 15, the shell: prompts that stop asking lose their buttons (4), the currency on
balances per language (6), wording (9), the welcome and the keys (10), a throttle that lets a
person's quick taps through (13). Each through the real dispatcher, as a user sees it."""

from __future__ import annotations

from typing import Any

from bot.app import build_dispatcher
from handlers.middlewares import ThrottleMiddleware
from tests.harness import ChatDriver, find_middleware

# --- 4: old prompts lose their buttons --------------------------------------------------------


async def test_a_prompt_loses_its_cancel_once_another_message_asks(chat: ChatDriver) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Other provider")
    asking = chat.last_bot_message()
    assert [b.text for b in asking.buttons()] == ["✖️ Cancel"]
    await chat.send("not a url at all")
    asking_again = chat.last_bot_message()
    assert "does not look like a web address" in asking_again.text
    # Exactly one message has a live Cancel: the one that asks now.
    assert asking.buttons() == [] and asking_again.buttons()
    await chat.send("still not a url")
    assert asking_again.buttons() == []
    assert chat.last_bot_message().buttons()


async def test_a_prompt_loses_its_cancel_when_the_flow_is_left(
    chat: ChatDriver, sandbox_key: str
) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    asking = chat.last_bot_message()
    assert "Send your" in asking.text and asking.buttons()
    await chat.send("/balance")  # a command leaves the input: nothing is awaited any more
    assert asking.buttons() == []
    assert "Send your" in asking.text  # the text stays; only the dead button goes


async def test_the_key_prompts_retire_as_the_flow_moves_on(
    chat: ChatDriver, sandbox_key: str
) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    key_prompt = chat.last_bot_message()
    await chat.send("x")  # not a key: asked again, the first prompt retires
    assert key_prompt.buttons() == []
    await chat.send(sandbox_key)
    name_prompt = chat.last_bot_message()
    assert "Key added" in name_prompt.text and name_prompt.buttons()
    await chat.send("Work")  # the name is in: "Keep this name" would keep nothing now
    assert name_prompt.buttons() == []
    assert "Saved as <b>Work</b>" in chat.last_text


async def test_cancel_on_the_prompt_itself_turns_it_into_the_menu(chat: ChatDriver) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Other provider")
    asking = chat.last_bot_message()
    await chat.tap("Cancel", asking)
    # The prompt's own message became the menu, with all its buttons.
    assert "Main menu" in asking.text and len(asking.buttons()) > 1


async def test_a_rename_prompt_retires_when_another_screen_is_tapped(
    keyed_chat: ChatDriver,
) -> None:
    chat = keyed_chat
    await chat.send("/keys")
    keys_list = chat.last_bot_message()
    await chat.tap("Sandbox", keys_list)
    await chat.tap("Rename")
    asking = chat.last_bot_message()
    assert "Send a new name" in asking.text
    await chat.send("/settings")
    settings_screen = chat.last_bot_message()
    await chat.tap("Language", settings_screen)
    assert asking.buttons() == []


# --- 6: the currency on balances, per language -----------------------------------------------


async def _learn_currency(services: Any, user_id: int, currency: str) -> None:
    """getBalance names no currency; a purchase teaches the key its currency (bot.orders)."""
    key = await services.db.keys.get_active(user_id)
    await services.db.keys.update_balance(user_id, key.id, key.balance, currency)


async def test_balances_show_the_keys_currency(keyed_chat: ChatDriver, services: Any) -> None:
    chat = keyed_chat
    await _learn_currency(services, chat.user.id, "643")
    await chat.send("/balance")  # asks the provider again: the currency stays known
    assert "100.00 ₽" in chat.last_text
    await chat.send("/keys")
    assert "100.00 ₽" in chat.last_text
    await chat.tap("Sandbox")
    assert "Balance: 100.00 ₽" in chat.last_text
    await chat.send("/menu")
    assert "100.00 ₽" in chat.last_text


async def test_balances_use_the_languages_decimal_mark(
    dp: Any, bot: Any, services: Any, sandbox_key: str
) -> None:
    chat = ChatDriver(dp, bot, user_id=612, language="ru")
    await chat.send("/keys")
    await chat.tap("Добавить ключ")
    await chat.tap("Sandbox")
    await chat.send(sandbox_key)
    assert "баланс 100,00." in chat.last_text  # no currency known yet: none is guessed
    await _learn_currency(services, 612, "840")
    await chat.send("/balance")
    assert "100,00 $" in chat.last_text
    await chat.send("/start")
    assert "100,00 $" in chat.last_text


# --- 9: wording -------------------------------------------------------------------------------


async def test_a_custom_address_answering_404_is_called_wrong_not_down(
    chat: ChatDriver, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Other provider")
    await chat.send(f"{sandbox.base}/no/such/handler_api.php")
    await chat.send(sandbox_key)
    said = chat.last_text
    assert "address is wrong" in said and "API address again" in said
    assert "not answering" not in said and "in a minute" not in said
    assert await services.db.keys.list(chat.user.id) == []
    # The flow asks for the address again: the right one, then the key, go through.
    await chat.send(sandbox.base)
    assert "Send your" in chat.last_text
    await chat.send(sandbox_key)
    assert "Key added" in chat.last_text


async def test_a_refused_key_says_one_thing_to_do(chat: ChatDriver, sandbox: Any) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    await chat.send("wrongkey-0000000000")
    said = chat.last_text
    assert "rejected this API key" in said and "send it again" in said
    assert "under API keys" not in said and "Send the key again" not in said


async def test_an_unknown_command_is_named_as_unknown(dp: Any, bot: Any) -> None:
    chat = ChatDriver(dp, bot, user_id=620)
    await chat.send("/foo")
    said = chat.last_bot_message()
    assert "do not know the command /foo" in said.text and "/help" in said.text
    assert "did not expect" not in said.text
    assert any("Buy number" in b.text for b in said.buttons())  # the menu, to go on
    await chat.send("/<b>x</b>@sms_test_bot tail")  # the user's text is escaped
    assert "/&lt;b&gt;x&lt;/b&gt;" in chat.last_text
    ru = ChatDriver(dp, bot, user_id=621, language="ru")
    await ru.send("/foo")
    assert "не знаю команды /foo" in ru.last_text


async def test_an_unknown_command_at_an_input_keeps_the_input_open(chat: ChatDriver) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Other provider")
    await chat.send("/foo")
    assert "do not know the command /foo" in chat.last_text
    await chat.send("not a url")  # still the address the screen asked for
    assert "does not look like a web address" in chat.last_text


# --- 10: the welcome and the keys -------------------------------------------------------------


async def test_the_welcome_asks_for_a_key_once(chat: ChatDriver) -> None:
    await chat.send("/start")
    text = chat.last_text
    assert "Hello" in text and text.lower().count("add") == 1
    assert text.count("🔑 API keys") == 1


async def test_a_key_shows_its_last_four_and_keep_names_the_name(
    chat: ChatDriver, sandbox_key: str
) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    await chat.send(sandbox_key)
    keep = chat.last_bot_message().buttons()[0]
    assert keep.text == "✔️ Keep this name: “Sandbox”"
    await chat.tap("Keep this name")
    assert f"••••{sandbox_key[-4:]}" in chat.last_text
    await chat.send("/keys")
    assert f"<code>••••{sandbox_key[-4:]}</code>" in chat.last_text


# --- 13: the throttle answers a person's pace, only a flood ------------------------------------


def _throttled_chat(services: Any, bot: Any, user_id: int) -> tuple[ChatDriver, list[float]]:
    """A chat through a dispatcher with the default throttle rate, on a clock the test moves."""
    services.settings = services.settings.model_copy(update={"throttle_rate": 0.3})
    dp = build_dispatcher(services, bot, with_tracker=False)
    now = [1000.0]
    find_middleware(dp, ThrottleMiddleware)._clock = lambda: now[0]
    return ChatDriver(dp, bot, user_id=user_id), now


async def test_quick_human_taps_are_never_told_too_fast(
    services: Any, bot: Any, sandbox_key: str
) -> None:
    chat, now = _throttled_chat(services, bot, 630)
    await chat.send("/start")
    # A person going through the menus: a few taps in quick succession, then a pause, again.
    for _ in range(3):
        for label in ("Settings", "Language", "Back", "Main menu"):
            now[0] += 0.15  # twice as fast as the rate: a burst
            answer = await chat.tap(label)
            assert answer is None or "Too fast" not in (answer.text or "")
        now[0] += 1.0
    answers = [a.text for a in chat.session.callback_answers if a.text]
    assert not any("Too fast" in text for text in answers)
    assert "Main menu" in chat.last_text


async def test_a_flood_of_taps_is_throttled(services: Any, bot: Any) -> None:
    chat, now = _throttled_chat(services, bot, 631)
    await chat.send("/help")
    answers = [await chat.tap_data("m1:help") for _ in range(20)]  # 20 taps at one instant
    refused = [a for a in answers if a is not None and "Too fast" in (a.text or "")]
    assert 10 < len(refused) < 20
    now[0] += 2.0  # the flood stopped: the bucket refilled, the next tap passes
    answer = await chat.tap_data("m1:help")
    assert answer is None or "Too fast" not in (answer.text or "")
