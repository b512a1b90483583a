"""aiogram's FSM storage over the bot's database (aiogram ships memory, Redis and MongoDB
storages; the bot's one dependency to run is its SQLite file). A restart keeps every screen
that awaits input, and what it has gathered so far.

The process is the only writer of these rows, so it keeps what it read or wrote: an update
costs no read once its user's record is known, and a write only when something changed (most
screens clear a state that is already clear)."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from storage import Database
from storage.fsm import FsmKey, FsmRecord

MAX_CACHED = 10_000  # records kept in memory (least recently used go first)


def _row_key(key: StorageKey) -> FsmKey:
    return (
        key.bot_id,
        key.chat_id,
        key.user_id,
        key.thread_id or 0,
        key.business_connection_id or "",
        key.destiny,
    )


def state_name(state: StateType) -> str | None:
    """The name a state is stored under (None: no state)."""
    if state is None:
        return None
    return state.state if isinstance(state, State) else str(state)


class DatabaseStorage(BaseStorage):
    def __init__(self, db: Database, *, max_cached: int = MAX_CACHED) -> None:
        self._fsm = db.fsm
        self._cache: OrderedDict[FsmKey, FsmRecord] = OrderedDict()
        self._max_cached = max_cached

    async def _record(self, row_key: FsmKey) -> FsmRecord:
        record = self._cache.get(row_key)
        if record is None:
            record = await self._fsm.get(row_key)
            self._remember(row_key, record)
        else:
            self._cache.move_to_end(row_key)
        return record

    def _remember(self, row_key: FsmKey, record: FsmRecord) -> None:
        self._cache[row_key] = record
        self._cache.move_to_end(row_key)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)

    async def _store(self, row_key: FsmKey, state: str | None, data: dict[str, Any]) -> None:
        if await self._record(row_key) == (state, data):
            return
        await self._fsm.put(row_key, state, data)
        self._remember(row_key, (state, data))

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        row_key = _row_key(key)
        _, data = await self._record(row_key)
        await self._store(row_key, state_name(state), data)

    async def get_state(self, key: StorageKey) -> str | None:
        state, _ = await self._record(_row_key(key))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        row_key = _row_key(key)
        state, _ = await self._record(row_key)
        await self._store(row_key, state, copy.deepcopy(dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        _, data = await self._record(_row_key(key))
        return copy.deepcopy(data)  # the caller may change it; the record stays as stored

    async def _merged(self, row_key: FsmKey, update: Mapping[str, Any]) -> FsmRecord:
        """The stored state, and the stored data with `update` merged in (copies)."""
        state, current = await self._record(row_key)
        return state, {**copy.deepcopy(current), **copy.deepcopy(dict(update))}

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        row_key = _row_key(key)
        state, merged = await self._merged(row_key, data)
        await self._store(row_key, state, merged)
        return copy.deepcopy(merged)

    async def enter_screen(
        self, key: StorageKey, state: StateType, update: Mapping[str, Any]
    ) -> None:
        """`set_state` and `update_data` in one write (none when nothing changed)."""
        row_key = _row_key(key)
        _, merged = await self._merged(row_key, update)
        await self._store(row_key, state_name(state), merged)

    async def close(self) -> None:
        return None  # the database is closed by its owner (Services.close)


@runtime_checkable
class ScreenStorage(Protocol):
    async def enter_screen(
        self, key: StorageKey, state: StateType, update: Mapping[str, Any]
    ) -> None: ...


async def enter_screen(context: FSMContext, state: StateType, **update: Any) -> None:
    """A screen that awaits input, with what it carries: `set_state` then `update_data`, in
    one write where the storage can (both of the bot's can; aiogram's others take two)."""
    storage = context.storage
    if isinstance(storage, ScreenStorage):
        await storage.enter_screen(context.key, state, update)
        return
    await context.set_state(state)
    await context.update_data(update)
