"""State and protocol logic of the sandbox provider.

An independent emulator of a GrizzlySMS-compatible `handler_api.php` provider: keys with
balances, a catalog, activations and rentals with their full lifecycle, fault injection and
records that tests inspect. It never imports the bot: a shared bug must not hide itself.

`SandboxState.handle(params)` answers one protocol request as a `Reply`; the HTTP layer
(`sandbox/server.py`) only moves bytes and applies faults.
"""

from __future__ import annotations

import heapq
import json
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox import catalog

PROHIBITED = "The service is prohibited for sale by administration"
PURCHASE_ACTIONS = frozenset({"getNumber", "getNumberV2", "getRentNumber", "continueRentNumber"})
FAULT_KINDS = frozenset(
    {
        "latency",
        "http500",
        "html502",
        "rate_limit",
        "garbled",
        "drop_after_charge",
        "cloudflare",
        "empty",
        "timeout",
    }
)
MIN_RENT_HOURS = 4
MAX_RENT_HOURS = 1344


class SandboxError(Exception):
    """A control-API misuse; `status` is the HTTP status the control API answers with."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


class Clock:
    """Sandbox time: real time by default, can be moved forward and sped up."""

    def __init__(self, start: float | None = None, speed: float = 1.0) -> None:
        self._real_anchor = time.time()
        self._virtual_anchor = self._real_anchor if start is None else float(start)
        self._speed = float(speed)

    def now(self) -> float:
        return self._virtual_anchor + (time.time() - self._real_anchor) * self._speed

    def __call__(self) -> float:
        return self.now()

    @property
    def speed(self) -> float:
        return self._speed

    def advance(self, seconds: float) -> None:
        self._virtual_anchor += float(seconds)

    def set_speed(self, factor: float) -> None:
        if factor < 0:
            raise ValueError("speed must be >= 0")
        # Re-anchor so that time already elapsed keeps the old speed.
        self._virtual_anchor = self.now()
        self._real_anchor = time.time()
        self._speed = float(factor)


@dataclass(slots=True)
class Reply:
    """One protocol answer before faults: HTTP 200 text or JSON in Grizzly's style."""

    body: str
    content_type: str = "text/plain"
    purchase: bool = False  # True when this answer completed a purchase (money taken)
    status: int = 200  # hero-sms answers some refusals with a 4xx problem JSON


@dataclass(slots=True)
class Account:
    key: str
    balance: Decimal
    currency: str = "643"
    banned_until: str | None = None  # "YYYY-m-d H-i-s" -> BANNED:'…'
    geo_blocked: bool = False
    channels_limit: int = 50  # live activations allowed at once


@dataclass(slots=True)
class Sms:
    code: str
    text: str
    at: float


@dataclass(slots=True)
class SandboxActivation:
    id: str
    key: str
    service: str
    country: str
    phone: str
    cost: Decimal
    currency: str
    created_at: float
    ends_at: float
    cancel_allowed_at: float
    can_get_another_sms: bool
    status: str = "waiting"  # waiting | finished | cancelled | expired
    ready: bool = False  # setStatus 1 seen
    retry_pending: bool = False  # setStatus 3 seen, no new SMS yet
    sms: list[Sms] = field(default_factory=list)
    ended_at: float | None = None
    refunded: bool = False

    @property
    def live(self) -> bool:
        return self.status == "waiting"

    @property
    def last_code(self) -> str | None:
        return self.sms[-1].code if self.sms else None


@dataclass(slots=True)
class RentSmsRecord:
    phone_from: str
    text: str
    service: str
    at: float


@dataclass(slots=True)
class RentPeriod:
    """One paid period of a rental: the first rent or an extension."""

    at: float
    hours: int
    cost: Decimal


@dataclass(slots=True)
class SandboxRental:
    id: str
    key: str
    service: str
    country: str
    phone: str
    hours: int
    cost: Decimal  # total paid, extensions included
    created_at: float
    ends_at: float
    status: str = "active"  # active | finished | cancelled
    sms: list[RentSmsRecord] = field(default_factory=list)
    ended_at: float | None = None
    periods: list[RentPeriod] = field(default_factory=list)  # what getRentHistory lists

    @property
    def live(self) -> bool:
        return self.status == "active"


@dataclass(slots=True)
class Fault:
    kind: str
    action: str | None
    remaining: int
    params: dict[str, Any]

    def matches(self, action: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.action is None:
            # A dropped purchase answer only makes sense for purchases.
            return self.kind != "drop_after_charge" or action in PURCHASE_ACTIONS
        return self.action == action


@dataclass(slots=True)
class SupplierTier:
    """Numbers of one supplier at one price (Grizzly's getPricesV3 lists suppliers, each with
    its price tiers); `operator` is the mobile operator its numbers belong to."""

    supplier: str
    price: Decimal
    count: int
    operator: str = ""


@dataclass(slots=True)
class Offer:
    cost: Decimal
    count: int
    rent_hour: Decimal
    rent_count: int
    prohibited: bool = False
    # Empty: one anonymous supplier "1" selling `count` numbers at `cost`. Set: the numbers
    # are the tiers' (count = their sum, cost = the cheapest in stock).
    tiers: list[SupplierTier] = field(default_factory=list)
    # Success behaviour: None = an SMS comes only when the control API delivers one (as ever);
    # a probability in [0, 1] = each number bought from now on gets an SMS by itself
    # `delivery_after` seconds after the purchase with that chance (0: never delivers).
    delivery: float | None = None
    delivery_after: float = 30.0

    def sync(self) -> None:
        """count and cost from the tiers, after they changed."""
        if not self.tiers:
            return
        self.count = sum(t.count for t in self.tiers)
        in_stock = [t.price for t in self.tiers if t.count > 0]
        if in_stock:
            self.cost = min(in_stock)


def _id_list(raw: str | None) -> set[str]:
    return {item.strip() for item in (raw or "").split(",") if item.strip()}


def _num(value: Decimal) -> float | int:
    """A Decimal as a JSON number (int when whole), the way PHP providers print prices."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _suppliers(offer: Offer) -> dict[str, Any]:
    """getPricesV3's `providers` of one offer: id -> count and sorted price tiers."""
    if not offer.tiers:
        return {"1": {"count": offer.count, "price": [_num(offer.cost)], "provider_id": 1}}
    table: dict[str, Any] = {}
    for tier in offer.tiers:
        entry = table.setdefault(
            tier.supplier, {"count": 0, "price": [], "provider_id": _provider_id(tier.supplier)}
        )
        entry["count"] += tier.count
        if _num(tier.price) not in entry["price"]:
            entry["price"].append(_num(tier.price))
    for entry in table.values():
        entry["price"].sort()
    return table


def _provider_id(supplier: str) -> int | str:
    return int(supplier) if supplier.isdigit() else supplier


def _money(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


def _as_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _text(body: str) -> Reply:
    return Reply(body)


def _json(data: Any, *, purchase: bool = False) -> Reply:
    return Reply(_as_json(data), content_type="application/json", purchase=purchase)


def _parse_decimal(text: str | None) -> Decimal | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


CODE_RE = re.compile(r"\d{3,8}")


def extract_code(text: str) -> str:
    """The first run of 3..8 digits; the whole text when there is none."""
    found = CODE_RE.search(text)
    return found.group(0) if found else text.strip()


class SandboxState:
    """Everything the sandbox provider knows, plus the protocol rules."""

    def __init__(
        self,
        clock: Callable[[], float] | None = None,
        *,
        lifetime: float = 1200,
        cancel_lock: float = 120,
        rent_cancel_window: float = 1200,
        quirks: bool = False,
        seed_catalog: bool = True,
        tz_offset_hours: float = 0.0,
        can_get_another_sms: bool = True,
        ended_answer: str = "NO_ACTIVATION",
        rent_error_key: str = "error",
        rent_auto_cancel: bool = False,
        rent_list: bool = False,
        max_requests: int | None = None,
        hero_errors: bool = False,
        delivery_seed: int = 0,
    ) -> None:
        self.clock: Callable[[], float] = clock if clock is not None else Clock()
        self.lifetime = float(lifetime)
        self.cancel_lock = float(cancel_lock)
        self.rent_cancel_window = float(rent_cancel_window)
        self.quirks = quirks
        self.tz_offset_hours = tz_offset_hours
        self.can_get_another_sms = can_get_another_sms
        self.ended_answer = ended_answer  # what setStatus answers for an ended activation
        self.rent_error_key = rent_error_key  # "error" (Grizzly) or "message" (sms-activate)
        self.rent_auto_cancel = rent_auto_cancel  # ONS rule: no SMS in the window -> refund
        # getRentList is sms-activate's; the Grizzly seed page lists no such action, so by
        # default it is BAD_ACTION like any unknown action.
        self.rent_list = rent_list
        self.max_requests = max_requests  # keep at most about this many request records
        self.hero_errors = hero_errors  # WRONG_MAX_PRICE as hero-sms's 400 problem JSON
        self._seed_catalog = seed_catalog
        # Which purchases an offer's delivery probability lets through: seeded, so a test or
        # a benchmark run sees the same successes and failures every time.
        self._delivery_seed = delivery_seed
        self.reset(keep_keys=False)

    # ------------------------------------------------------------------ setup and records

    def reset(self, *, keep_keys: bool = False) -> None:
        """Forget activations, rentals, records and faults; reseed the catalog."""
        if not keep_keys or not hasattr(self, "accounts"):
            self.accounts: dict[str, Account] = {}
        self.countries: dict[str, catalog.SeedCountry] = {}
        self.services: dict[str, catalog.SeedService] = {}
        self.offers: dict[tuple[str, str], Offer] = {}
        self.activations: dict[str, SandboxActivation] = {}
        self.rentals: dict[str, SandboxRental] = {}
        self.purchases: list[dict[str, Any]] = []
        self.rent_purchases: list[dict[str, Any]] = []
        self.extensions: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.disabled_actions: set[str] = set()
        # Deadlines as a heap of (at, seq, kind, id), so tick() touches only what is due.
        self._deadlines: list[tuple[float, int, str, str]] = []
        self._deadline_seq = 0
        # Stock that changes over time: a heap of (at, seq, country, service, count, cost).
        self._stock_changes: list[tuple[float, int, str, str, int, Decimal | None]] = []
        # Live activations per key, in purchase order (ids grow), for the per-key views.
        self._live_by_key: dict[str, dict[str, SandboxActivation]] = {}
        self._next_activation = 400_000_001
        self._next_rental = 7_000_001
        self._next_phone = 1_000_001
        self._delivery_rng = random.Random(self._delivery_seed)
        if self._seed_catalog:
            self._load_seed()

    def _load_seed(self) -> None:
        for country in catalog.COUNTRIES:
            self.countries[country.id] = country
        for service in catalog.SERVICES:
            self.services[service.code] = service
        for country in catalog.COUNTRIES:
            for service in catalog.SERVICES:
                stock = catalog.seed_stock(country, service)
                self.offers[(country.id, service.code)] = Offer(
                    cost=catalog.seed_price(country, service),
                    count=stock,
                    rent_hour=catalog.seed_rent_hour(country, service),
                    rent_count=min(stock, 25),
                )

    def now(self) -> float:
        return self.clock()

    def create_key(
        self, balance: str | Decimal | int = "100", key: str | None = None, currency: str = "643"
    ) -> str:
        key = key or "sbx-" + secrets.token_hex(12)
        self.accounts[key] = Account(key=key, balance=Decimal(str(balance)), currency=currency)
        return key

    def account(self, key: str) -> Account:
        try:
            return self.accounts[key]
        except KeyError:
            raise SandboxError("unknown key") from None

    def balance(self, key: str) -> Decimal:
        return self.account(key).balance

    def set_balance(self, key: str, balance: str | Decimal) -> None:
        self.account(key).balance = Decimal(str(balance))

    def ban(self, key: str, until: str | None = "2030-1-1 0-0-0") -> None:
        self.account(key).banned_until = until

    def geo_block(self, key: str, blocked: bool = True) -> None:
        self.account(key).geo_blocked = blocked

    def _offer(self, country: str, service: str) -> Offer:
        if country not in self.countries:
            raise SandboxError(f"unknown country {country}")
        if service not in self.services:
            raise SandboxError(f"unknown service {service}")
        offer = self.offers.get((country, service))
        if offer is None:
            offer = Offer(cost=Decimal("1"), count=0, rent_hour=Decimal("1"), rent_count=0)
            self.offers[(country, service)] = offer
        return offer

    def set_stock(self, country: str, service: str, count: int) -> None:
        self._offer(str(country), service).count = int(count)

    def set_price(self, country: str, service: str, cost: str | Decimal) -> None:
        self._offer(str(country), service).cost = Decimal(str(cost))

    def schedule_stock(
        self,
        country: str,
        service: str,
        count: int,
        *,
        at: float,
        cost: str | Decimal | None = None,
    ) -> None:
        """At clock time `at` the offer's stock becomes `count` (and its price `cost`, when
        given): stock that comes and goes while a client watches. A time already past applies
        now; changes at one time apply in the order they were scheduled."""
        country = str(country)
        self._offer(country, service)  # an unknown country or service is refused now
        price = None if cost is None else Decimal(str(cost))
        self._deadline_seq += 1
        change = (float(at), self._deadline_seq, country, service, int(count), price)
        heapq.heappush(self._stock_changes, change)
        self.tick()

    def _apply_stock_changes(self, now: float) -> None:
        while self._stock_changes and self._stock_changes[0][0] <= now:
            _at, _seq, country, service, count, cost = heapq.heappop(self._stock_changes)
            offer = self._offer(country, service)
            offer.count = count
            if cost is not None:
                offer.cost = cost

    def set_rent(
        self,
        country: str,
        service: str,
        *,
        hour_cost: str | Decimal | None = None,
        count: int | None = None,
    ) -> None:
        offer = self._offer(str(country), service)
        if hour_cost is not None:
            offer.rent_hour = Decimal(str(hour_cost))
        if count is not None:
            offer.rent_count = int(count)

    def set_tiers(
        self,
        country: str,
        service: str,
        tiers: list[tuple[str, str | Decimal, int]] | list[SupplierTier],
    ) -> None:
        """The offer's suppliers and price tiers: (supplier id, price, count[, operator]) each;
        an empty list goes back to one anonymous supplier."""
        offer = self._offer(str(country), service)
        offer.tiers = [
            t
            if isinstance(t, SupplierTier)
            else SupplierTier(str(t[0]), Decimal(str(t[1])), int(t[2]), *t[3:])
            for t in tiers
        ]
        offer.sync()

    def disable_action(self, action: str, disabled: bool = True) -> None:
        """Answer BAD_ACTION to `action`, as a provider that lacks it (getPricesV3 on a plain
        sms-activate clone)."""
        if disabled:
            self.disabled_actions.add(action)
        else:
            self.disabled_actions.discard(action)

    def set_prohibited(self, country: str, service: str, prohibited: bool = True) -> None:
        self._offer(str(country), service).prohibited = prohibited

    def set_delivery(
        self, country: str, service: str, probability: float | None, after: float | None = None
    ) -> None:
        """How numbers of this offer bought from now on get their SMS: None = only through the
        control API; else by themselves, `after` seconds after the purchase, with this chance
        (0 = never, 1 = always)."""
        offer = self._offer(str(country), service)
        if probability is not None and not 0.0 <= float(probability) <= 1.0:
            raise SandboxError("delivery must be between 0 and 1", status=400)
        if after is not None and float(after) < 0:
            raise SandboxError("delivery_after must not be negative", status=400)
        offer.delivery = None if probability is None else float(probability)
        if after is not None:
            offer.delivery_after = float(after)

    def inject_fault(
        self, kind: str, *, action: str | None = None, count: int = 1, **params: Any
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise SandboxError(f"unknown fault kind {kind!r}", status=400)
        fault = Fault(kind=kind, action=action, remaining=int(count), params=dict(params))
        self.faults.append(fault)
        return fault

    def peek_fault(self, action: str) -> Fault | None:
        """The first pending fault that applies to this action (not consumed)."""
        for fault in self.faults:
            if fault.matches(action):
                return fault
        return None

    def consume_fault(self, fault: Fault) -> None:
        fault.remaining -= 1
        if fault.remaining <= 0 and fault in self.faults:
            self.faults.remove(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------ SMS delivery

    def deliver_sms(self, activation_id: str, text: str, code: str | None = None) -> None:
        self.tick()
        activation = self.activations.get(str(activation_id))
        if activation is None:
            raise SandboxError("no such activation")
        if not activation.live:
            raise SandboxError(f"activation is {activation.status}", status=409)
        code = code if code is not None else extract_code(text)
        activation.sms.append(Sms(code=code, text=text, at=self.now()))
        activation.retry_pending = False

    def latest_activation(self, key: str) -> SandboxActivation:
        self.tick()
        owned = self._live_by_key.get(key)
        if not owned:
            raise SandboxError("this key has no live activation", status=409)
        return next(reversed(owned.values()))

    def deliver_sms_to_latest(self, key: str, text: str, code: str | None = None) -> str:
        activation = self.latest_activation(key)
        self.deliver_sms(activation.id, text, code)
        return activation.id

    def deliver_rent_sms(self, rent_id: str, text: str, phone_from: str = "Service") -> None:
        self.tick()
        rental = self.rentals.get(str(rent_id))
        if rental is None:
            raise SandboxError("no such rental")
        if not rental.live:
            raise SandboxError(f"rental is {rental.status}", status=409)
        rental.sms.append(
            RentSmsRecord(phone_from=phone_from, text=text, service=rental.service, at=self.now())
        )

    # ------------------------------------------------------------------ time

    def fmt_time(self, at: float) -> str:
        moment = datetime.fromtimestamp(at, UTC) + timedelta(hours=self.tz_offset_hours)
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    def _schedule(self, at: float, kind: str, object_id: str) -> None:
        self._deadline_seq += 1
        heapq.heappush(self._deadlines, (at, self._deadline_seq, kind, object_id))

    def tick(self) -> None:
        """End whatever the clock says has ended, and apply the stock changes that are due
        (both are evaluated lazily)."""
        now = self.now()
        self._apply_stock_changes(now)
        while self._deadlines and self._deadlines[0][0] <= now:
            _at, _seq, kind, object_id = heapq.heappop(self._deadlines)
            if kind == "activation":
                self._expire_activation(self.activations[object_id])
            elif kind == "sms":
                self._auto_sms(self.activations[object_id])
            else:
                self._expire_rental(self.rentals[object_id], kind, now)

    def _auto_sms(self, activation: SandboxActivation) -> None:
        """The SMS an offer's delivery behaviour promised, if the number still waits for one."""
        if not activation.live or activation.sms:
            return
        code = str(100000 + int(activation.id) % 900000)
        activation.sms.append(Sms(code=code, text=f"Your code: {code}", at=self.now()))
        activation.retry_pending = False

    def _expire_activation(self, activation: SandboxActivation) -> None:
        if not activation.live:
            return
        if activation.sms:
            self._end_activation(activation, "finished", at=activation.ends_at)
        else:
            self._end_activation(activation, "expired", at=activation.ends_at, refund=True)

    def _expire_rental(self, rental: SandboxRental, kind: str, now: float) -> None:
        if not rental.live:
            return
        if kind == "rent_end":
            if now >= rental.ends_at:  # else an extension moved the end (a newer entry exists)
                rental.status, rental.ended_at = "finished", rental.ends_at
        elif self.rent_auto_cancel and not rental.sms:  # kind == "rent_window"
            self._refund(rental.key, rental.cost)
            rental.status = "cancelled"
            rental.ended_at = rental.created_at + self.rent_cancel_window

    def _end_activation(
        self, activation: SandboxActivation, status: str, *, at: float, refund: bool = False
    ) -> None:
        activation.status = status
        activation.ended_at = at
        activation.retry_pending = False
        self._live_by_key.get(activation.key, {}).pop(activation.id, None)
        if refund:
            self._refund(activation.key, activation.cost)
            activation.refunded = True

    def _refund(self, key: str, amount: Decimal) -> None:
        account = self.accounts.get(key)
        if account is not None:
            account.balance += amount

    # ------------------------------------------------------------------ dispatch

    def note_request(self, params: dict[str, str], *, fault: str | None = None) -> None:
        """Record a request for tests; the API key is never kept."""
        record: dict[str, Any] = {
            "action": params.get("action", ""),
            "params": {k: v for k, v in params.items() if k != "api_key"},
            "at": self.now(),
        }
        if fault is not None:
            record["fault"] = fault
        self.requests.append(record)
        if self.max_requests is not None and len(self.requests) > 2 * self.max_requests:
            # Trim in one go now and then, so a long-running sandbox stays small.
            del self.requests[: len(self.requests) - self.max_requests]

    def handle(self, params: dict[str, str]) -> Reply:
        """Answer one handler_api.php request (params from query and form)."""
        action = params.get("action", "")
        self.note_request(params)
        self.tick()
        key = params.get("api_key", "")
        if not key:
            return _text("NO_KEY")
        account = self.accounts.get(key)
        if account is None:
            return _text("BAD_KEY")
        if account.banned_until is not None:
            return _text(f"BANNED:'{account.banned_until}'")
        if account.geo_blocked:
            return _text("SERVICE_UNAVAILABLE_REGION")
        handler = self._handlers().get(action)
        if handler is None or action in self.disabled_actions:
            return _text("BAD_ACTION")
        return handler(account, params)

    def _handlers(self) -> dict[str, Callable[[Account, dict[str, str]], Reply]]:
        return {
            "getBalance": self._get_balance,
            "getBalanceAndCashBack": self._get_balance,
            "getNumber": self._get_number,
            "getNumberV2": self._get_number_v2,
            "setStatus": self._set_status,
            "getStatus": self._get_status,
            "getStatusV2": self._get_status_v2,
            "getActiveActivations": self._get_active_activations,
            "getPrices": self._get_prices,
            "getPricesV2": self._get_prices_v2,
            "getPricesV3": self._get_prices_v3,
            "getCountries": self._get_countries,
            "getServicesList": self._get_services_list,
            "getOperators": self._get_operators,
            "getRentNumber": self._get_rent_number,
            "continueRentNumber": self._continue_rent_number,
            "getRentStatus": self._get_rent_status,
            "setRentStatus": self._set_rent_status,
            "getRentHistory": self._get_rent_history,
            "getRentList": self._get_rent_list,
            "getRentPrices": self._get_rent_prices,
        }

    # ------------------------------------------------------------------ account

    def _get_balance(self, account: Account, params: dict[str, str]) -> Reply:
        body = f"ACCESS_BALANCE:{_money(account.balance)}"
        if self.quirks:
            body = "\ufeff" + body + "\n"  # BOM and a trailing newline, as PHP pages do
        return _text(body)

    # ------------------------------------------------------------------ activations

    def _pick_country(self, service: str, country: str) -> str | None:
        """`any`: the cheapest country with stock; else the id itself."""
        if country != "any":
            return country
        offers = [
            (offer.cost, cid)
            for (cid, code), offer in self.offers.items()
            if code == service and offer.count > 0 and not offer.prohibited
        ]
        return min(offers)[1] if offers else None

    def _new_phone(self, country: str) -> str:
        dial = self.countries[country].dial
        number = self._next_phone
        self._next_phone += 1
        # A mobile-looking national part; the counter keeps every number unique.
        return dial + "9" + str(number).zfill(9)

    def _buy(
        self, account: Account, params: dict[str, str], action: str
    ) -> SandboxActivation | str:
        """A new activation, or the error text."""
        service = params.get("service", "").strip()
        if service not in self.services:
            return "BAD_SERVICE"
        country = self._pick_country(service, params.get("country", "0").strip() or "0")
        if country is None:
            return "NO_NUMBERS"
        if country not in self.countries:
            return "BAD_COUNTRY"
        offer = self._offer(country, service)
        if offer.prohibited:
            return PROHIBITED
        if offer.count <= 0:
            return "NO_NUMBERS"
        max_price = _parse_decimal(params.get("maxPrice"))
        tier: SupplierTier | None = None
        cost = offer.cost
        if offer.tiers:
            found = self._pick_tier(offer, params, max_price)
            if isinstance(found, str):
                return found
            tier, cost = found, found.price
        elif max_price is not None and max_price < offer.cost:
            return f"WRONG_MAX_PRICE:{offer.cost:.6f}"
        if len(self._live_by_key.get(account.key, {})) >= account.channels_limit:
            return "CHANNELS_LIMIT"
        if account.balance < cost:
            return "NO_BALANCE"
        account.balance -= cost
        if tier is not None:
            tier.count -= 1
            offer.sync()
        else:
            offer.count -= 1
        now = self.now()
        activation = SandboxActivation(
            id=str(self._next_activation),
            key=account.key,
            service=service,
            country=country,
            phone=self._new_phone(country),
            cost=cost,
            currency=account.currency,
            created_at=now,
            ends_at=now + self.lifetime,
            cancel_allowed_at=now + self.cancel_lock,
            can_get_another_sms=self.can_get_another_sms,
        )
        self._next_activation += 1
        self.activations[activation.id] = activation
        self._live_by_key.setdefault(account.key, {})[activation.id] = activation
        self._schedule(activation.ends_at, "activation", activation.id)
        if offer.delivery is not None and self._delivery_rng.random() < offer.delivery:
            self._schedule(now + offer.delivery_after, "sms", activation.id)
        self.purchases.append(
            {
                "id": activation.id,
                "key": account.key,
                "action": action,
                "service": service,
                "country": country,
                "phone": activation.phone,
                "cost": activation.cost,
                "at": now,
                # What the purchase asked for, and the supplier that sold it.
                "max_price": params.get("maxPrice"),
                "provider_ids": params.get("providerIds"),
                "except_provider_ids": params.get("exceptProviderIds"),
                "operator": params.get("operator"),
                "supplier": tier.supplier if tier is not None else "1",
            }
        )
        return activation

    @staticmethod
    def _pick_tier(
        offer: Offer, params: dict[str, str], max_price: Decimal | None
    ) -> SupplierTier | str:
        """The cheapest tier in stock that the purchase's filters allow (providerIds,
        exceptProviderIds, operator) at or under maxPrice; else the error text: NO_NUMBERS
        when the filters leave nothing, WRONG_MAX_PRICE:<min> when only the price does."""
        only = _id_list(params.get("providerIds"))
        excluded = _id_list(params.get("exceptProviderIds"))
        operators = _id_list(params.get("operator"))
        allowed = [
            t
            for t in offer.tiers
            if t.count > 0
            and (not only or t.supplier in only)
            and t.supplier not in excluded
            and (not operators or t.operator in operators)
        ]
        if not allowed:
            return "NO_NUMBERS"
        cheapest = min(allowed, key=lambda t: t.price)
        if max_price is not None and max_price < cheapest.price:
            return f"WRONG_MAX_PRICE:{cheapest.price:.6f}"
        return cheapest

    def _purchase_refusal(self, error: str) -> Reply:
        """A purchase's refusal: Grizzly's text, or with `hero_errors` hero-sms's problem JSON
        for WRONG_MAX_PRICE (HTTP 400, the minimum in `info.min`)."""
        code, _, minimum = error.partition(":")
        if self.hero_errors and code == "WRONG_MAX_PRICE":
            body = {
                "title": code,
                "details": "The maximum price is below the current minimum",
                "info": {"min": _num(Decimal(minimum))},
            }
            return Reply(_as_json(body), content_type="application/json", status=400)
        return _text(error)

    def _get_number(self, account: Account, params: dict[str, str]) -> Reply:
        result = self._buy(account, params, "getNumber")
        if isinstance(result, str):
            return self._purchase_refusal(result)
        reply = _text(f"ACCESS_NUMBER:{result.id}:{result.phone}")
        reply.purchase = True
        return reply

    def _get_number_v2(self, account: Account, params: dict[str, str]) -> Reply:
        result = self._buy(account, params, "getNumberV2")
        if isinstance(result, str):
            return self._purchase_refusal(result)
        return _json(self._v2_body(result), purchase=True)

    def _v2_body(self, a: SandboxActivation) -> dict[str, Any]:
        if self.quirks:
            # The "older documented" loose typing: everything as strings, bool as bool.
            return {
                "activationId": a.id,
                "phoneNumber": a.phone,
                "activationCost": _money(a.cost),
                "currency": a.currency,
                "countryCode": int(a.country),
                "canGetAnotherSms": a.can_get_another_sms,
                "activationTime": self.fmt_time(a.created_at),
                "activationEnd": self.fmt_time(a.ends_at),
                "activationCancel": self.fmt_time(a.cancel_allowed_at),
            }
        return {
            "activationId": int(a.id),
            "phoneNumber": a.phone,
            "activationCost": _num(a.cost),
            "currency": int(a.currency),
            "countryCode": a.country,
            "canGetAnotherSms": "1" if a.can_get_another_sms else "0",
            "activationTime": self.fmt_time(a.created_at),
            "activationEnd": self.fmt_time(a.ends_at),
            "activationCancel": self.fmt_time(a.cancel_allowed_at),
        }

    def _own_activation(self, account: Account, params: dict[str, str]) -> SandboxActivation | None:
        activation = self.activations.get(params.get("id", "").strip())
        if activation is None or activation.key != account.key:
            return None
        return activation

    def _status_text(self, a: SandboxActivation) -> str:
        if a.status in ("cancelled", "expired"):
            return "STATUS_CANCEL"
        if a.retry_pending:
            return f"STATUS_WAIT_RETRY:{a.last_code}"
        if a.sms:
            return f"STATUS_OK:{a.last_code}"
        return "STATUS_WAIT_CODE"

    def _quote(self, body: str) -> str:
        return f'"{body}"' if self.quirks else body

    def _get_status(self, account: Account, params: dict[str, str]) -> Reply:
        activation = self._own_activation(account, params)
        if activation is None:
            return _text("NO_ACTIVATION")
        return _text(self._quote(self._status_text(activation)))

    def _get_status_v2(self, account: Account, params: dict[str, str]) -> Reply:
        activation = self._own_activation(account, params)
        if activation is None:
            return _text("NO_ACTIVATION")
        text = self._status_text(activation)
        if not text.startswith("STATUS_OK"):
            return _text(self._quote(text))
        last = activation.sms[-1]
        return _json(
            {
                "verificationType": 0,
                "sms": {"code": last.code, "text": last.text, "dateTime": self.fmt_time(last.at)},
                "call": None,
            }
        )

    def _set_status(self, account: Account, params: dict[str, str]) -> Reply:
        activation = self._own_activation(account, params)
        if activation is None:
            return _text("NO_ACTIVATION")
        status = params.get("status", "").strip()
        if status not in ("-1", "1", "3", "6", "8"):
            return _text("BAD_STATUS")
        if not activation.live:
            return _text(self.ended_answer)
        if status == "1":
            activation.ready = True
            return _text("ACCESS_READY")
        if status == "3":
            if not activation.sms or activation.retry_pending:
                return _text("BAD_STATUS")
            if not activation.can_get_another_sms:
                return _text("BAD_STATUS")
            activation.retry_pending = True
            return _text("ACCESS_RETRY_GET")
        if status == "6":
            if not activation.sms:
                return _text("BAD_STATUS")
            self._end_activation(activation, "finished", at=self.now())
            return _text("ACCESS_ACTIVATION")
        # 8 / -1: cancel with a refund, never after a code, never inside the lock.
        if activation.sms:
            return _text("BAD_STATUS")
        if self.now() < activation.cancel_allowed_at:
            return _text("EARLY_CANCEL_DENIED")
        self._end_activation(activation, "cancelled", at=self.now(), refund=True)
        return _text("ACCESS_CANCEL")

    def _activation_status_code(self, a: SandboxActivation) -> str:
        if a.retry_pending:
            return "3"
        return "2" if a.sms else "4"

    def _get_active_activations(self, account: Account, params: dict[str, str]) -> Reply:
        items = [self._active_item(a) for a in self._live_by_key.get(account.key, {}).values()]
        if not items and self.quirks:
            return _json(None)
        return _json(items)

    def _active_item(self, a: SandboxActivation) -> dict[str, Any]:
        code = a.last_code
        text = a.sms[-1].text if a.sms else None
        return {
            "activationId": a.id,
            "phoneNumber": a.phone,
            "serviceCode": a.service,
            "countryCode": a.country,
            "countryName": self.countries[a.country].eng,
            "activationCost": _money(a.cost) if self.quirks else _num(a.cost),
            "currency": int(a.currency),
            "activationStatus": self._activation_status_code(a),
            "activationTime": self.fmt_time(a.created_at),
            "canGetAnotherSms": "1" if a.can_get_another_sms else "0",
            "discount": "0",
            "repeated": "0",
            "smsCode": ([code] if code else []) if self.quirks else code,
            "smsText": text,
        }

    # ------------------------------------------------------------------ catalog

    def _filtered_offers(self, params: dict[str, str]) -> list[tuple[str, str, Offer]] | str:
        service = params.get("service", "").strip()
        country = params.get("country", "").strip()
        if service and service not in self.services:
            return "BAD_SERVICE"
        if country and country not in self.countries:
            return "BAD_COUNTRY"
        return [
            (cid, code, offer)
            for (cid, code), offer in sorted(
                self.offers.items(), key=lambda item: (int(item[0][0]), item[0][1])
            )
            if (not service or code == service) and (not country or cid == country)
        ]

    def _price_table(self, params: dict[str, str], cell: Callable[[Offer], Any]) -> Reply:
        """{country: {service: cell(offer)}} for the offers the filters select."""
        rows = self._filtered_offers(params)
        if isinstance(rows, str):
            return _text(rows)
        result: dict[str, dict[str, Any]] = {}
        for cid, code, offer in rows:
            result.setdefault(cid, {})[code] = cell(offer)
        return _json(result)

    def _get_prices(self, account: Account, params: dict[str, str]) -> Reply:
        return self._price_table(params, lambda o: {"cost": _num(o.cost), "count": o.count})

    def _get_prices_v2(self, account: Account, params: dict[str, str]) -> Reply:
        # Price buckets: price string -> count available at that price.
        return self._price_table(params, lambda o: {f"{o.cost:.2f}": o.count})

    def _get_prices_v3(self, account: Account, params: dict[str, str]) -> Reply:
        # Per-supplier offers: each supplier's stock and its price tiers (an offer without
        # tiers is one supplier "1" at one price).
        return self._price_table(
            params,
            lambda o: {"price": _num(o.cost), "count": o.count, "providers": _suppliers(o)},
        )

    def _get_operators(self, account: Account, params: dict[str, str]) -> Reply:
        """sms-activate/hero's getOperators: the operators of the country's tiers (set_tiers
        with an operator); OPERATORS_NOT_FOUND when it has none."""
        country = params.get("country", "").strip()
        names = sorted(
            {
                tier.operator
                for (cid, _service), offer in self.offers.items()
                if cid == country
                for tier in offer.tiers
                if tier.operator
            }
        )
        if not names:
            return _text("OPERATORS_NOT_FOUND")
        return _json({"status": "success", "countryOperators": {country: names}})

    def _get_countries(self, account: Account, params: dict[str, str]) -> Reply:
        result: dict[str, Any] = {}
        for index, country in enumerate(sorted(self.countries.values(), key=lambda c: int(c.id))):
            names = {"rus": country.rus, "eng": country.eng, "chn": country.chn}
            if self.quirks:
                # Trailing whitespace and a blank translation, as real catalogs have.
                names = {"rus": country.rus + " ", "eng": country.eng + "\t", "chn": country.chn}
                if index % 3 == 0:
                    names["chn"] = ""
            result[country.id] = {
                "id": int(country.id),
                **names,
                "visible": 1,
                "retry": 1,
                "rent": 1,
                "multiService": 0,
            }
        return _json(result)

    def _get_services_list(self, account: Account, params: dict[str, str]) -> Reply:
        lang = params.get("lang", "en").strip().lower()
        country = params.get("country", "").strip()
        if country and country not in self.countries:
            return _text("BAD_COUNTRY")
        services = []
        for service in self.services.values():
            if country and self.offers.get((country, service.code)) is None:
                continue
            name = service.rus if lang == "ru" else service.eng
            if self.quirks:
                name = f" {name} \r\n"
            services.append({"code": service.code, "name": name})
        if self.quirks:
            return _json(services)
        return _json({"status": "success", "services": services})

    # ------------------------------------------------------------------ rentals

    def _rent_error(self, code: str) -> Reply:
        return _json({"status": "error", self.rent_error_key: code})

    def _rent_hours(self, params: dict[str, str]) -> int | None:
        raw = params.get("rent_time", params.get("time"))
        if raw is None or raw.strip() == "":
            return MIN_RENT_HOURS
        hours = _parse_int(raw)
        if hours is None or not MIN_RENT_HOURS <= hours <= MAX_RENT_HOURS:
            return None
        return hours

    def _rent_phone_body(self, rental: SandboxRental, *, purchase: bool) -> Reply:
        phone: dict[str, Any] = {
            "id": rental.id if self.quirks else int(rental.id),
            "endDate": self.fmt_time(rental.ends_at),
            "number": rental.phone,
        }
        return _json({"status": "success", "phone": phone}, purchase=purchase)

    def _get_rent_number(self, account: Account, params: dict[str, str]) -> Reply:
        service = params.get("service", "").strip()
        if service not in self.services:
            return self._rent_error("BAD_SERVICE")
        country = params.get("country", "0").strip() or "0"
        if country not in self.countries:
            return self._rent_error("BAD_COUNTRY")
        hours = self._rent_hours(params)
        if hours is None:
            return self._rent_error("INVALID_TIME")
        offer = self._offer(country, service)
        if offer.prohibited:
            return self._rent_error(PROHIBITED)
        if offer.rent_count <= 0:
            return self._rent_error("NO_NUMBERS")
        cost = offer.rent_hour * hours
        if account.balance < cost:
            return self._rent_error("NO_BALANCE")
        account.balance -= cost
        offer.rent_count -= 1
        now = self.now()
        rental = SandboxRental(
            id=str(self._next_rental),
            key=account.key,
            service=service,
            country=country,
            phone=self._new_phone(country),
            hours=hours,
            cost=cost,
            created_at=now,
            ends_at=now + hours * 3600,
            periods=[RentPeriod(now, hours, cost)],
        )
        self._next_rental += 1
        self.rentals[rental.id] = rental
        self._schedule(rental.ends_at, "rent_end", rental.id)
        self._schedule(now + self.rent_cancel_window, "rent_window", rental.id)
        self.rent_purchases.append(
            {
                "id": rental.id,
                "key": account.key,
                "service": service,
                "country": country,
                "phone": rental.phone,
                "hours": hours,
                "cost": cost,
                "at": now,
            }
        )
        return self._rent_phone_body(rental, purchase=True)

    def _own_rental(self, account: Account, params: dict[str, str]) -> SandboxRental | Reply:
        rent_id = params.get("id", "").strip()
        if not rent_id:
            return self._rent_error("NO_ID_RENT")
        rental = self.rentals.get(rent_id)
        if rental is None or rental.key != account.key:
            return self._rent_error("INVALID_PHONE")
        return rental

    def _continue_rent_number(self, account: Account, params: dict[str, str]) -> Reply:
        rental = self._own_rental(account, params)
        if isinstance(rental, Reply):
            return rental
        if not rental.live:
            return self._rent_error("RENT_DIE")
        hours = self._rent_hours(params)
        if hours is None:
            return self._rent_error("INVALID_TIME")
        total = (rental.ends_at - rental.created_at) / 3600 + hours
        if total > MAX_RENT_HOURS:
            return self._rent_error("MAX_HOURS_EXCEED")
        cost = self._offer(rental.country, rental.service).rent_hour * hours
        if account.balance < cost:
            return self._rent_error("NO_BALANCE")
        account.balance -= cost
        rental.ends_at += hours * 3600
        self._schedule(rental.ends_at, "rent_end", rental.id)
        rental.hours += hours
        rental.cost += cost
        rental.periods.append(RentPeriod(self.now(), hours, cost))
        self.extensions.append(
            {
                "id": rental.id,
                "key": account.key,
                "hours": hours,
                "cost": cost,
                "ends_at": rental.ends_at,
                "at": self.now(),
            }
        )
        return self._rent_phone_body(rental, purchase=True)

    def _get_rent_status(self, account: Account, params: dict[str, str]) -> Reply:
        rental = self._own_rental(account, params)
        if isinstance(rental, Reply):
            return rental
        if not rental.sms:
            return _json({"status": "success", "values": [] if self.quirks else {}})
        values: dict[str, dict[str, str]] = {}
        # Newest first, as Grizzly's documented example lists them.
        for index, sms in enumerate(reversed(rental.sms)):
            item = {
                "phoneFrom": sms.phone_from,
                "service": sms.service,
                "text": sms.text,
                "date": self.fmt_time(sms.at),
            }
            item_key = str(index)
            if self.quirks:
                # The documented example's broken keys: "0 ", "phoneFrom ", test for text.
                item = {
                    ("phoneFrom " if index % 2 else "phoneFrom"): sms.phone_from,
                    "service": sms.service,
                    "test": sms.text,
                    "date": self.fmt_time(sms.at),
                }
                item_key = f"{index} " if index % 2 == 0 else item_key
            values[item_key] = item
        quantity = f"{len(rental.sms)} " if self.quirks else str(len(rental.sms))
        return _json({"status": "success", "quantity": quantity, "values": values})

    def _set_rent_status(self, account: Account, params: dict[str, str]) -> Reply:
        rental = self._own_rental(account, params)
        if isinstance(rental, Reply):
            return rental
        status = params.get("status", "").strip()
        if status not in ("1", "2"):
            return self._rent_error("INCORECT_STATUS")
        if rental.status == "finished":
            return self._rent_error("ALREADY_FINISH")
        if rental.status == "cancelled":
            return self._rent_error("ALREADY_CANCEL")
        now = self.now()
        if status == "1":
            rental.status, rental.ended_at = "finished", now
            return _json({"status": "success"})
        if rental.sms or now >= rental.created_at + self.rent_cancel_window:
            return self._rent_error("CANT_CANCEL")
        self._refund(account.key, rental.cost)
        rental.status, rental.ended_at = "cancelled", now
        return _json({"status": "success"})

    def _get_rent_history(self, account: Account, params: dict[str, str]) -> Reply:
        """The seed page's getRentHistory&id=: the periods of ONE rental (first rent and each
        extension), newest first as in its example, keyed "1", "2", ...; the only error it
        documents for a missing or wrong id is NO_ID_RENT."""
        rent_id = params.get("id", "").strip()
        rental = self.rentals.get(rent_id)
        if rental is None or rental.key != account.key:
            return self._rent_error("NO_ID_RENT")
        if not rental.periods:
            return _json({"status": "success", "values": [] if self.quirks else {}})
        values: dict[str, dict[str, Any]] = {}
        for index, period in enumerate(reversed(rental.periods), start=1):
            date = self.fmt_time(period.at)
            if self.quirks and index % 2 == 0:
                date = " " + date  # the seed example's leading space inside a date
            values[str(index)] = {"date": date, "price": _num(period.cost), "hours": period.hours}
        quantity = str(len(rental.periods))
        return _json({"status": "success", "quantity": quantity, "values": values})

    def _get_rent_list(self, account: Account, params: dict[str, str]) -> Reply:
        """sms-activate's getRentList (only with `rent_list` on): the key's active rentals,
        oldest first, {"status":"success","values":{"0":{"id","phone"},...}}."""
        if not self.rent_list:
            return _text("BAD_ACTION")
        mine = [r for r in self.rentals.values() if r.key == account.key and r.live]
        mine.sort(key=lambda r: (r.created_at, int(r.id)))
        values = {
            str(index): {"id": int(rental.id), "phone": rental.phone}
            for index, rental in enumerate(mine)
        }
        return _json({"status": "success", "values": values})

    def _get_rent_prices(self, account: Account, params: dict[str, str]) -> Reply:
        hours = self._rent_hours(params)
        if hours is None:
            return self._rent_error("INVALID_TIME")
        rows = self._filtered_offers(params)
        if isinstance(rows, str):
            return self._rent_error(rows)
        values: dict[str, dict[str, Any]] = {}
        for cid, code, offer in rows:
            values.setdefault(cid, {})[code] = {
                "cost": _num(offer.rent_hour * hours),
                "count": offer.rent_count,
            }
        return _json({"status": "success", "values": values})

    # ------------------------------------------------------------------ control views

    def activation_view(self, a: SandboxActivation) -> dict[str, Any]:
        return {
            "id": a.id,
            "key": a.key,
            "service": a.service,
            "country": a.country,
            "phone": a.phone,
            "cost": str(a.cost),
            "status": a.status,
            "ready": a.ready,
            "retry_pending": a.retry_pending,
            "codes": [sms.code for sms in a.sms],
            "created_at": a.created_at,
            "ends_at": a.ends_at,
            "cancel_allowed_at": a.cancel_allowed_at,
            "ended_at": a.ended_at,
            "refunded": a.refunded,
        }

    def rental_view(self, r: SandboxRental) -> dict[str, Any]:
        return {
            "id": r.id,
            "key": r.key,
            "service": r.service,
            "country": r.country,
            "phone": r.phone,
            "hours": r.hours,
            "cost": str(r.cost),
            "status": r.status,
            "sms": [{"phone_from": s.phone_from, "text": s.text, "at": s.at} for s in r.sms],
            "periods": [{"at": p.at, "hours": p.hours, "cost": str(p.cost)} for p in r.periods],
            "created_at": r.created_at,
            "ends_at": r.ends_at,
            "ended_at": r.ended_at,
        }

    def account_view(self, key: str) -> dict[str, Any]:
        account = self.account(key)
        return {
            "key": account.key,
            "balance": str(account.balance),
            "currency": account.currency,
            "banned_until": account.banned_until,
            "geo_blocked": account.geo_blocked,
            "channels_limit": account.channels_limit,
        }

    def offer_view(self, country: str, service: str) -> dict[str, Any]:
        offer = self._offer(country, service)
        return {
            "country": country,
            "service": service,
            "cost": str(offer.cost),
            "count": offer.count,
            "rent_hour_cost": str(offer.rent_hour),
            "rent_count": offer.rent_count,
            "prohibited": offer.prohibited,
            "tiers": [
                {
                    "supplier": t.supplier,
                    "price": str(t.price),
                    "count": t.count,
                    "operator": t.operator,
                }
                for t in offer.tiers
            ],
            "delivery": offer.delivery,
            "delivery_after": offer.delivery_after,
        }

    @staticmethod
    def fault_view(fault: Fault) -> dict[str, Any]:
        return {
            "kind": fault.kind,
            "action": fault.action,
            "remaining": fault.remaining,
            "params": fault.params,
        }

    # ------------------------------------------------------------------ clock and config

    def _clock_object(self) -> Any:
        """The object behind the clock callable (a bound method's owner), for advance()."""
        return getattr(self.clock, "__self__", self.clock)

    def advance_clock(self, seconds: float) -> None:
        target = self._clock_object()
        if not hasattr(target, "advance"):
            raise SandboxError("this clock cannot be advanced", status=409)
        target.advance(seconds)
        self.tick()

    def set_clock_speed(self, factor: float) -> None:
        target = self._clock_object()
        if not hasattr(target, "set_speed"):
            raise SandboxError("this clock's speed is fixed", status=409)
        target.set_speed(factor)

    def clock_view(self) -> dict[str, Any]:
        target = self._clock_object()
        now = self.now()
        return {"now": now, "time": self.fmt_time(now), "speed": getattr(target, "speed", None)}

    CONFIG_FIELDS = (
        "quirks",
        "lifetime",
        "cancel_lock",
        "rent_cancel_window",
        "can_get_another_sms",
        "ended_answer",
        "rent_error_key",
        "rent_auto_cancel",
        "rent_list",
        "tz_offset_hours",
        "hero_errors",
    )

    def configure(self, **changes: Any) -> None:
        """Change settings at run time (affects new activations for times)."""
        for name, value in changes.items():
            if name not in self.CONFIG_FIELDS:
                raise ValueError(f"unknown setting {name!r}")
            current = getattr(self, name)
            if isinstance(current, bool) and isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "yes", "on")
            setattr(self, name, type(current)(value))

    def config_view(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.CONFIG_FIELDS}
