"""ChainRepo: auto-replace chains, their cap and their numbers (V10).

A chain buys one offer again while its numbers stay silent. Everything that bounds it is held
here, so two processes, two chains racing on one key, or a restart mid-chain cannot spend past
it: a step is *reserved* in one transaction (an attempt counted, its worst-case price added to
`reserved`, the token it buys under written) before the provider is called, and only a chain
that is `active` and still on the number the step replaces can reserve. What the step then
bought (or proved it did not) settles the reservation. Every write that settles a step names
the step by its token (`step`): it applies only while the chain is still on that step, so a
worker that lost the chain's key mid-step (another settled the step and started the next)
changes nothing when it comes back.

States: active (its current number is tracked) | buying (a step's purchase is in flight) |
checking (that purchase's answer was lost: its intent is reconciled) | ended (`reason` says
why: code, user, cap, attempts, a provider code such as NO_BALANCE, unknown, error).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from storage.base import Store, id_list, money_in, money_out, tx_fetchone, tx_write
from storage.models import Activation
from storage.users import ensure_user

CHAIN_ACTIVE = "active"
CHAIN_BUYING = "buying"
CHAIN_CHECKING = "checking"
CHAIN_ENDED = "ended"
CHAIN_RUNNING = (CHAIN_ACTIVE, CHAIN_BUYING, CHAIN_CHECKING)

# What a user may choose; the defaults for a user who never chose.
DEFAULT_AFTER = 300  # seconds without a code before a number is replaced
DEFAULT_ATTEMPTS = 3  # numbers a chain buys at most, the first included


@dataclass(frozen=True, slots=True)
class ReplaceDefaults:
    """A user's auto-replace settings for new purchases. cap None: attempts x the price."""

    enabled: bool = False
    after: int = DEFAULT_AFTER
    attempts: int = DEFAULT_ATTEMPTS
    cap: Decimal | None = None
    next_country: bool = False  # after NO_NUMBERS, the next cheapest country within the price


@dataclass(frozen=True, slots=True)
class ReplaceChain:
    id: int
    user_id: int
    key_id: int
    service: str
    country: str
    max_price: Decimal | None  # sent as maxPrice on every step: no number costs more
    chat_id: int | None
    after: int  # seconds
    attempts_max: int
    attempts_used: int
    cap: Decimal
    spent: Decimal  # what its numbers were charged
    reserved: Decimal | None  # the worst case of the step in flight
    step_token: str | None
    intent_id: int | None
    activation_id: int | None  # the number it is on
    state: str
    reason: str | None
    created_at: float
    updated_at: float
    next_country: bool = False
    countries_tried: tuple[str, ...] = ()  # left after NO_NUMBERS (the current one is not here)
    # The suppliers (or operator) its numbers may come from, as the first purchase chose them
    # (a PurchaseFilter code; "" any). Dropped when the chain moves to another country.
    choice: str = ""

    @property
    def running(self) -> bool:
        return self.state in CHAIN_RUNNING


@dataclass(frozen=True, slots=True)
class ReplaceStep:
    """One number of a chain, as its card shows it: "attempt 2 of 3"."""

    chain: ReplaceChain
    attempt: int

    @property
    def current(self) -> bool:
        """The chain is still on this number (a later one replaced it otherwise)."""
        return self.chain.activation_id is not None and self.attempt == self.chain.attempts_used


@dataclass(frozen=True, slots=True)
class CardMarks:
    """What a number's card shows beside its own row: whether its pick is one of its owner's
    favourites (the ⭐) and the chain it is a step of ("attempt 2 of 3")."""

    starred: bool
    step: ReplaceStep | None


@dataclass(frozen=True, slots=True)
class ReplaceEvent:
    """What a chain did that its owner hears of: `bought` a new number (its card is sent), or
    ended for a reason worth telling (no `bought`: the chain's `reason` says why)."""

    chain: ReplaceChain
    bought: Activation | None = None


# The rule that says whether a chain must end instead of buying its next number (None: buy).
StopRule = Callable[[ReplaceChain], str | None]

_COLUMNS = (
    "id, user_id, key_id, service, country, max_price, chat_id, after_seconds, attempts_max,"
    " attempts_used, cap, spent, reserved, step_token, intent_id, activation_id, state, reason,"
    " created_at, updated_at, next_country, countries_tried, choice"
)


def _chain(row: Any) -> ReplaceChain:
    return ReplaceChain(
        id=row[0],
        user_id=row[1],
        key_id=row[2],
        service=row[3],
        country=row[4],
        max_price=money_out(row[5]),
        chat_id=row[6],
        after=int(row[7]),
        attempts_max=int(row[8]),
        attempts_used=int(row[9]),
        cap=Decimal(row[10]),
        spent=Decimal(row[11]),
        reserved=money_out(row[12]),
        step_token=row[13],
        intent_id=row[14],
        activation_id=row[15],
        state=row[16],
        reason=row[17],
        created_at=row[18],
        updated_at=row[19],
        next_country=bool(row[20]),
        countries_tried=tuple(str(c) for c in json.loads(row[21] or "[]")),
        choice=row[22],
    )


def card_marks_sql(number: str) -> tuple[str, str]:
    """What a card shows beside its number, as SQL over the number's row (`number`, an alias of
    activations): the columns (its owner's favourite mark, then its chain step) and the joins
    they need; `card_marks_from` reads them back from where they start in a row."""
    chain = ", ".join("c." + name.strip() for name in _COLUMNS.split(","))
    columns = (
        f"EXISTS (SELECT 1 FROM favourites f WHERE f.user_id = {number}.user_id"
        f" AND f.service = {number}.service AND f.country = {number}.country),"
        f" l.attempt, {chain}"
    )
    joins = (
        f" LEFT JOIN replace_links l ON l.activation_id = {number}.id"
        " LEFT JOIN replace_chains c ON c.id = l.chain_id"
    )
    return columns, joins


def card_marks_from(row: Sequence[Any]) -> CardMarks:
    """The marks of `card_marks_sql`'s columns (a row sliced where they start); the chain's
    columns are NULL when the number is in none."""
    step = None if row[2] is None else ReplaceStep(_chain(row[2:]), int(row[1]))
    return CardMarks(bool(row[0]), step)


def _step_is(step: str | None) -> tuple[str, tuple[str, ...]]:
    """A settling write's condition and its parameter: the chain is still on the step whose
    token is `step` (None: whichever step)."""
    return ("", ()) if step is None else (" AND step_token = ?", (step,))


def _on_step(chain: ReplaceChain, step: str | None) -> bool:
    """Is the chain still on the step whose token is `step` (None: whichever step)?"""
    return step is None or chain.step_token == step


class ChainRepo:
    def __init__(self, store: Store) -> None:
        self._s = store

    # ------------------------------------------------------------------ the user's defaults

    async def defaults(self, user_id: int) -> ReplaceDefaults:
        row = await self._s.fetchone(
            "SELECT enabled, after_seconds, attempts, cap, next_country FROM replace_defaults"
            " WHERE user_id = ?",
            (user_id,),
        )
        if row is None:
            return ReplaceDefaults()
        return ReplaceDefaults(
            bool(row[0]), int(row[1]), int(row[2]), money_out(row[3]), bool(row[4])
        )

    async def set_defaults(self, user_id: int, defaults: ReplaceDefaults) -> ReplaceDefaults:
        now = self._s.clock()
        async with self._s.transaction() as conn:
            await ensure_user(conn, user_id, now)
            await tx_write(
                conn,
                "INSERT INTO replace_defaults(user_id, enabled, after_seconds, attempts, cap,"
                " next_country) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET"
                " enabled = excluded.enabled, after_seconds = excluded.after_seconds,"
                " attempts = excluded.attempts, cap = excluded.cap,"
                " next_country = excluded.next_country",
                (
                    user_id,
                    int(defaults.enabled),
                    defaults.after,
                    defaults.attempts,
                    money_in(defaults.cap),
                    int(defaults.next_country),
                ),
            )
        return defaults

    # ------------------------------------------------------------------ chains

    async def start(
        self,
        *,
        user_id: int,
        key_id: int,
        activation_id: int,
        service: str,
        country: str,
        max_price: Decimal | None,
        chat_id: int | None,
        after: int,
        attempts_max: int,
        cap: Decimal,
        spent: Decimal,
        next_country: bool = False,
        choice: str = "",
    ) -> ReplaceChain | None:
        """A chain on a number just bought (its first attempt, `spent` its price); None when
        the number is already in a chain."""
        now = self._s.clock()
        async with self._s.transaction() as conn:
            if await tx_fetchone(
                conn, "SELECT 1 FROM replace_links WHERE activation_id = ?", (activation_id,)
            ):
                return None
            async with conn.execute(
                "INSERT INTO replace_chains(user_id, key_id, service, country, max_price,"
                " chat_id, after_seconds, attempts_max, attempts_used, cap, spent,"
                " activation_id, state, created_at, updated_at, next_country, choice)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    key_id,
                    service,
                    country,
                    money_in(max_price),
                    chat_id,
                    after,
                    attempts_max,
                    str(cap),
                    str(spent),
                    activation_id,
                    CHAIN_ACTIVE,
                    now,
                    now,
                    int(next_country),
                    choice,
                ),
            ) as cur:
                chain_id = int(cur.lastrowid or 0)
            await tx_write(
                conn,
                "INSERT INTO replace_links(activation_id, chain_id, attempt) VALUES (?, ?, 1)",
                (activation_id, chain_id),
            )
        return await self.get(chain_id)

    async def get(self, chain_id: int) -> ReplaceChain | None:
        row = await self._s.fetchone(
            f"SELECT {_COLUMNS} FROM replace_chains WHERE id = ?", (chain_id,)
        )
        return None if row is None else _chain(row)

    async def step_of(self, activation_id: int) -> ReplaceStep | None:
        """The chain a number belongs to, and which attempt it was."""
        row = await self._s.fetchone(
            f"SELECT l.attempt, {', '.join('c.' + c.strip() for c in _COLUMNS.split(','))}"
            " FROM replace_links l JOIN replace_chains c ON c.id = l.chain_id"
            " WHERE l.activation_id = ?",
            (activation_id,),
        )
        return None if row is None else ReplaceStep(_chain(row[1:]), int(row[0]))

    async def card_marks(self, activation: Activation) -> CardMarks:
        """The card's favourite mark and chain step in one read (a card is drawn on most taps
        and for every code: one round trip, not two)."""
        columns, joins = card_marks_sql("a")
        row = await self._s.fetchone(
            f"SELECT {columns} FROM activations a{joins} WHERE a.id = ?", (activation.id,)
        )
        return CardMarks(False, None) if row is None else card_marks_from(row)

    async def silent_deadlines(self, activation_ids: list[int]) -> dict[int, float]:
        """System: for each of these numbers that a running chain is on, the moment it counts
        as silent (bought + the chain's wait), read from the number's own row."""
        if not activation_ids:
            return {}
        rows = await self._s.fetchall(
            "SELECT c.activation_id, a.created_at + c.after_seconds"
            " FROM replace_chains c JOIN activations a ON a.id = c.activation_id"
            " WHERE c.activation_id IN (SELECT value FROM json_each(?)) AND c.state = ?",
            (id_list(activation_ids), CHAIN_ACTIVE),
        )
        return {int(row[0]): float(row[1]) for row in rows}

    async def any_running(self) -> bool:
        """System: is any chain not ended (one indexed probe)?"""
        row = await self._s.fetchone(
            "SELECT 1 FROM replace_chains WHERE state IN (?, ?, ?) LIMIT 1", CHAIN_RUNNING
        )
        return row is not None

    async def running(self) -> list[ReplaceChain]:
        """System: every chain not ended (a restart resumes or ends each)."""
        rows = await self._s.fetchall(
            f"SELECT {_COLUMNS} FROM replace_chains WHERE state IN (?, ?, ?) ORDER BY id",
            CHAIN_RUNNING,
        )
        return [_chain(row) for row in rows]

    async def reserve(
        self, chain_id: int, *, on_activation: int, token: str, stop: StopRule
    ) -> tuple[ReplaceChain | None, str | None]:
        """Reserve the next step in one transaction, the rule `stop` applied to the row as it
        is under the write lock: (chain, None) when it may buy under `token` at most its
        max_price (an attempt counted, that price reserved); (None, reason) when the rule ends
        it (ended here); (None, None) when another caller already moved the chain on (it is
        not active on `on_activation` any more): nothing to do."""
        now = self._s.clock()
        async with self._s.transaction() as conn:
            row = await tx_fetchone(
                conn, f"SELECT {_COLUMNS} FROM replace_chains WHERE id = ?", (chain_id,)
            )
            if row is None:
                return None, None
            chain = _chain(row)
            if chain.state != CHAIN_ACTIVE or chain.activation_id != on_activation:
                return None, None
            reason = stop(chain)
            if reason is not None or chain.max_price is None:
                reason = reason or "error"
                await tx_write(
                    conn,
                    "UPDATE replace_chains SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
                    (CHAIN_ENDED, reason, now, chain_id),
                )
                return None, reason
            await tx_write(
                conn,
                "UPDATE replace_chains SET state = ?, attempts_used = attempts_used + 1,"
                " reserved = ?, step_token = ?, updated_at = ? WHERE id = ?",
                (CHAIN_BUYING, str(chain.max_price), token, now, chain_id),
            )
        return await self.get(chain_id), None

    async def bought(
        self, chain_id: int, activation_id: int, cost: Decimal, *, step: str | None = None
    ) -> bool:
        """The step bought this number at `cost`: the reservation becomes spent and the chain
        goes on with it, in one transaction. False when the chain was not waiting for it."""
        now = self._s.clock()
        async with self._s.transaction() as conn:
            row = await tx_fetchone(
                conn, f"SELECT {_COLUMNS} FROM replace_chains WHERE id = ?", (chain_id,)
            )
            if row is None:
                return False
            chain = _chain(row)
            if chain.state not in (CHAIN_BUYING, CHAIN_CHECKING) or not _on_step(chain, step):
                return False
            await tx_write(
                conn,
                "UPDATE replace_chains SET state = ?, spent = ?, reserved = NULL,"
                " step_token = NULL, intent_id = NULL, activation_id = ?, updated_at = ?"
                " WHERE id = ?",
                (CHAIN_ACTIVE, str(chain.spent + cost), activation_id, now, chain_id),
            )
            await tx_write(
                conn,
                "INSERT OR IGNORE INTO replace_links(activation_id, chain_id, attempt)"
                " VALUES (?, ?, ?)",
                (activation_id, chain_id, chain.attempts_used),
            )
        return True

    async def checking(self, chain_id: int, intent_id: int, *, step: str | None = None) -> None:
        """The step's answer was lost: its reservation stands until its intent resolves."""
        on_step, param = _step_is(step)
        await self._s.write(
            "UPDATE replace_chains SET state = ?, intent_id = ?, updated_at = ?"
            f" WHERE id = ? AND state = ?{on_step}",
            (CHAIN_CHECKING, intent_id, self._s.clock(), chain_id, CHAIN_BUYING, *param),
        )

    async def not_bought(self, chain_id: int, *, step: str | None = None) -> bool:
        """The step proved it bought nothing: the reservation is released and the chain is
        active again on the number the step meant to replace (which ended)."""
        on_step, param = _step_is(step)
        changed = await self._s.write(
            "UPDATE replace_chains SET state = ?, reserved = NULL, step_token = NULL,"
            f" intent_id = NULL, updated_at = ? WHERE id = ? AND state IN (?, ?){on_step}",
            (CHAIN_ACTIVE, self._s.clock(), chain_id, CHAIN_BUYING, CHAIN_CHECKING, *param),
        )
        return changed == 1

    async def move_country(self, chain_id: int, country: str, *, step: str | None = None) -> bool:
        """NO_NUMBERS where it was: the step in flight bought nothing (its reservation is
        released, its attempt still counts) and the chain goes on in `country`, the one it
        leaves remembered so it never comes back to it (its supplier choice, made for that
        country, is dropped). The chain is active again."""
        now = self._s.clock()
        async with self._s.transaction() as conn:
            row = await tx_fetchone(
                conn, f"SELECT {_COLUMNS} FROM replace_chains WHERE id = ?", (chain_id,)
            )
            if row is None:
                return False
            chain = _chain(row)
            if chain.state != CHAIN_BUYING or not _on_step(chain, step):
                return False
            tried = json.dumps([*chain.countries_tried, chain.country])
            await tx_write(
                conn,
                "UPDATE replace_chains SET state = ?, country = ?, countries_tried = ?,"
                " choice = '', reserved = NULL, step_token = NULL, updated_at = ? WHERE id = ?",
                (CHAIN_ACTIVE, country, tried, now, chain_id),
            )
        return True

    async def end(
        self,
        chain_id: int,
        reason: str,
        *,
        release: bool = False,
        keep_reserved: bool = False,
        step: str | None = None,
    ) -> bool:
        """End a running chain. `release`: the step in flight proved it bought nothing (its
        reservation dropped); `keep_reserved`: nobody can tell (it counts as spent)."""
        now = self._s.clock()
        async with self._s.transaction() as conn:
            row = await tx_fetchone(
                conn, f"SELECT {_COLUMNS} FROM replace_chains WHERE id = ?", (chain_id,)
            )
            if row is None:
                return False
            chain = _chain(row)
            if not chain.running or not _on_step(chain, step):
                return False
            spent = chain.spent
            if keep_reserved and chain.reserved is not None:
                spent += chain.reserved
            reserved = None if (release or keep_reserved) else chain.reserved
            await tx_write(
                conn,
                "UPDATE replace_chains SET state = ?, reason = ?, spent = ?, reserved = ?,"
                " updated_at = ? WHERE id = ?",
                (CHAIN_ENDED, reason, str(spent), money_in(reserved), now, chain_id),
            )
        return True

    async def end_on(self, activation_id: int, reason: str) -> bool:
        """The user ended (or finished) the number a running chain is on: no replacement."""
        changed = await self._s.write(
            "UPDATE replace_chains SET state = ?, reason = ?, updated_at = ?"
            " WHERE activation_id = ? AND state = ?",
            (CHAIN_ENDED, reason, self._s.clock(), activation_id, CHAIN_ACTIVE),
        )
        return changed > 0
