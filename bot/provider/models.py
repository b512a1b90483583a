"""Typed results of provider actions. Money is Decimal; ids and codes are strings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal


@dataclass(frozen=True, slots=True)
class Balance:
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Purchase:
    activation_id: str
    phone: str
    cost: Decimal | None = None
    currency: str | None = None
    country: str | None = None
    can_get_another_sms: bool | None = None
    activation_time: str | None = None
    activation_end: str | None = None
    activation_cancel: str | None = None
    lifetime: float | None = None  # seconds, activationEnd - activationTime
    cancel_lock: float | None = None  # seconds, activationCancel - activationTime


# "unknown": the answer said nothing usable (STATUS_OK with an empty code). It is neither a
# code nor "still waiting": whoever reads it must conclude nothing from it.
StatusState = Literal["wait_code", "wait_retry", "wait_resend", "ok", "cancel", "unknown"]


@dataclass(frozen=True, slots=True)
class ActivationStatus:
    state: StatusState
    code: str | None = None  # wait_retry carries the OLD code


@dataclass(frozen=True, slots=True)
class StatusV2:
    code: str | None
    text: str | None
    state: StatusState


@dataclass(frozen=True, slots=True)
class ActiveActivation:
    activation_id: str
    phone: str
    service: str | None = None
    country: str | None = None
    cost: Decimal | None = None
    status: str | None = None
    code: str | None = None
    text: str | None = None
    activation_time: str | None = None
    can_get_another_sms: bool | None = None


@dataclass(frozen=True, slots=True)
class PriceInfo:
    cost: Decimal
    count: int


# country id -> service code -> PriceInfo. parse_prices returns a dict of lazy per-country
# mappings (parsing.ServicePrices); a plain dict of dicts is a Prices too.
Prices = Mapping[str, Mapping[str, PriceInfo]]


@dataclass(frozen=True, slots=True)
class ProviderTier:
    """One supplier's offer inside a getPricesV3 entry."""

    provider_id: str
    count: int
    prices: tuple[Decimal, ...]


@dataclass(frozen=True, slots=True)
class PriceOffer:
    country: str
    service: str
    price: Decimal
    count: int
    providers: dict[str, ProviderTier] = field(default_factory=dict)


_LANG_KEYS = {"en": "eng", "ru": "rus", "zh": "chn", "cn": "chn"}


@dataclass(frozen=True, slots=True)
class Country:
    id: str
    names: dict[str, str]  # "eng", "rus", "chn", ... -> stripped, non-blank name

    def name(self, lang: str) -> str:
        """Name in the bot language ("en"/"ru"/"zh"), falling back to English, then any."""
        wanted = _LANG_KEYS.get(lang, lang)
        for key in (wanted, "eng"):
            if self.names.get(key):
                return self.names[key]
        for value in self.names.values():
            if value:
                return value
        return self.id


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class RentPurchase:
    rent_id: str
    phone: str
    end_date: str | None = None
    ends_at: float | None = None  # epoch seconds when end_date carries a zone (or is numeric)


@dataclass(frozen=True, slots=True)
class RentListItem:
    """One rental of the key as getRentList shows it (sms-activate, sms.online; not Grizzly)."""

    rent_id: str
    phone: str
    end_date: str | None = None  # as the provider wrote it, when it says
    ends_at: float | None = None  # epoch seconds when end_date carries a zone (or is numeric)
    price: Decimal | None = None  # sms.online
    hours: int | None = None  # sms.online


@dataclass(frozen=True, slots=True)
class RentSms:
    phone_from: str
    text: str
    service: str | None = None
    date: str | None = None


@dataclass(frozen=True, slots=True)
class RentStatus:
    messages: list[RentSms]
    quantity: int


@dataclass(frozen=True, slots=True)
class RentHistoryItem:
    """One paid period of a rental: the first rent or an extension (getRentHistory&id=)."""

    date: str | None  # as the provider wrote it (its local time when it has no zone)
    price: Decimal | None
    hours: int | None


@dataclass(frozen=True, slots=True)
class RentPrice:
    cost: Decimal
    count: int


RentPrices = dict[str, dict[str, RentPrice]]  # country -> service -> price


# Supplier ids and operator names travel in callback data and offer keys: short and plain.
_FILTER_ITEM = re.compile(r"[A-Za-z0-9_-]{1,11}")
MAX_FILTER_ITEMS = 3
# A choice's code fits a button's callback data next to the rest of the offer (with its
# token, quantity and auto-replace switch): three short supplier ids, or one of 11 characters.
MAX_CODE = 12


@dataclass(frozen=True, slots=True)
class PurchaseFilter:
    """Which numbers a purchase may take: only these suppliers (Grizzly `providerIds`), all
    but these (`exceptProviderIds`), or one operator (sms-activate/hero `operator`). At most
    one of the three is set; the empty filter takes any number.

    `code()` is its one compact text (callback data, the offer a token binds, a favourite's
    column): "" any, "p12.15" only, "x12" except, "omts" operator."""

    only: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    operator: str = ""

    def code(self) -> str:
        if self.only:
            return "p" + ".".join(self.only)
        if self.excluded:
            return "x" + ".".join(self.excluded)
        return "o" + self.operator if self.operator else ""

    def __bool__(self) -> bool:
        return bool(self.only or self.excluded or self.operator)

    @classmethod
    def parse(cls, code: str) -> PurchaseFilter | None:
        """The filter a code names; None for anything malformed (a tampered button)."""
        if not code:
            return cls()
        kind, rest = code[0], code[1:]
        items = rest.split(".")
        if len(code) > MAX_CODE or len(items) > MAX_FILTER_ITEMS:
            return None
        if not all(_FILTER_ITEM.fullmatch(item) for item in items):
            return None
        ordered = tuple(sorted(set(items)))
        if kind == "p":
            return cls(only=ordered)
        if kind == "x":
            return cls(excluded=ordered)
        if kind == "o" and len(items) == 1:
            return cls(operator=items[0])
        return None

    def without(self, supplier: str) -> PurchaseFilter:
        """This filter with one more supplier excluded (an "only" filter is replaced); itself
        when one more would not fit a button."""
        wider = PurchaseFilter(excluded=tuple(sorted({*self.excluded, supplier})))
        return wider if PurchaseFilter.parse(wider.code()) == wider else self


ANY_NUMBER = PurchaseFilter()
