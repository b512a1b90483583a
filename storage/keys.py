"""KeyRepo: a user's provider API keys, encrypted at rest, at most one active."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from storage.base import Store, id_list, money_in, money_out, tx_fetchone
from storage.crypto import KeyCipher
from storage.models import KeyProfile, User
from storage.users import USER_COLUMNS, ensure_user, read_row, read_rows, user_from_row

_COLUMNS = (
    "id, user_id, label, base_url, api_key_enc, active, balance, currency, created_at, deleted_at"
)
# The user and their active key in one row (the user's columns first; the key's are NULL when
# there is none): the one read every update makes.
_OWNER_AND_ACTIVE = (
    "SELECT "
    + ", ".join(f"u.{name}" for name in USER_COLUMNS)
    + ", "
    + ", ".join(f"k.{name.strip()}" for name in _COLUMNS.split(","))
    + " FROM users u LEFT JOIN api_keys k"
    " ON k.user_id = u.id AND k.active = 1 AND k.deleted_at IS NULL"
    " WHERE u.id = ? ORDER BY k.id DESC LIMIT 1"
)


# Spelled out of the class: inside it, `list` names the method below.
KeyProfiles = list[KeyProfile]


class KeyRepo:
    def __init__(self, store: Store, cipher: KeyCipher) -> None:
        self._s = store
        self._cipher = cipher

    def _key(self, row: Any) -> KeyProfile:
        return KeyProfile(
            id=row[0],
            user_id=row[1],
            label=row[2],
            base_url=row[3],
            # A deleted key's ciphertext is erased once nothing live needs it: no secret left.
            api_key=self._cipher.decrypt(row[4]) if row[4] else "",
            active=bool(row[5]),
            balance=money_out(row[6]),
            currency=row[7],
            created_at=row[8],
            deleted_at=row[9],
        )

    async def add(
        self,
        user_id: int,
        *,
        label: str,
        base_url: str,
        api_key: str,
        balance: Decimal | None = None,
        currency: str | None = None,
    ) -> KeyProfile:
        """Store a key; it becomes the user's active key."""
        now = self._s.clock()
        encrypted = self._cipher.encrypt(api_key)
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, now)
            await conn.execute("UPDATE api_keys SET active = 0 WHERE user_id = ?", (user_id,))
            async with conn.execute(
                "INSERT INTO api_keys(user_id, label, base_url, api_key_enc, active, balance,"
                " currency, created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                (user_id, label, base_url, encrypted, money_in(balance), currency, now),
            ) as cur:
                key_id = int(cur.lastrowid or 0)
        return KeyProfile(
            id=key_id,
            user_id=user_id,
            label=label,
            base_url=base_url,
            api_key=api_key,
            active=True,
            balance=None if balance is None else Decimal(balance),
            currency=currency,
            created_at=now,
        )

    async def list(self, user_id: int) -> KeyProfiles:
        rows = await read_rows(
            self._s,
            f"SELECT {_COLUMNS} FROM api_keys WHERE user_id = ? AND deleted_at IS NULL ORDER BY id",
            (user_id,),
        )
        return [self._key(row) for row in rows]

    async def get(self, user_id: int, key_id: int) -> KeyProfile | None:
        row = await read_row(
            self._s,
            f"SELECT {_COLUMNS} FROM api_keys WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
            (key_id, user_id),
        )
        return None if row is None else self._key(row)

    async def owner_and_active(self, user_id: int) -> tuple[User | None, KeyProfile | None]:
        """The user and their active key in ONE read (`get_active`'s key): (None, None) for a
        user not stored yet."""
        row = await read_row(self._s, _OWNER_AND_ACTIVE, (user_id,))
        if row is None:
            return None, None
        key = row[len(USER_COLUMNS) :]
        return user_from_row(row), None if key[0] is None else self._key(key)

    async def get_active(self, user_id: int) -> KeyProfile | None:
        row = await read_row(
            self._s,
            f"SELECT {_COLUMNS} FROM api_keys"
            " WHERE user_id = ? AND active = 1 AND deleted_at IS NULL ORDER BY id DESC LIMIT 1",
            (user_id,),
        )
        return None if row is None else self._key(row)

    async def set_active(self, user_id: int, key_id: int) -> bool:
        async with self._s.transaction() as conn:
            owned = await tx_fetchone(
                conn,
                "SELECT 1 FROM api_keys WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
                (key_id, user_id),
            )
            if owned is None:
                return False
            await conn.execute(
                "UPDATE api_keys SET active = CASE WHEN id = ? THEN 1 ELSE 0 END WHERE user_id = ?",
                (key_id, user_id),
            )
        return True

    async def rename(self, user_id: int, key_id: int, label: str) -> bool:
        changed = await self._s.write(
            "UPDATE api_keys SET label = ? WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
            (label, key_id, user_id),
        )
        return changed == 1

    async def delete(self, user_id: int, key_id: int) -> bool:
        """The row stays, hidden, for the history's labels; the ciphertext is erased at once,
        or when the last live number bought with the key ends (the tracker still polls and
        cancels with it until then): a trigger of schema version 3 holds that rule.
        Deleting the active key makes the newest remaining key active."""
        async with self._s.transaction() as conn:
            row = await tx_fetchone(
                conn,
                "SELECT active FROM api_keys WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
                (key_id, user_id),
            )
            if row is None:
                return False
            await conn.execute(
                "UPDATE api_keys SET deleted_at = ?, active = 0 WHERE id = ?",
                (self._s.clock(), key_id),
            )
            if row[0]:
                await conn.execute(
                    "UPDATE api_keys SET active = 1 WHERE id = ("
                    " SELECT id FROM api_keys WHERE user_id = ? AND deleted_at IS NULL"
                    " ORDER BY id DESC LIMIT 1)",
                    (user_id,),
                )
        if await self._s.scalar("SELECT length(api_key_enc) FROM api_keys WHERE id = ?", (key_id,)):
            return True  # still needed by a live number: erased when that ends
        # Erased: the old page may still sit in the write-ahead log; fold it in and empty it.
        await self._s.write("PRAGMA wal_checkpoint(TRUNCATE)")  # on the writer
        return True

    async def update_balance(
        self, user_id: int, key_id: int, balance: Decimal, currency: str | None
    ) -> None:
        await self._s.side_write(
            "UPDATE api_keys SET balance = ?, currency = COALESCE(?, currency)"
            " WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
            (money_in(balance), currency, key_id, user_id),
        )

    async def set_currency(self, user_id: int, key_id: int, currency: str) -> None:
        """The currency the key's provider account is in, as a purchase answer named it."""
        await self._s.side_write(
            "UPDATE api_keys SET currency = ? WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
            (currency, key_id, user_id),
        )

    async def get_any(self, key_id: int) -> KeyProfile | None:
        """System: any key by id, deleted ones included (their numbers are still tracked)."""
        row = await read_row(self._s, f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (key_id,))
        return None if row is None else self._key(row)

    async def get_many_any(self, key_ids: Sequence[int]) -> KeyProfiles:
        """System: these keys in one query, deleted ones included (the tracker's directory
        reads the keys it uses again together)."""
        if not key_ids:
            return []
        rows = await read_rows(
            self._s,
            f"SELECT {_COLUMNS} FROM api_keys WHERE id IN (SELECT value FROM json_each(?))",
            (id_list(key_ids),),
        )
        return [self._key(row) for row in rows]

    async def list_all(self) -> KeyProfiles:
        """System: every key not deleted, whatever its owner's blocked flag."""
        rows = await read_rows(
            self._s, f"SELECT {_COLUMNS} FROM api_keys WHERE deleted_at IS NULL ORDER BY id"
        )
        return [self._key(row) for row in rows]

    async def revoked_at(self, key_id: int) -> float | None:
        """System: when the provider started refusing this key (BAD_KEY), or None."""
        value = await self._s.scalar("SELECT revoked_at FROM api_keys WHERE id = ?", (key_id,))
        return None if value is None else float(value)

    async def mark_revoked(self, key_id: int, at: float) -> bool:
        """System: note that the provider refuses the key; True only for the first note (the
        user is told once, whatever restarts happen until the key works again)."""
        changed = await self._s.side_write(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, key_id)
        )
        return changed == 1

    async def clear_revoked(self, key_id: int) -> bool:
        """System: the key works again; True when it had been marked."""
        changed = await self._s.side_write(
            "UPDATE api_keys SET revoked_at = NULL WHERE id = ? AND revoked_at IS NOT NULL",
            (key_id,),
        )
        return changed == 1

    async def first_encrypted(self) -> bytes | None:
        """One stored ciphertext (deleted keys' too, until erased), to check the secret."""
        value = await self._s.scalar(
            "SELECT api_key_enc FROM api_keys WHERE length(api_key_enc) > 0 ORDER BY id LIMIT 1"
        )
        return None if value is None else bytes(value)

    # ---- low-balance notice ----------------------------------------------------------------

    async def low_balance(self, user_id: int, key_id: int) -> Decimal | None:
        """The balance under which the owner wants a notice, or None (no notice)."""
        value = await self._s.scalar(
            "SELECT low_balance FROM api_keys WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
            (key_id, user_id),
        )
        return money_out(value)

    async def set_low_balance(self, user_id: int, key_id: int, threshold: Decimal | None) -> bool:
        """Set (or clear) the threshold; a new one may notify at once (the last notice is
        forgotten). False when the key is not the user's."""
        changed = await self._s.write(
            "UPDATE api_keys SET low_balance = ?, low_balance_noticed_at = NULL"
            " WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
            (money_in(threshold), key_id, user_id),
        )
        return changed == 1

    async def claim_low_balance_notice(self, key_id: int, now: float, quiet_since: float) -> bool:
        """System: take the right to send this key's low-balance notice now, unless one was
        sent after `quiet_since`. One statement decides, so two paths (or two processes) reading
        the same low balance send one notice, and a restart does not send it again."""
        changed = await self._s.write(
            "UPDATE api_keys SET low_balance_noticed_at = ?"
            " WHERE id = ? AND deleted_at IS NULL AND low_balance IS NOT NULL"
            " AND (low_balance_noticed_at IS NULL OR low_balance_noticed_at <= ?)",
            (now, key_id, quiet_since),
        )
        return changed == 1
