"""Exports in the chat: the history (all of it, or the current filter) as a CSV or JSON
document, parsed back equal to the database rows, times in the user's zone, no key in it."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile

from tests.harness import ChatDriver
from tests.seeded_history import database_rows, seed_history

PLUS_5_30 = timezone(timedelta(hours=5, minutes=30))


async def _seed(chat: ChatDriver, services: Any, clock: Any) -> Any:
    await services.db.users.update(chat.user.id, timezone="UTC+05:30")
    key = await services.db.keys.get_active(chat.user.id)
    assert key is not None
    return await seed_history(services.db, chat.user.id, key.id, clock())


def _document(chat: ChatDriver) -> tuple[str, bytes, str]:
    sent = chat.session.calls(SendDocument)
    assert sent, "no document was sent"
    document = sent[-1].document
    assert isinstance(document, BufferedInputFile)
    assert int(sent[-1].chat_id) == chat.chat_id
    return document.filename or "", document.data, sent[-1].caption or ""


def _local(moment: float | None) -> str:
    return (
        ""
        if moment is None
        else datetime.fromtimestamp(moment, PLUS_5_30).isoformat("T", "seconds")
    )


def _row_of(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record["kind"],
        int(record["id"]),
        record["service"],
        record["country"],
        record["phone"],
        record["status"],
        Decimal(record["cost"]),
        record["created_at"],
        record["ended_at"] or "",
        record["codes"].split() if record["codes"] else [],
    )


def _db_row(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["kind"],
        row["id"],
        row["service"],
        row["country"],
        row["phone"],
        row["status"],
        row["cost"],
        _local(row["created_at"]),
        _local(row["ended_at"]),
        row["codes"],
    )


async def test_csv_document_round_trips(
    keyed_chat: ChatDriver, services: Any, clock: Any, sandbox_key: str
) -> None:
    chat = keyed_chat
    await _seed(chat, services, clock)
    await chat.send("/history")
    answer = await chat.tap("CSV")
    assert answer is not None and "in the chat" in (answer.text or "")
    filename, data, caption = _document(chat)
    assert filename.endswith(".csv") and "7 numbers" in caption and "time zone" in caption
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    expected = [_db_row(r) for r in await database_rows(services.db, chat.user.id)]
    assert [_row_of(r) for r in parsed] == expected
    assert all(r["created_at"].endswith("+05:30") for r in parsed)
    assert sandbox_key.encode() not in data  # the key's label only, never the key


async def test_json_document_of_the_current_filter(
    keyed_chat: ChatDriver, services: Any, clock: Any, sandbox_key: str
) -> None:
    chat = keyed_chat
    await _seed(chat, services, clock)
    await chat.send("/history")
    await chat.tap("Outcome")
    await chat.tap("Code received")
    await chat.tap("JSON")
    filename, data, caption = _document(chat)
    assert filename.endswith(".json") and "3 numbers" in caption
    parsed = json.loads(data)
    rows = await database_rows(services.db, chat.user.id)
    # A code: an activation's code, or a rental's SMS (the seeded finished rental has one).
    with_codes = [
        _db_row(r)
        for r in rows
        if r["codes"] or (r["kind"] == "rental" and r["status"] == "finished")
    ]
    assert [_row_of({**r, "ended_at": r["ended_at"] or ""}) for r in parsed] == with_codes
    assert sandbox_key.encode() not in data


async def test_nothing_to_export_is_said_not_sent(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await chat.send("/history")
    # No export buttons on an empty history; a crafted tap is answered all the same.
    assert not any("CSV" in b.text for b in chat.last_bot_message().buttons())
    answer = await chat.tap_data("h1:xc:0:::n:a:a:0")
    assert answer is not None and answer.show_alert and "Nothing to export" in (answer.text or "")
    assert not chat.session.calls(SendDocument)
