"""Your data (/mydata): what the bot keeps, and deleting it after a confirmation. Live numbers
are ended first through their use cases (cancelled without a code, finished with one); one that
cannot be ended now holds everything back. Once deleted, no row and no ciphertext of the user
is left in the database FILE (and its -wal), and other users' data is untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.handlers.conftest import add_sandbox_key
from tests.harness import ChatDriver
from tests.seeded_history import seed_history

OTHER = 222
# Every table that holds a user's rows, and how it names the user.
USER_TABLES = {
    "users": "id",
    "api_keys": "user_id",
    "activations": "user_id",
    "rentals": "user_id",
    "pending_purchases": "user_id",
    "offer_tokens": "user_id",
    "favourites": "user_id",
    "recents": "user_id",
    "fsm_states": "user_id",
}


async def _buy(services: Any, user_id: int) -> Any:
    token = await services.orders.offer_token(user_id, service="tg", country="0", max_price=None)
    result = await services.orders.buy(
        user_id, token=token, service="tg", country="0", max_price=None, chat_id=user_id
    )
    assert result.activation is not None
    return result.activation


async def _rent(services: Any, user_id: int) -> Any:
    token = await services.rentals.offer_token(
        user_id, service="tg", country="0", hours=4, price=None
    )
    result = await services.rentals.rent(
        user_id, token=token, service="tg", country="0", hours=4, chat_id=user_id
    )
    return result.rental


async def _rows(db: Any, user_id: int) -> dict[str, int]:
    counts = {}
    for table, column in USER_TABLES.items():
        async with db.connection.execute(
            f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (user_id,)
        ) as cur:
            row = await cur.fetchone()
        counts[table] = int(row[0])
    return counts


async def _ciphertexts(db: Any, user_id: int) -> list[bytes]:
    async with db.connection.execute(
        "SELECT api_key_enc FROM api_keys WHERE user_id = ?", (user_id,)
    ) as cur:
        return [bytes(row[0]) for row in await cur.fetchall()]


def _file_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, as they are on disk."""
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def _other_user(services: Any, clock: Any) -> Any:
    key = await services.db.keys.add(
        OTHER, label="theirs", base_url="http://127.0.0.1:1", api_key="OTHERUSERKEY" * 3
    )
    await services.favourites.add(OTHER, "tg", "0")
    return await seed_history(services.db, OTHER, key.id, clock())


async def test_mydata_shows_what_is_kept(keyed_chat: ChatDriver, services: Any, clock: Any) -> None:
    chat = keyed_chat
    key = await services.db.keys.get_active(chat.user.id)
    await seed_history(services.db, chat.user.id, key.id, clock())
    await services.favourites.add(chat.user.id, "wa", None)
    await chat.send("/mydata")
    text = chat.last_text
    assert "Your data" in text
    assert "API keys: 1" in text and "One-time numbers: 5 (codes: 2)" in text
    assert "Rentals: 2 (SMS: 2)" in text and "Live now: 1" in text and "Favourites: 1" in text
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert labels == ["🗑 Delete my data", "« Main menu"]
    await chat.tap("Delete my data")
    assert "Delete everything?" in chat.last_text and "1 live numbers" in chat.last_text
    await chat.tap("Back")
    assert "Your data" in chat.last_text  # nothing deleted by looking


async def test_delete_ends_live_numbers_then_leaves_nothing_in_the_file(
    keyed_chat: ChatDriver, services: Any, clock: Any, sandbox: Any, sandbox_key: str
) -> None:
    chat = keyed_chat
    db, user_id = services.db, chat.user.id
    theirs = await _other_user(services, clock)
    key = await db.keys.get_active(user_id)
    await seed_history(db, user_id, key.id, clock())
    # The seeded live number exists only in the database: the provider cannot end it.
    await db.activations.set_status(theirs.ids["live"], "expired")
    for row in await services.orders.live(user_id):
        await db.activations.set_status(row.id, "expired")
    await services.favourites.add(user_id, "tg", "0")
    no_code = await _buy(services, user_id)
    with_code = await _buy(services, user_id)
    sandbox.state.deliver_sms(with_code.provider_id, "Your code 55555")
    await services.orders.refresh(user_id, with_code.id)
    clock.advance(130)  # past the early-cancel lock
    rental = await _rent(services, user_id)
    balance_before = sandbox.state.balance(sandbox_key)

    secrets = await _ciphertexts(db, user_id)
    their_secrets = await _ciphertexts(db, OTHER)
    assert secrets and all(secrets) and their_secrets
    their_rows = await _rows(db, OTHER)
    mine = [no_code.phone, with_code.phone, rental.phone, f"7{user_id:03d}0000002", "55555"]
    before = _file_bytes(db.path)
    assert all(item.encode() in before for item in mine)
    assert all(secret in before for secret in secrets)

    await chat.send("/mydata")
    await chat.tap("Delete my data")
    await chat.tap("Yes, delete everything")
    assert "Your data has been deleted" in chat.last_text and "ended: 3" in chat.last_text

    # Ended through the provider: no code -> refunded; a code -> finished; the rental refunded.
    provider = sandbox.state.activations
    assert provider[no_code.provider_id].status == "cancelled"
    assert provider[with_code.provider_id].status == "finished"
    assert sandbox.state.rentals[rental.provider_id].status == "cancelled"
    assert sandbox.state.balance(sandbox_key) > balance_before
    assert not (await db.userdata.counts(user_id)).keys

    # No row of the user in any table; other users' rows as they were.
    assert set((await _rows(db, user_id)).values()) == {0}
    assert await _rows(db, OTHER) == their_rows
    for table in ("activation_codes", "rental_sms", "rental_periods"):
        async with db.connection.execute(f"SELECT COUNT(*) FROM {table}") as cur:
            assert (await cur.fetchone())[0] > 0  # the other user's are still there

    # And in the bytes of the file and its log: no ciphertext, no phone, no code of the user.
    on_disk = _file_bytes(db.path)
    for secret in secrets:
        assert secret not in on_disk
    for item in mine:
        assert item.encode() not in on_disk, item
    for secret in their_secrets:
        assert secret in on_disk
    assert f"7{OTHER:03d}0000002".encode() in on_disk


async def test_a_number_in_the_cancel_lock_holds_everything_back(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    db, user_id = services.db, chat.user.id
    bought = await _buy(services, user_id)  # still inside the provider's early-cancel lock
    before = await _rows(db, user_id)
    await chat.send("/mydata")
    await chat.tap("Delete my data")
    await chat.tap("Yes, delete everything")
    text = chat.last_text
    assert "Nothing was deleted" in text and bought.phone in text and "allows a cancel in" in text
    assert await _rows(db, user_id) == before
    stored = await services.orders.get(user_id, bought.id)
    assert stored is not None and stored.live and stored.cancel_requested  # scheduled
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert labels == ["« Back", "« Main menu"]
    # Once the lock opens, the same tap goes through.
    clock.advance(130)
    await chat.tap("Back")
    await chat.tap("Delete my data")
    await chat.tap("Yes, delete everything")
    assert "Your data has been deleted" in chat.last_text
    assert set((await _rows(db, user_id)).values()) == {0}


async def test_an_open_purchase_holds_everything_back(
    keyed_chat: ChatDriver, services: Any
) -> None:
    chat = keyed_chat
    db, user_id = services.db, chat.user.id
    key = await db.keys.get_active(user_id)
    await db.pending.add(user_id=user_id, key_id=key.id, service="tg", country="0", chat_id=1)
    before = await _rows(db, user_id)
    await chat.send("/mydata")
    await chat.tap("Delete my data")
    await chat.tap("Yes, delete everything")
    assert "purchase is still being checked" in chat.last_text
    assert await _rows(db, user_id) == before


async def test_the_bot_works_again_after_a_delete(
    keyed_chat: ChatDriver, services: Any, sandbox_key: str
) -> None:
    chat = keyed_chat
    await chat.send("/mydata")
    await chat.tap("Delete my data")
    await chat.tap("Yes, delete everything")
    assert not await services.db.keys.list(chat.user.id)
    await chat.send("/start")
    await add_sandbox_key(chat, sandbox_key)
    assert len(await services.db.keys.list(chat.user.id)) == 1


async def test_a_lost_cancel_answer_holds_everything_back(
    keyed_chat: ChatDriver, services: Any, clock: Any, sandbox: Any
) -> None:
    chat = keyed_chat
    db, user_id = services.db, chat.user.id
    bought = await _buy(services, user_id)
    clock.advance(130)
    sandbox.state.inject_fault("http500", action="setStatus", count=5)
    before = await _rows(db, user_id)
    await chat.send("/mydata")
    await chat.tap("Delete my data")
    await chat.tap("Yes, delete everything")
    assert "Nothing was deleted" in chat.last_text and "being checked" in chat.last_text
    assert bought.phone in chat.last_text
    assert await _rows(db, user_id) == before


async def test_a_rental_past_its_refund_window_is_finished(
    keyed_chat: ChatDriver, services: Any, clock: Any, sandbox: Any
) -> None:
    chat = keyed_chat
    rental = await _rent(services, chat.user.id)
    clock.advance(1300)  # the provider no longer refunds it
    await chat.send("/mydata")
    await chat.tap("Delete my data")
    await chat.tap("Yes, delete everything")
    assert "Your data has been deleted" in chat.last_text
    assert sandbox.state.rentals[rental.provider_id].status == "finished"
    assert set((await _rows(services.db, chat.user.id)).values()) == {0}
