"""aiogram's models built on first use (bot/telegram_models.py): the same objects and payloads
as aiogram's eager import, for a fraction of its memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.telegram_models import import_aiogram

ROOT = Path(__file__).resolve().parents[2]

UPDATE = {
    "update_id": 7,
    "message": {
        "message_id": 11,
        "date": 1_800_000_000,
        "chat": {"id": 42, "type": "private", "first_name": "Ann"},
        "from": {"id": 42, "is_bot": False, "first_name": "Ann", "language_code": "ru"},
        "text": "/start code",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        "reply_to_message": {
            "message_id": 10,
            "date": 1_800_000_000,
            "chat": {"id": 42, "type": "private"},
            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 9, "height": 9}],
            "reply_markup": {"inline_keyboard": [[{"text": "Buy", "callback_data": "o1:1"}]]},
        },
    },
}
CALLBACK = {
    "update_id": 8,
    "callback_query": {
        "id": "q",
        "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
        "chat_instance": "c",
        "data": "o1:1",
        "message": {"message_id": 11, "date": 0, "chat": {"id": 42, "type": "private"}},
    },
}
ANSWER = {
    "ok": True,
    "result": {"message_id": 12, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "1234"},
}

# What both processes print: the objects parsed and the payloads sent, as JSON.
SCRIPT = """
import json, sys
if sys.argv[1] == "lazy":
    from bot.telegram_models import import_aiogram
    import_aiogram()
from aiogram.methods import SendMessage
from aiogram.methods.base import Response
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
update, callback, answer = json.loads(sys.argv[2])
sent = SendMessage(
    chat_id=42, text="<b>1234</b>",
    reply_markup=InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Copy", callback_data="c1:5")]]
    ),
)
rss = int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
print(json.dumps({
    "update": Update.model_validate(update).model_dump(mode="json", exclude_none=True),
    "callback": Update.model_validate(callback).model_dump(mode="json", exclude_none=True),
    "answer": Response[Message].model_validate(answer).model_dump(mode="json", exclude_none=True),
    "sent": [sent.chat_id, sent.text, sent.reply_markup.model_dump(mode="json", exclude_none=True)],
    "rss_mb": rss,
}))
"""


def run(mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, json.dumps([UPDATE, CALLBACK, ANSWER])],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_model_is_built_when_first_used() -> None:
    from aiogram.types import Dice

    # The suite runs as the bot does (tests/conftest.py): aiogram imported lazily.
    assert import_aiogram() is False  # already imported: nothing happens twice
    assert Dice.__pydantic_complete__ is False  # nothing in the suite throws dice
    dice = Dice.model_validate({"emoji": "🎲", "value": 6})
    assert Dice.__pydantic_complete__ is True
    assert (dice.emoji, dice.value) == ("🎲", 6)


def test_lazy_models_parse_and_send_what_eager_ones_do_in_far_less_memory() -> None:
    eager, lazy = run("eager"), run("lazy")
    for figure in ("update", "callback", "answer", "sent"):
        assert lazy[figure] == eager[figure], figure
    assert lazy["update"]["message"]["reply_to_message"]["photo"][0]["width"] == 9
    assert lazy["sent"][2]["inline_keyboard"][0][0]["callback_data"] == "c1:5"
    # aiogram's eager import alone is over 100 MB on CPython 3.11; the lazy one far less.
    assert lazy["rss_mb"] < eager["rss_mb"] - 50, (lazy["rss_mb"], eager["rss_mb"])
