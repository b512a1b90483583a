"""The balance triggers (V14): money moving under a key forgets its known balance, and a key
whose balance is already unknown is not written again (on PostgreSQL every such write was a
new row version of the key, per purchase)."""

from __future__ import annotations

from decimal import Decimal

from storage import Database
from storage.migrations import _trigger, statements_for
from tests.storage.helpers import add_activation, add_key

# Counts every write of an api_keys row, whatever wrote it (a trigger of the test's own).
_COUNTER = (
    "CREATE TABLE key_row_writes (key_id INTEGER NOT NULL)",
    _trigger(
        "count_key_row_writes",
        "AFTER UPDATE ON api_keys",
        None,
        "INSERT INTO key_row_writes(key_id) VALUES (NEW.id);",
    ),
)


async def _writes(db: Database, key_id: int) -> int:
    return int(
        await db._store.scalar("SELECT COUNT(*) FROM key_row_writes WHERE key_id = ?", (key_id,))
    )


async def test_a_purchase_forgets_a_known_balance_and_leaves_an_unknown_one_alone(
    db: Database,
) -> None:
    for statement in statements_for(_COUNTER, db._store.backend):
        await db._store.write(statement)
    key = await add_key(db, 1)
    await db.keys.update_balance(1, key.id, Decimal("100"), "RUB")
    before = await _writes(db, key.id)

    first = await add_activation(db, 1, key.id, "2001")  # money moved: the balance is unknown
    fresh = await db.keys.get_any(key.id)
    assert fresh is not None and fresh.balance is None
    assert await _writes(db, key.id) == before + 1

    await add_activation(db, 1, key.id, "2002")  # unknown already: the key's row is not written
    await db.activations.set_status(first.id, "cancelled")  # a refund: nothing to forget either
    assert await _writes(db, key.id) == before + 1
