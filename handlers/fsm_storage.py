"""aiogram's FSM storage over the bot's database (aiogram ships memory, Redis and MongoDB
storages; the bot's one dependency to run is its SQLite file). A restart keeps every screen
that awaits input, and what it has gathered so far."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from storage import Database
from storage.fsm import FsmKey


def _row_key(key: StorageKey) -> FsmKey:
    return (
        key.bot_id,
        key.chat_id,
        key.user_id,
        key.thread_id or 0,
        key.business_connection_id or "",
        key.destiny,
    )


def _state_name(state: StateType) -> str | None:
    if state is None:
        return None
    return state.state if isinstance(state, State) else str(state)


class DatabaseStorage(BaseStorage):
    def __init__(self, db: Database) -> None:
        self._fsm = db.fsm

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._fsm.set_state(_row_key(key), _state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._fsm.get_state(_row_key(key))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._fsm.set_data(_row_key(key), dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._fsm.get_data(_row_key(key))

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        return await self._fsm.update_data(_row_key(key), dict(data))

    async def close(self) -> None:
        return None  # the database is closed by its owner (Services.close)
