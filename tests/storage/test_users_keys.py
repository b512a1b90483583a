"""UserRepo and KeyRepo behaviour."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from storage import Database
from tests.harness import SqlTrace
from tests.storage.helpers import add_activation, add_key


async def test_user_get_or_create_and_update(db: Database, clock: Any) -> None:
    assert await db.users.get(5) is None
    user = await db.users.get_or_create(5, language="ru")
    assert (user.id, user.language, user.auto_cancel, user.blocked) == (5, "ru", True, False)
    assert user.created_at == clock()
    # A second call does not overwrite the stored language.
    assert (await db.users.get_or_create(5, language="en")).language == "ru"

    updated = await db.users.update(
        5, auto_cancel=False, auto_cancel_margin=90, timezone="Europe/Moscow"
    )
    assert (
        updated.language,
        updated.auto_cancel,
        updated.auto_cancel_margin,
        updated.timezone,
    ) == (
        "ru",
        False,
        90,
        "Europe/Moscow",
    )
    cleared = await db.users.update(5, language=None)
    assert cleared.language is None and cleared.auto_cancel_margin == 90

    await db.users.set_blocked(5, True)
    assert (await db.users.get(5)).blocked is True  # type: ignore[union-attr]
    await db.users.set_blocked(5, False)
    assert (await db.users.get(5)).blocked is False  # type: ignore[union-attr]


async def test_new_key_becomes_active(db: Database) -> None:
    first = await add_key(db, 1, "first", "key-one-1111")
    assert first.active
    second = await db.keys.add(
        1,
        label="second",
        base_url="https://b.test",
        api_key="key-two-2222",
        balance=Decimal("10.50"),
        currency="RUB",
    )
    keys = await db.keys.list(1)
    assert [(k.label, k.active) for k in keys] == [("first", False), ("second", True)]
    active = await db.keys.get_active(1)
    assert active is not None and active.id == second.id
    assert (active.api_key, active.balance, active.currency) == (
        "key-two-2222",
        Decimal("10.50"),
        "RUB",
    )


async def test_set_active_rename_update_balance(db: Database) -> None:
    first = await add_key(db, 1, "first")
    await add_key(db, 1, "second")
    assert await db.keys.set_active(1, first.id) is True
    assert (await db.keys.get_active(1)).id == first.id  # type: ignore[union-attr]
    assert sum(k.active for k in await db.keys.list(1)) == 1
    assert await db.keys.set_active(1, 999) is False
    assert await db.keys.rename(1, first.id, "renamed") is True
    assert (await db.keys.get(1, first.id)).label == "renamed"  # type: ignore[union-attr]
    await db.keys.update_balance(1, first.id, Decimal("0.1000"), "USD")
    stored = await db.keys.get(1, first.id)
    assert (
        stored is not None
        and stored.balance == Decimal("0.1000")
        and str(stored.balance) == "0.1000"
    )


async def test_delete_active_promotes_another_and_keeps_row(db: Database) -> None:
    first = await add_key(db, 1, "first")
    second = await add_key(db, 1, "second")
    live = await add_activation(db, 1, second.id)
    assert await db.keys.delete(1, second.id) is True
    assert await db.keys.get(1, second.id) is None
    assert [k.id for k in await db.keys.list(1)] == [first.id]
    assert (await db.keys.get_active(1)).id == first.id  # type: ignore[union-attr]
    # Soft delete: the tracker still sees the key and its live number.
    hidden = await db.keys.get_any(second.id)
    assert hidden is not None and hidden.deleted and hidden.api_key
    assert [a.id for a in await db.activations.live_for_key(second.id)] == [live.id]
    assert [k.id for k in await db.keys.list_all()] == [first.id]
    # Deleted keys can't be renamed, activated or deleted again.
    assert await db.keys.rename(1, second.id, "x") is False
    assert await db.keys.set_active(1, second.id) is False
    assert await db.keys.delete(1, second.id) is False
    assert await db.keys.delete(1, first.id) is True
    assert await db.keys.get_active(1) is None


async def test_delete_inactive_keeps_active(db: Database) -> None:
    first = await add_key(db, 1, "first")
    second = await add_key(db, 1, "second")
    assert await db.keys.delete(1, first.id) is True
    assert (await db.keys.get_active(1)).id == second.id  # type: ignore[union-attr]


async def test_list_all_includes_blocked_owners(db: Database) -> None:
    a = await add_key(db, 1)
    b = await add_key(db, 2)
    await db.users.set_blocked(2, True)
    assert [k.id for k in await db.keys.list_all()] == [a.id, b.id]


async def test_known_user_costs_one_read_and_no_write(db: Database) -> None:
    created = await db.users.get_or_create(7, "ru")
    hops = await SqlTrace.start(db)
    again = await db.users.get_or_create(7, "en")  # a later language never overwrites
    assert again == created and again.language == "ru"
    assert hops.count == 1
    assert all(sql.lstrip().upper().startswith("SELECT") for sql in hops.statements)


async def test_first_contact_still_creates_the_user(db: Database) -> None:
    hops = await SqlTrace.start(db)
    user = await db.users.get_or_create(8, "zh")
    assert user.id == 8 and user.language == "zh"
    assert any("INSERT" in sql for sql in hops.statements)
    assert await db.users.get(8) == user


async def test_page_path_reads_take_one_statement_each(db: Database) -> None:
    key = await add_key(db, 9)
    await db.users.get_or_create(9)
    hops = await SqlTrace.start(db)
    assert (await db.users.get(9)) is not None
    assert (await db.keys.get_active(9)) == key
    assert (await db.keys.get(9, key.id)) == key
    assert (await db.keys.get_any(key.id)) == key
    assert await db.keys.list(9) == [key]
    assert await db.picks.favourites_and_recents(9) == ([], [])
    assert hops.count == 6
    # Owner scoping holds on the one-hop reads too.
    assert await db.keys.get(10, key.id) is None
    assert await db.keys.get_active(10) is None


async def test_the_user_and_the_active_key_come_in_one_read(db: Database) -> None:
    """Every update asks for both: one statement, and the key is `get_active`'s."""
    assert await db.keys.owner_and_active(7) == (None, None)
    user = await db.users.get_or_create(7, language="en")
    assert await db.keys.owner_and_active(7) == (user, None)
    first = await add_key(db, 7, "first")
    second = await add_key(db, 7, "second")
    assert await db.keys.owner_and_active(7) == (user, second)
    await db.keys.set_active(7, first.id)
    sql = await SqlTrace.start(db)
    owner, key = await db.keys.owner_and_active(7)
    assert sql.count == 1
    assert owner == user and key == await db.keys.get_active(7)
    assert key is not None and key.id == first.id and key.api_key == first.api_key
    await db.keys.delete(7, first.id)
    await db.keys.delete(7, second.id)
    assert await db.keys.owner_and_active(7) == (user, None)
