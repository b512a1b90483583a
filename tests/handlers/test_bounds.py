"""Hostile callback data: every int field of every factory is range-checked when decoded.

A tampered button (a huge id SQLite cannot hold, a negative page, letters where a number
belongs) never reaches a handler: the tap is answered "this button is out of date" and nothing
is logged as an error.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData

from tests.handlers.test_callback_sizes import FACTORIES, LARGEST
from tests.harness import ChatDriver

HOSTILE_INTS = ("99999999999999999999", str(2**63), "-1", "abc", "1e3", "0x10", "1.5")


def _int_fields(cls: type[CallbackData]) -> list[str]:
    return [name for name, field in cls.model_fields.items() if field.annotation is int]


def _packed_with(cls: type[CallbackData], name: str, raw: str) -> str:
    """The largest valid payload of `cls`, packed, with field `name` replaced by `raw`."""
    valid = cls(**LARGEST[cls.__name__][0])
    parts = valid.pack().split(cls.__separator__)
    parts[1 + list(cls.model_fields).index(name)] = raw
    return cls.__separator__.join(parts)


INT_FIELDS = [(cls, name) for cls in FACTORIES for name in _int_fields(cls)]


def test_the_factories_with_int_fields_are_all_found() -> None:
    names = {cls.__name__ for cls, _ in INT_FIELDS}
    assert {"ActivationCb", "KeyCb", "RentalCb", "RentExtendCb", "BuyCb", "NumbersCb"} <= names


@pytest.mark.parametrize(
    ("cls", "name"), INT_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in INT_FIELDS]
)
def test_every_int_field_refuses_hostile_values(cls: type[CallbackData], name: str) -> None:
    # The largest value a keyboard makes still decodes (test_callback_sizes packs it).
    assert cls.unpack(cls(**LARGEST[cls.__name__][0]).pack()) is not None
    for raw in HOSTILE_INTS:
        with pytest.raises((ValueError, TypeError)):
            cls.unpack(_packed_with(cls, name, raw))
    field = cls.model_fields[name]
    if field.is_required():
        with pytest.raises((ValueError, TypeError)):
            cls.unpack(_packed_with(cls, name, ""))
    else:  # aiogram's rule: an empty optional field decodes to its default
        assert getattr(cls.unpack(_packed_with(cls, name, "")), name) == field.default


TAMPERED = [
    "a1:open:99999999999999999999",
    "a1:cancel:-5",
    "k1:open:99999999999999999999:",
    "k1:del:-1:",
    "r1:open:99999999999999999999:0:0",
    "r1:sms:1:-1:0",
    "r1e:99999999999999999999:4:AAAAAAAAAAAA",
    "n1:hist:a:99999999999999999999",
    "b1:cp:tg:0:-1::",
    "r1f:cty:tg::0:99999999999999999999",
    "a1:open:abc",
]


@pytest.mark.parametrize("data", TAMPERED)
async def test_a_tampered_button_is_out_of_date_and_logs_no_error(
    keyed_chat: ChatDriver, data: str, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    answer = await keyed_chat.tap_data(data)
    assert answer is not None and "out of date" in (answer.text or "")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_the_out_of_date_answer_is_localised(services: Any, bot: Any, dp: Any) -> None:
    ru = ChatDriver(dp, bot, user_id=7007, language="ru")
    await ru.send("/start")
    answer = await ru.tap_data("a1:open:99999999999999999999")
    assert answer is not None and "устарела" in (answer.text or "")
