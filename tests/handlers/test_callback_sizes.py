"""Every callback data any keyboard can produce packs within Telegram's 64 bytes.

Each CallbackData subclass under handlers/ is packed with the largest values its keyboards can
put in it. A new factory without an entry in LARGEST fails the test, so it cannot be forgotten.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import date
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData

import handlers
from bot.i18n import LANGUAGES
from bot.orders import MAX_QUANTITY
from bot.presets import COMPATIBLE, CUSTOM_ID, SANDBOX_ID, grizzly
from bot.provider.models import MAX_CODE
from bot.spending import MAX_BACK
from handlers.activation import ActivationAction
from handlers.activation.callbacks import REPLACE_OFF, OfferAction
from handlers.history.callbacks import HistoryAction
from handlers.imports import ImportAction
from handlers.keys import KeyAction
from handlers.mydata import MyDataAction
from handlers.rent.callbacks import RentalAction, RentFlowAction
from handlers.settings import MARGINS, TZ_OFFSETS
from handlers.watch_callbacks import WatchAction

LIMIT = 64
BIG_ID = 2**63 - 1  # SQLite's largest rowid: 19 digits
TOKEN = "A" * 12  # handlers.buy.new_token(): token_urlsafe(9) is 12 characters
SERVICE = "s" * 10  # provider service codes are 2-5 characters; 10 leaves room
COUNTRY = "9" * 4
HOURS = 720  # 30 days
PAGE = 9999
LAST_DAY = date.max.toordinal()
ACTION = "x" * 8  # longer than every action name in use (checked below for our own)

_preset_ids = [grizzly().id, SANDBOX_ID, CUSTOM_ID, *(p.id for p in COMPATIBLE)]
_setting_values = [
    *LANGUAGES,
    *(str(m) for m in MARGINS),
    *(str(m) for m in TZ_OFFSETS),
    "0",
    "1",
]

LARGEST: dict[str, list[dict[str, Any]]] = {
    "MenuCb": [{"action": "settings"}, {"action": "numbers"}],
    "KeyCb": [{"action": max(KeyAction, key=len), "id": BIG_ID, "p": max(_preset_ids, key=len)}],
    "BalanceCb": [{"action": "refresh"}],
    "ImportCb": [{"action": max(ImportAction, key=len), "i": PAGE}],
    "SettingsCb": [{"action": "setmargin", "v": max(_setting_values, key=len)}],
    "NumbersCb": [{"action": "hist", "kind": "a", "page": PAGE}],
    # Auto-replace defaults: the longest action with the longest value the screen offers.
    "ReplaceSettingsCb": [{"action": "after", "v": "99999.9999"}],
    "ActivationCb": [{"action": max(ActivationAction, key=len), "id": BIG_ID}],
    "BuyCb": [
        {"action": "sp", "s": SERVICE, "c": COUNTRY, "p": PAGE, "tk": TOKEN, "mx": "99999.9999"}
    ],
    # The supplier choice is capped by PurchaseFilter (MAX_CODE characters).
    "OfferCb": [
        {
            "action": max(OfferAction, key=len),
            "s": SERVICE,
            "c": COUNTRY,
            "mx": "99999.9999",
            "f": "x" + "1" * (MAX_CODE - 1),
            "n": MAX_QUANTITY,
            "tk": TOKEN,
            "r": REPLACE_OFF,
        }
    ],
    # Enum actions: the longest member is the largest value a keyboard can put in.
    "RentalCb": [{"action": max(RentalAction, key=len), "id": BIG_ID, "page": PAGE, "arg": HOURS}],
    "RentFlowCb": [
        {
            "action": max(RentFlowAction, key=len),
            "service": SERVICE,
            "country": COUNTRY,
            "hours": HOURS,
            "page": PAGE,
        }
    ],
    "RentBuyCb": [{"service": SERVICE, "country": COUNTRY, "hours": HOURS, "token": TOKEN}],
    "RentExtendCb": [{"id": BIG_ID, "hours": HOURS, "token": TOKEN}],
    "SpendingCb": [
        {"action": "g", "p": "c", "o": MAX_BACK, "k": BIG_ID, "a": LAST_DAY, "b": LAST_DAY}
    ],
    # The history's filter travels along: its codes are capped by the factory's own patterns.
    "HistoryCb": [
        {
            "action": max(HistoryAction, key=len),
            "page": PAGE,
            "service": SERVICE,
            "country": "9" * 6,
            "outcome": "e",
            "period": "m",
            "kind": "r",
            "item": BIG_ID,
        }
    ],
    "MyDataCb": [{"action": max(MyDataAction, key=len)}],
    "WatchCb": [
        {
            "action": max(WatchAction, key=len),
            "s": SERVICE,
            "c": COUNTRY,
            "mx": "99999.9999",
            "ab": True,
            "id": BIG_ID,
        }
    ],
}


def _all_factories() -> list[type[CallbackData]]:
    for module in pkgutil.walk_packages(handlers.__path__, prefix="handlers."):
        importlib.import_module(module.name)
    found: list[type[CallbackData]] = []
    stack = list(CallbackData.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("handlers"):
            found.append(cls)
    return found


FACTORIES = _all_factories()


def test_every_factory_is_covered() -> None:
    names = {cls.__name__ for cls in FACTORIES}
    assert names, "no CallbackData factories found under handlers/"
    assert names <= set(LARGEST), f"add the largest values of {sorted(names - set(LARGEST))}"


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda cls: cls.__name__)
def test_largest_values_fit(factory: type[CallbackData]) -> None:
    for values in LARGEST[factory.__name__]:
        packed = factory(**values).pack()
        assert len(packed.encode()) <= LIMIT, (factory.__name__, packed)


def test_prefixes_are_unique() -> None:
    prefixes = [cls.__prefix__ for cls in FACTORIES]
    assert len(prefixes) == len(set(prefixes))


def test_our_actions_and_ids_are_within_the_assumed_sizes() -> None:

    assert all(len(pid) <= 8 for pid in _preset_ids)
    assert all(len(a) <= len(ACTION) for a in ActivationAction)
    # Every KeyCb action the key screens use.
    assert all(len(action) <= len(ACTION) for action in KeyAction)
