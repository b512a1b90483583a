"""API keys through the dispatcher: add (preset and custom URL), label, list, switch, rename,
delete; the key's message is deleted and never echoed; another user's key is out of reach."""

from __future__ import annotations

from typing import Any

from aiogram.methods import DeleteMessage

from handlers.keys import KeyCb
from tests.handlers.conftest import add_sandbox_key, leaked
from tests.harness import ChatDriver


def _balance_requests(sandbox: Any) -> int:
    return sum(1 for r in sandbox.state.requests if r["action"] == "getBalance")


async def test_add_key_deletes_the_message_and_never_echoes_the_key(
    chat: ChatDriver, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    await chat.send("/start")
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    assert "Sandbox" in chat.last_text and "API key" in chat.last_text
    prompt = chat.last_bot_message()
    assert prompt.buttons(), "the prompt offers a way out while it waits"
    await chat.send(sandbox_key)
    # Once the key is in, the prompt's Cancel button would cancel nothing: it is gone.
    assert prompt.buttons() == []

    key_messages = [
        m for m in chat.session.messages.values() if not m.from_bot and m.text == sandbox_key
    ]
    assert len(key_messages) == 1 and key_messages[0].deleted
    assert chat.session.calls(DeleteMessage)
    assert "Key added" in chat.last_text and "100.00" in chat.last_text
    await chat.tap("Keep this name")
    assert "••••" + sandbox_key[-4:] in chat.last_text
    assert leaked(chat, sandbox_key) == []

    stored = await services.db.keys.list(chat.user.id)
    assert len(stored) == 1 and stored[0].api_key == sandbox_key and stored[0].active
    assert stored[0].balance is not None and str(stored[0].balance).startswith("100")


async def test_label_is_saved_and_html_escaped(
    chat: ChatDriver, sandbox_key: str, services: Any
) -> None:
    await add_sandbox_key(chat, sandbox_key, label="Main <b>key</b>")
    assert "Main &lt;b&gt;key&lt;/b&gt;" in chat.last_text
    assert "<b>key</b>" not in chat.last_text
    stored = await services.db.keys.get_active(chat.user.id)
    assert stored is not None and stored.label == "Main <b>key</b>"


async def test_a_rejected_key_is_not_stored_and_can_be_retried(
    chat: ChatDriver, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    await chat.send("wrongkey-0000000000")
    assert "rejected this API key" in chat.last_text
    assert "wrongkey-0000000000" not in " ".join(chat.session.bot_texts(chat.chat_id))
    assert await services.db.keys.list(chat.user.id) == []
    # Still waiting for a key: the right one now goes through.
    await chat.send(sandbox_key)
    assert "Key added" in chat.last_text
    assert len(await services.db.keys.list(chat.user.id)) == 1


async def test_text_that_is_not_a_key_costs_no_provider_call(
    chat: ChatDriver, sandbox: Any
) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    before = _balance_requests(sandbox)
    await chat.send("my key is secret")
    assert "does not look like an API key" in chat.last_text
    assert _balance_requests(sandbox) == before


async def test_a_command_during_key_input_is_not_taken_as_the_key(
    chat: ChatDriver, sandbox: Any, services: Any
) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    before = _balance_requests(sandbox)
    await chat.send("/help")
    assert "How this bot works" in chat.last_text
    assert _balance_requests(sandbox) == before
    assert await services.db.keys.list(chat.user.id) == []


async def test_custom_url_flow(chat: ChatDriver, sandbox: Any, sandbox_key: str, services: Any):
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Other provider")
    await chat.send("not a url at all")
    assert "does not look like a web address" in chat.last_text
    await chat.send(sandbox.base)  # the handler path is added
    assert "API key" in chat.last_text
    await chat.send(sandbox_key)
    assert "Key added" in chat.last_text
    stored = await services.db.keys.get_active(chat.user.id)
    assert stored is not None and stored.base_url == sandbox.url


async def test_a_tampered_preset_is_refused(chat: ChatDriver) -> None:
    await chat.send("/keys")
    answer = await chat.tap_data(KeyCb(action="pre", p="evil").pack())
    assert answer is not None and "out of date" in (answer.text or "")


async def test_several_keys_switch_rename_delete(
    chat: ChatDriver, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    second = sandbox.state.create_key(balance="7.5")
    await add_sandbox_key(chat, sandbox_key, label="First")
    await add_sandbox_key(chat, second, label="Second")
    await chat.send("/keys")
    listing = chat.last_text
    assert "First" in listing and "Second" in listing
    assert "100.00" in listing and "7.50" in listing
    assert "••••" + sandbox_key[-4:] in listing and "••••" + second[-4:] in listing
    active = await services.db.keys.get_active(chat.user.id)
    assert active is not None and active.label == "Second"

    # Switch back to the first key.
    await chat.tap("First")
    answer = await chat.tap("Make active")
    assert answer is not None and "First" in (answer.text or "")
    active = await services.db.keys.get_active(chat.user.id)
    assert active is not None and active.label == "First"

    # Rename it.
    await chat.tap("Rename")
    await chat.send("Primary")
    assert "Primary" in chat.last_text
    active = await services.db.keys.get_active(chat.user.id)
    assert active is not None and active.label == "Primary"

    # Delete asks first; "No" keeps the key.
    await chat.tap("Delete")
    assert "Delete the key" in chat.last_text
    await chat.tap("No, keep it")
    assert len(await services.db.keys.list(chat.user.id)) == 2
    await chat.tap("Delete")
    await chat.tap("Yes, delete")
    remaining = await services.db.keys.list(chat.user.id)
    assert [k.label for k in remaining] == ["Second"]
    assert remaining[0].active  # the remaining key took over
    assert "Primary" not in chat.last_text
    assert leaked(chat, sandbox_key) == [] and leaked(chat, second) == []


async def test_another_users_key_is_out_of_reach(
    chat: ChatDriver, dp: Any, bot: Any, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    mallory = ChatDriver(dp, bot, user_id=222, language="en")
    victim_key = sandbox.state.create_key(balance="50")
    await add_sandbox_key(chat, victim_key, label="Victim")
    await add_sandbox_key(mallory, sandbox_key, label="Mine")
    victim = await services.db.keys.get_active(chat.user.id)
    assert victim is not None

    for action in ("open", "use", "ren", "del", "delok"):
        answer = await mallory.tap_data(KeyCb(action=action, id=victim.id).pack())
        assert answer is not None and "not available" in (answer.text or ""), action
    # Nothing changed for the victim, nothing of the victim's was shown to mallory.
    after = await services.db.keys.list(chat.user.id)
    assert [(k.id, k.label, k.active) for k in after] == [(victim.id, "Victim", True)]
    mine = await services.db.keys.list(mallory.user.id)
    assert [k.label for k in mine] == ["Mine"] and mine[0].active
    assert not any("Victim" in text for text in mallory.session.bot_texts(mallory.chat_id))
    assert leaked(mallory, victim_key) == []


async def test_internal_custom_urls_are_refused_outside_sandbox_mode(
    chat: ChatDriver, services: Any, sandbox: Any
) -> None:
    services.settings = services.settings.model_copy(update={"sandbox": False})
    chat.dp["settings"] = services.settings
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Other provider")
    for address in (sandbox.base, "http://localhost:8080", "http://10.0.0.5", "http://redis:6379"):
        await chat.send(address)
        assert "inside this server's own network" in chat.last_text, address
    requests_before = len(sandbox.state.requests)
    await chat.send("https://api.grizzlysms.com")
    assert "API key" in chat.last_text  # a public address goes on to the key
    assert len(sandbox.state.requests) == requests_before
