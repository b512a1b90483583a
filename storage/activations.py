"""ActivationRepo: one-time numbers, their codes, and the tracker's polling schedule."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from storage.base import GroupCommit, Store, id_list, money_in, opt_bool, sql_in, tx_fetchone
from storage.chains import CardMarks, card_marks_from, card_marks_sql
from storage.dialect import Backend
from storage.models import (
    ACTIVATION_ENDED,
    ACTIVATION_LIVE,
    ACTIVATION_STATUSES,
    Activation,
    ActivationCode,
)
from storage.pending import resolve_in
from storage.users import ensure_user

_COLUMNS = (
    "id, user_id, key_id, provider_id, service, country, phone, cost, currency, status,"
    " sms_sent, round, created_at, ends_at, cancel_allowed_at, cancel_requested,"
    " can_get_another_sms, chat_id, message_id, next_poll_at, ended_at, adopted, pending_change"
)
_HAS_CODES = len(_COLUMNS.split(","))  # index of the extra "has codes" column
# The columns named by table: a read that joins another table with an id or a user_id.
_QUALIFIED = ", ".join("activations." + name.strip() for name in _COLUMNS.split(","))
_CODE_COLUMNS = "activation_id, round, code, text, received_at, delivered"
# Literal IN lists (not bound parameters): the partial indexes of live rows repeat the term.
_LIVE = sql_in(ACTIVATION_LIVE)
_ENDED = sql_in(ACTIVATION_ENDED)
# Codes stored together, numbers ended together (`GroupCommit`): at most this many a statement.
CODES_PER_WRITE = 100
ENDS_PER_WRITE = 100
# One transaction stores many codes: (id, round) pairs for the guarded UPDATE, then the rows it
# changed, each with its code, for the INSERT; one JSON array each, unpacked per backend.
_RECEIVED_EACH = {
    Backend.SQLITE: "UPDATE activations SET status = 'received', cancel_requested = 0"
    " FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS round"
    " FROM json_each(?)) AS v",
    Backend.POSTGRES: "UPDATE activations SET status = 'received', cancel_requested = 0"
    " FROM (SELECT (value->>0)::bigint AS id, (value->>1)::bigint AS round"
    " FROM jsonb_array_elements(?1::jsonb)) AS v",
}
# PostgreSQL's planner guesses the JSON array at 100 rows and would join it to a scan of every
# row (see storage.dialect); the same ids as an array it probes by the primary key.
_BY_ID_EACH = {
    Backend.SQLITE: "",
    Backend.POSTGRES: " AND activations.id = ANY(ARRAY("
    "SELECT (value->>0)::bigint FROM jsonb_array_elements(?1::jsonb)))",
}
_RECEIVED_GUARD = (
    f" AND activations.round = v.round"
    f" AND activations.status IN {_LIVE}"
    f" AND NOT EXISTS (SELECT 1 FROM activation_codes c"
    f" WHERE c.activation_id = activations.id AND c.round = v.round)"
    f" RETURNING activations.id"
)
_CODES_EACH = {
    Backend.SQLITE: "INSERT INTO activation_codes(activation_id, round, code, text, received_at)"
    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
    " json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]')"
    " FROM json_each(?)",
    Backend.POSTGRES: "INSERT INTO activation_codes(activation_id, round, code, text, received_at)"
    " SELECT (value->>0)::bigint, (value->>1)::bigint, value->>2, value->>3,"
    " (value->>4)::float8 FROM jsonb_array_elements(?::jsonb)",
}

# Many numbers ended in one statement: (id, status, ended_at) triples as one JSON array. As in
# `set_status`, an end also drops a scheduled cancel and a change being checked.
_ENDED_EACH = {
    Backend.SQLITE: "UPDATE activations SET status = v.status, ended_at = v.ended_at,"
    " cancel_requested = 0, pending_change = NULL"
    " FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS status,"
    " json_extract(value, '$[2]') AS ended_at FROM json_each(?)) AS v",
    Backend.POSTGRES: "UPDATE activations SET status = v.status, ended_at = v.ended_at,"
    " cancel_requested = 0, pending_change = NULL"
    " FROM (SELECT (value->>0)::bigint AS id, value->>1 AS status,"
    " (value->>2)::float8 AS ended_at FROM jsonb_array_elements(?1::jsonb)) AS v",
}
_ENDED_GUARD = f" AND activations.status IN {_LIVE} RETURNING activations.id"


def _each_by_id(each: dict[Backend, str], guard: str, backend: Backend) -> str:
    """A grouped UPDATE ... FROM a JSON array: joined by id, the backend's id filter, guard."""
    return f"{each[backend]} WHERE activations.id = v.id{_BY_ID_EACH[backend]}{guard}"


@dataclass(frozen=True, slots=True)
class _CodeToStore:
    round: int
    code: str
    text: str | None
    received_at: float


@dataclass(frozen=True, slots=True)
class _End:
    status: str
    ended_at: float


def _activation(row: Any, codes: list[ActivationCode]) -> Activation:
    return Activation(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        None if row[7] is None else Decimal(row[7]),
        row[8],
        row[9],
        bool(row[10]),
        row[11],
        codes,
        row[12],
        row[13],
        row[14],
        bool(row[15]),
        opt_bool(row[16]),
        row[17],
        row[18],
        row[19],
        row[20],
        bool(row[21]),
        row[22],
    )


def _code(row: Any) -> ActivationCode:
    return ActivationCode(row[1], row[2], row[3], row[4], bool(row[5]))


class ActivationRepo:
    def __init__(self, store: Store) -> None:
        self._s = store
        self._codes = GroupCommit(self._store_codes, CODES_PER_WRITE)
        self._ends = GroupCommit(self._end_each, ENDS_PER_WRITE)

    # ---- loading -------------------------------------------------------------------------

    async def _select(self, where: str, params: tuple[Any, ...] = ()) -> list[Activation]:
        return [activation for activation, _row in await self._load(where, params)]

    async def _load(
        self, where: str, params: tuple[Any, ...], *, more: str = "", joins: str = ""
    ) -> list[tuple[Activation, Any]]:
        """Rows plus their codes in two queries whatever the batch size: the first flags rows
        that have codes (an index probe inside SQLite), the second fetches codes for the
        flagged rows only, so a tick full of numbers still waiting for a code costs one query.
        `more`: columns read with each row (after the flag) over `joins`; each number comes
        with its row."""
        rows = await self._s.fetchall(
            f"SELECT {_QUALIFIED}, EXISTS (SELECT 1 FROM activation_codes c"
            f" WHERE c.activation_id = activations.id){more} FROM activations{joins} {where}",
            params,
        )
        with_codes = [row[0] for row in rows if row[_HAS_CODES]]
        by_activation: dict[int, list[ActivationCode]] = defaultdict(list)
        if with_codes:
            code_rows = await self._s.fetchall(
                f"SELECT {_CODE_COLUMNS} FROM activation_codes"
                " WHERE activation_id IN (SELECT value FROM json_each(?))"
                " ORDER BY activation_id, round",
                (id_list(with_codes),),
            )
            for code_row in code_rows:
                by_activation[code_row[0]].append(_code(code_row))
        return [
            (_activation(row, by_activation[row[0]] if row[_HAS_CODES] else []), row)
            for row in rows
        ]

    async def _one(self, where: str, params: tuple[Any, ...]) -> Activation | None:
        found = await self._select(where, params)
        return found[0] if found else None

    # ---- user-facing (scoped by owner) ---------------------------------------------------

    async def add(
        self,
        *,
        user_id: int,
        key_id: int,
        provider_id: str,
        service: str,
        country: str,
        phone: str,
        cost: Decimal | None,
        currency: str | None,
        created_at: float,
        ends_at: float,
        cancel_allowed_at: float,
        can_get_another_sms: bool | None = None,
        chat_id: int | None = None,
        adopted: bool = False,
        next_poll_at: float | None = None,
        intent_id: int | None = None,
    ) -> Activation:
        """Store a bought number; the same (key_id, provider_id) again returns the stored row.
        `intent_id`: the purchase intent it resolves, in the same transaction."""
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, created_at)
            inserted = await tx_fetchone(
                conn,
                "INSERT OR IGNORE INTO activations(user_id, key_id, provider_id, service, country,"
                " phone, cost, currency, status, created_at, ends_at, cancel_allowed_at,"
                " can_get_another_sms, chat_id, next_poll_at, adopted)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?, ?, ?)"
                f" RETURNING {_COLUMNS}",
                (
                    user_id,
                    key_id,
                    str(provider_id),
                    service,
                    country,
                    phone,
                    money_in(cost),
                    currency,
                    created_at,
                    ends_at,
                    cancel_allowed_at,
                    None if can_get_another_sms is None else int(can_get_another_sms),
                    chat_id,
                    created_at if next_poll_at is None else next_poll_at,
                    int(adopted),
                ),
            )
            if intent_id is not None:
                await resolve_in(conn, intent_id, "bought", str(provider_id), created_at)
        if inserted is not None:
            return _activation(inserted, [])  # just stored: no code yet, nothing to read back
        stored = await self.get_by_provider_id(key_id, str(provider_id))  # stored before
        assert stored is not None
        return stored

    async def get(self, user_id: int, activation_id: int) -> Activation | None:
        return await self._one("WHERE id = ? AND user_id = ?", (activation_id, user_id))

    async def get_with_marks(
        self, user_id: int, activation_id: int
    ) -> tuple[Activation, CardMarks] | None:
        """The user's own number and what its card shows beside it (the ⭐, the chain step),
        in one read (its codes in a second when it has some): a card about to be drawn."""
        columns, joins = card_marks_sql("activations")
        found = await self._load(
            "WHERE activations.id = ? AND activations.user_id = ?",
            (activation_id, user_id),
            more=f", {columns}",
            joins=joins,
        )
        if not found:
            return None
        activation, row = found[0]
        return activation, card_marks_from(row[_HAS_CODES + 1 :])

    async def list_live(self, user_id: int) -> list[Activation]:
        return await self._select(
            f"WHERE user_id = ? AND status IN {_LIVE} ORDER BY created_at DESC, id DESC",
            (user_id,),
        )

    async def list_ended(
        self, user_id: int, offset: int = 0, limit: int = 10
    ) -> tuple[list[Activation], int]:
        """One page of the user's past numbers, newest first, and the total count."""
        total = await self._s.scalar(
            f"SELECT COUNT(*) FROM activations WHERE user_id = ? AND status IN {_ENDED}",
            (user_id,),
        )
        page = await self._select(
            f"WHERE user_id = ? AND status IN {_ENDED} ORDER BY created_at DESC, id DESC"
            " LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return page, int(total or 0)

    async def request_cancel(
        self, user_id: int, activation_id: int, requested: bool = True
    ) -> bool:
        """Schedule (or drop) a cancel. A number with a code is never cancellable: scheduling
        one is refused in the same statement that would set it (False)."""
        no_code = (
            " AND NOT EXISTS (SELECT 1 FROM activation_codes c"
            " WHERE c.activation_id = activations.id)"
            if requested
            else ""
        )
        changed = await self._s.write(
            f"UPDATE activations SET cancel_requested = ?"
            f" WHERE id = ? AND user_id = ? AND status IN {_LIVE}{no_code}",
            (int(requested), activation_id, user_id),
        )
        return changed == 1

    # ---- system (tracker, reconciliation, use cases after an ownership check) -------------

    async def get_by_provider_id(self, key_id: int, provider_id: str) -> Activation | None:
        return await self._one("WHERE key_id = ? AND provider_id = ?", (key_id, str(provider_id)))

    async def get_any(self, activation_id: int) -> Activation | None:
        return await self._one("WHERE id = ?", (activation_id,))

    async def set_card(self, activation_id: int, chat_id: int, message_id: int) -> None:
        await self._s.side_write(
            "UPDATE activations SET chat_id = ?, message_id = ? WHERE id = ?",
            (chat_id, message_id, activation_id),
        )

    async def set_status(
        self, activation_id: int, status: str, *, ended_at: float | None = None
    ) -> bool:
        """Move a live activation to `status`; False if it had already ended (no resurrection).
        Ending without `ended_at` stamps the clock's now; an end also drops a scheduled cancel
        and a change being checked (nothing is pending on an ended number)."""
        if status not in ACTIVATION_STATUSES:
            raise ValueError(f"unknown activation status {status!r}")
        if status in ACTIVATION_ENDED:
            # Ends that come together share one statement (a restart ends hundreds at once).
            at = self._s.clock() if ended_at is None else ended_at
            return await self._ends(activation_id, _End(status, at))
        changed = await self._s.write(
            f"UPDATE activations SET status = ?, ended_at = NULL"
            f" WHERE id = ? AND status IN {_LIVE}",
            (status, activation_id),
        )
        return changed == 1

    async def _end_each(self, ends: list[tuple[int, _End]]) -> set[int]:
        triples = [[number, end.status, end.ended_at] for number, end in ends]
        async with (
            self._s.transaction() as conn,
            conn.execute(
                _each_by_id(_ENDED_EACH, _ENDED_GUARD, self._s.backend), (json.dumps(triples),)
            ) as cur,
        ):
            return {int(row[0]) for row in await cur.fetchall()}

    async def set_pending_change(self, activation_id: int, change: str | None) -> None:
        """Mark a status change whose outcome is unknown (None: settled). The tracker polls a
        number at once when it reads a change newly marked (`bot.tracker.timing.checking`)."""
        if change is None:
            await self._s.write(
                "UPDATE activations SET pending_change = NULL WHERE id = ?", (activation_id,)
            )
            return
        await self._s.write(
            f"UPDATE activations SET pending_change = ? WHERE id = ? AND status IN {_LIVE}",
            (change, activation_id),
        )

    async def set_sms_sent(self, activation_id: int) -> None:
        await self._s.side_write(
            "UPDATE activations SET sms_sent = 1 WHERE id = ?", (activation_id,)
        )

    async def start_retry(self, activation_id: int, *, expected_round: int | None = None) -> int:
        """round += 1 and status = retry in ONE statement (no lost update); returns the round.
        An ended activation is left alone and its current round is returned; so is one whose
        round is no longer `expected_round` (another path started the round already)."""
        only_if = "" if expected_round is None else " AND round = ?"
        params: tuple[Any, ...] = (activation_id,)
        if expected_round is not None:
            params += (expected_round,)
        async with (
            self._s.lock,
            self._s.conn.execute(
                f"UPDATE activations SET round = round + 1, status = 'retry'"
                f" WHERE id = ? AND status IN {_LIVE}{only_if} RETURNING round",
                params,
            ) as cur,
        ):
            row = await cur.fetchone()
        if row is not None:
            return int(row[0])
        current = await self._s.scalar(
            "SELECT round FROM activations WHERE id = ?", (activation_id,)
        )
        if current is None:
            raise LookupError(f"activation {activation_id} does not exist")
        return int(current)

    async def add_code(
        self, activation_id: int, round: int, code: str, text: str | None, received_at: float
    ) -> bool:
        """Store the code of one round; False when this round already has a code."""
        changed = await self._s.write(
            "INSERT OR IGNORE INTO activation_codes(activation_id, round, code, text, received_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (activation_id, round, code, text, received_at),
        )
        return changed == 1

    async def store_code(
        self, activation_id: int, round: int, code: str, text: str | None, received_at: float
    ) -> bool:
        """A code for a live number: the round's code, status "received", and no cancel
        scheduled any more (a number with a code is never cancelled), in ONE transaction, which
        codes stored at the same time share (`GroupCommit`), ahead of the ordinary writes
        waiting (`WriteLock`). False when the round has a code already or the number ended:
        nothing is changed then."""
        return await self._codes(activation_id, _CodeToStore(round, code, text, received_at))

    async def _store_codes(self, codes: list[tuple[int, _CodeToStore]]) -> set[int]:
        async with self._s.transaction(urgent=True) as conn:
            async with conn.execute(
                _each_by_id(_RECEIVED_EACH, _RECEIVED_GUARD, self._s.backend),
                (json.dumps([[number, code.round] for number, code in codes]),),
            ) as cur:
                changed = {int(row[0]) for row in await cur.fetchall()}
            rows = [
                [number, code.round, code.code, code.text, code.received_at]
                for number, code in codes
                if number in changed
            ]
            if rows:
                await conn.execute(_CODES_EACH[self._s.backend], (json.dumps(rows),))
        return changed

    async def mark_code_delivered(self, activation_id: int, round: int) -> None:
        await self._s.side_write(
            "UPDATE activation_codes SET delivered = 1 WHERE activation_id = ? AND round = ?",
            (activation_id, round),
        )

    async def undelivered_codes(self, activation_id: int) -> list[ActivationCode]:
        rows = await self._s.fetchall(
            f"SELECT {_CODE_COLUMNS} FROM activation_codes"
            " WHERE activation_id = ? AND delivered = 0 ORDER BY round",
            (activation_id,),
        )
        return [_code(row) for row in rows]

    async def live(self) -> list[Activation]:
        """System: every live activation (the tracker loads its schedule once, at start)."""
        return await self._select(f"WHERE status IN {_LIVE} ORDER BY id")

    async def live_after(self, activation_id: int) -> list[Activation]:
        """System: live activations stored after this id (new purchases, adoptions): an index
        probe on the primary key, nothing when nothing is new."""
        return await self._select(
            f"WHERE id > ? AND status IN {_LIVE} ORDER BY id", (activation_id,)
        )

    async def get_many(self, activation_ids: list[int]) -> list[Activation]:
        """System: these activations (live or not) in one query; ids not stored are left out."""
        if not activation_ids:
            return []
        return await self._select(
            "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id", (id_list(activation_ids),)
        )

    async def live_for_key(self, key_id: int) -> list[Activation]:
        return await self._select(f"WHERE key_id = ? AND status IN {_LIVE} ORDER BY id", (key_id,))

    async def count_live(self) -> int:
        total = await self._s.scalar(f"SELECT COUNT(*) FROM activations WHERE status IN {_LIVE}")
        return int(total or 0)
