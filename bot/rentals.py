"""RentalService: renting numbers for hours or days, and everything a renter can do with one.

Money rules (see DESIGN.md): a purchase (getRentNumber) or an extension (continueRentNumber)
happens only under a token issued for exactly that offer, claimed together with the purchase
intent before the provider is called; it is never retried, and a rented number is stored
before anyone is told about it. An unknown outcome leaves the open intent (kind "rent" or
"extend") for the tracker's reconciliation.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.changes import Changes
from bot.errors import NoActiveKey, NotFound, Stale, UseCaseError
from bot.orders import note_balance_before
from bot.provider.client import ProviderClient
from bot.provider.errors import ProviderError, UnknownOutcome
from bot.provider.factory import ProviderFactory
from bot.provider.models import RentHistoryItem, RentPrice, RentPrices

# The tracker stores the same SMS too: one dedup-key scheme, shared, so each is stored once.
from bot.rental_sms import rental_sms_keys
from storage import Database
from storage.models import KeyProfile, PendingPurchase, Rental, RentalSms
from storage.tokens import offer_key

# Durations offered when the provider prices them (hours): 4 h, 12 h, 1, 3, 7, 14, 30 days.
RENT_DURATIONS: tuple[int, ...] = (4, 12, 24, 72, 168, 336, 720)
# The provider lets a rent be cancelled (refunded) only this long after renting, before any SMS.
CANCEL_WINDOW = 1200.0
SMS_PAGE_SIZE = 5
# A list page shows at most this many characters of an SMS (counted once HTML-escaped, as a
# message carries them); a longer one shown cut has not reached the chat: the tracker pushes it.
SMS_PREVIEW_LIMIT = 600
# The cheapest duration: used to list which services and countries can be rented at all.
_LISTING_HOURS = RENT_DURATIONS[0]
# At most this many rental ids are kept as the snapshot before a rent; a key with more has no
# snapshot (a cut list would make an old rental look new), and the balance alone decides.
RENT_SNAPSHOT_LIMIT = 200

log = logging.getLogger(__name__)


class CancelRefused(UseCaseError):
    """Cancelling is no longer possible; `reason` is "window" (20 minutes passed) or "sms"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cancel refused: {reason}")
        self.reason = reason


class Repeat(StrEnum):
    """What a repeated confirm tap finds its token's first tap doing (nothing is bought twice)."""

    RUNNING = "running"  # still with the provider
    CHECKING = "checking"  # its answer was lost: reconciliation will tell
    DONE = "done"  # bought
    FAILED = "failed"  # refused: nothing bought
    UNCONFIRMED = "unconfirmed"  # reconciliation gave up: the user was told to check


# Called once the intent is written and before the provider is asked: the chat shows progress.
Started = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RentOption:
    hours: int
    cost: Decimal
    count: int


@dataclass(frozen=True, slots=True)
class RentResult:
    """rental: the stored rental; duplicate: the token was already claimed (nothing bought);
    pending: the outcome is unknown and the open purchase intent awaits reconciliation."""

    rental: Rental | None
    duplicate: bool = False
    pending: bool = False
    stale: bool = False  # the token was never issued for this user and offer, or expired
    intent: PendingPurchase | None = None
    # pending: the key's rentals were listed just before, so reconciliation can find the
    # number itself (else only the balance tells whether it was charged)
    findable: bool = False
    repeat: Repeat | None = None  # duplicate: what the token's first tap is doing


@dataclass(frozen=True, slots=True)
class ExtendResult:
    rental: Rental | None
    duplicate: bool = False
    pending: bool = False  # unknown outcome: the open intent awaits reconciliation
    stale: bool = False
    intent: PendingPurchase | None = None
    repeat: Repeat | None = None  # duplicate: what the token's first tap is doing


@dataclass(frozen=True, slots=True)
class SmsPage:
    items: list[RentalSms]  # newest first
    total: int
    page: int
    pages: int


def shown_whole(text: str) -> bool:
    """True when an SMS list page shows all of `text` (not cut at SMS_PREVIEW_LIMIT)."""
    return len(html.escape(text.strip())) <= SMS_PREVIEW_LIMIT


def cancel_deadline(rental: Rental) -> float:
    """Until when the provider refunds a cancel (while no SMS came): the one window rule."""
    return rental.created_at + CANCEL_WINDOW


def cancel_block(rental: Rental, now: float, *, has_sms: bool) -> str | None:
    """Why the provider would refuse a cancel now ("window" / "sms"), or None when allowed."""
    if has_sms:
        return "sms"
    if now >= cancel_deadline(rental):
        return "window"
    return None


def repeat_of(intent: PendingPurchase | None) -> Repeat:
    """What the first tap of a token is doing, from the intent it wrote."""
    if intent is None:  # a token claimed before intents carried it: long over
        return Repeat.DONE
    if intent.outcome is None:
        return Repeat.CHECKING if intent.unknown_at is not None else Repeat.RUNNING
    return {"bought": Repeat.DONE, "not_bought": Repeat.FAILED}.get(
        intent.outcome, Repeat.UNCONFIRMED
    )


def _in_stock(prices: RentPrices) -> Iterable[tuple[str, str, RentPrice]]:
    for country, services in prices.items():
        for service, price in services.items():
            if price.count > 0:
                yield country, service, price


async def note_rent_snapshot(db: Database, client: ProviderClient, intent: PendingPurchase) -> bool:
    """Keep the key's rental ids, read just before a rent, on the intent: should the answer be
    lost, the one id new since then is the rental bought (bot.tracker adopts it). False when
    the provider lists no rentals (Grizzly: BAD_ACTION, asked once), the list failed, or it is
    too long to keep."""
    if not client.supports("getRentList"):
        return False
    try:
        listed = await client.get_rent_list()
    except asyncio.CancelledError:
        raise
    except Exception as error:  # the rent goes on; reconciliation just knows less
        log.info("rent list before renting unavailable (%s)", type(error).__name__)
        return False
    if len(listed) > RENT_SNAPSHOT_LIMIT:
        return False
    ids = tuple(item.rent_id for item in listed)
    intent.rent_snapshot = ids
    await db.pending.set_rent_snapshot(intent.id, ids)
    return True


class RentalService:
    def __init__(
        self,
        db: Database,
        providers: ProviderFactory,
        clock: Callable[[], float] = time.time,
        *,
        changes: Changes | None = None,
    ) -> None:
        self.db = db
        self.providers = providers
        self.clock = clock
        self._changes = changes or Changes()  # tells the tracker what changed

    # ------------------------------------------------------------------ keys and lookups

    async def active_key(self, user_id: int) -> KeyProfile:
        key = await self.db.keys.get_active(user_id)
        if key is None:
            raise NoActiveKey()
        return key

    def _client(self, key: KeyProfile) -> ProviderClient:
        return self.providers.client(key.base_url, key.api_key)

    async def get(self, user_id: int, rental_id: int) -> Rental:
        """This user's rental, live or ended; NotFound for anyone else's."""
        rental = await self.db.rentals.get(user_id, rental_id)
        if rental is None:
            raise NotFound()
        return rental

    async def live(self, user_id: int, rental_id: int) -> Rental:
        """This user's rental while it lasts; Stale once it ended (a button of a live rental,
        tapped after its end, is out of date)."""
        rental = await self.get(user_id, rental_id)
        if not rental.live:
            raise Stale()
        return rental

    async def live_rentals(self, user_id: int) -> list[Rental]:
        """The user's rentals that are still running, oldest first."""
        return await self.db.rentals.list_live(user_id)

    async def key_of(self, user_id: int, rental: Rental) -> KeyProfile:
        """The key the rental was bought with (even if since deleted: its rental still lives)."""
        key = await self.db.keys.get_any(rental.key_id)
        if key is None or key.user_id != user_id:
            raise NotFound()
        return key

    # ------------------------------------------------------------------ prices

    async def balance(self, user_id: int) -> tuple[Decimal, str | None]:
        """The active key's balance, asked now (and remembered on the key)."""
        key = await self.active_key(user_id)
        balance = await self._client(key).get_balance()
        await self.db.keys.update_balance(user_id, key.id, balance.amount, key.currency)
        return balance.amount, key.currency

    async def key_balance(self, user_id: int, key: KeyProfile) -> Decimal:
        """The balance of one of this user's keys (e.g. the one a rental was bought with)."""
        if key.user_id != user_id:
            raise NotFound()
        balance = await self._client(key).get_balance()
        await self.db.keys.update_balance(user_id, key.id, balance.amount, key.currency)
        return balance.amount

    async def rentable_services(self, user_id: int) -> list[str]:
        """Service codes that some country can rent out now."""
        key = await self.active_key(user_id)
        prices = await self._client(key).get_rent_prices(hours=_LISTING_HOURS)
        return sorted({service for _, service, _ in _in_stock(prices)})

    async def rentable_countries(self, user_id: int, service: str) -> list[tuple[str, RentPrice]]:
        """(country id, price of the shortest rent) for a service, in stock, cheapest first."""
        key = await self.active_key(user_id)
        prices = await self._client(key).get_rent_prices(service=service, hours=_LISTING_HOURS)
        found = [(c, p) for c, s, p in _in_stock(prices) if s == service]
        return sorted(found, key=lambda item: (item[1].cost, item[0]))

    async def options(self, user_id: int, service: str, country: str) -> list[RentOption]:
        """Each offered duration with its price (asked for every duration at once)."""
        key = await self.active_key(user_id)
        return await self._options(key, service, country)

    async def _options(self, key: KeyProfile, service: str, country: str) -> list[RentOption]:
        client = self._client(key)
        answers = await asyncio.gather(
            *(client.get_rent_prices(service, country, hours) for hours in RENT_DURATIONS),
            return_exceptions=True,
        )
        options: list[RentOption] = []
        errors: list[BaseException] = []
        for hours, answer in zip(RENT_DURATIONS, answers, strict=True):
            if isinstance(answer, BaseException):
                errors.append(answer)
                continue
            price = answer.get(country, {}).get(service)
            if price is not None and price.count > 0:
                options.append(RentOption(hours, price.cost, price.count))
        # A duration the provider refuses (INVALID_TIME) is simply not offered; but when nothing
        # could be priced, the user deserves the reason (provider down, bad key, ...).
        if not options and errors:
            raise errors[0]
        return options

    async def option(
        self, user_id: int, service: str, country: str, hours: int
    ) -> RentOption | None:
        key = await self.active_key(user_id)
        prices = await self._client(key).get_rent_prices(service, country, hours)
        price = prices.get(country, {}).get(service)
        return None if price is None else RentOption(hours, price.cost, price.count)

    async def extend_options(self, user_id: int, rental_id: int) -> list[RentOption]:
        """Extension prices: the rent prices of the rental's service and country."""
        rental = await self.live(user_id, rental_id)
        key = await self.key_of(user_id, rental)
        return await self._options(key, rental.service, rental.country)

    async def extend_option(self, user_id: int, rental_id: int, hours: int) -> RentOption | None:
        rental = await self.live(user_id, rental_id)
        key = await self.key_of(user_id, rental)
        prices = await self._client(key).get_rent_prices(rental.service, rental.country, hours)
        price = prices.get(rental.country, {}).get(rental.service)
        return None if price is None else RentOption(hours, price.cost, price.count)

    # ------------------------------------------------------------------ money: rent, extend

    async def offer_token(
        self, user_id: int, *, service: str, country: str, hours: int, price: Decimal | None
    ) -> str:
        """A one-time token for the rent confirm screen of this offer (`price`: as shown)."""
        offer = offer_key("rent", service=service, country=country, hours=hours)
        return await self.db.tokens.issue(user_id, offer, price=price)

    async def extend_token(
        self, user_id: int, rental_id: int, *, hours: int, price: Decimal | None
    ) -> str:
        """A one-time token for the extension confirm screen of this rental and duration."""
        rental = await self.live(user_id, rental_id)
        offer = offer_key("extend", rental_id=rental.id, hours=hours)
        return await self.db.tokens.issue(user_id, offer, price=price)

    async def rent(
        self,
        user_id: int,
        *,
        token: str,
        service: str,
        country: str,
        hours: int,
        chat_id: int | None,
        cost: Decimal | None = None,
        message_id: int | None = None,
        started: Started | None = None,
    ) -> RentResult:
        """Rent one number under a token issued for exactly this offer. ProviderError
        propagates (nothing bought); an unknown outcome leaves the open intent to reconcile.
        `started` runs once the intent is written, before the provider is asked (a repeated
        tap never runs it: it learns what the first one is doing instead)."""
        key = await self.active_key(user_id)
        claim, intent = await self.db.pending.open(
            token=token,
            offer=offer_key("rent", service=service, country=country, hours=hours),
            user_id=user_id,
            key_id=key.id,
            kind="rent",
            service=service,
            country=country,
            chat_id=chat_id,
            message_id=message_id,
            expected_cost=cost,
            hours=int(hours),
        )
        if intent is None:
            if claim == "used":
                return RentResult(None, duplicate=True, repeat=await self._repeat(user_id, token))
            return RentResult(None, stale=claim == "stale")
        if started is not None:
            await started()
        client = self._client(key)
        await note_balance_before(self.db, client, intent)
        findable = await note_rent_snapshot(self.db, client, intent)
        asked_at = self.clock()
        try:
            bought = await client.get_rent_number(service, country, int(hours))
        except UnknownOutcome:
            # Maybe charged, maybe not: never retried; reconciliation finds out and tells.
            await self.db.pending.mark_unknown(intent.id)
            self._changes.purchase_unknown(intent.id)
            return RentResult(None, pending=True, intent=intent, findable=findable)
        except ProviderError:
            await self.db.pending.resolve(intent.id, "not_bought")
            raise
        ends_at = bought.ends_at if bought.ends_at else asked_at + int(hours) * 3600
        rental = await self.db.rentals.add(
            user_id=user_id,
            key_id=key.id,
            provider_id=bought.rent_id,
            service=service,
            country=country,
            phone=bought.phone.lstrip("+"),
            hours=int(hours),
            # The price the user confirmed (the purchase answer carries none): the one this
            # process remembered, else the one kept with the token.
            cost=cost if cost is not None else intent.expected_cost,
            created_at=asked_at,
            ends_at=ends_at,
            chat_id=chat_id,
            currency=key.currency,
            intent_id=intent.id,
        )
        self._changes.rental_changed(rental.id)  # stored first, then the tracker watches it
        self._changes.rental_opened(rental.id)  # its first SMS is awaited now: look often
        return RentResult(rental)

    async def extend(
        self,
        user_id: int,
        rental_id: int,
        *,
        token: str,
        hours: int,
        chat_id: int | None = None,
        message_id: int | None = None,
        cost: Decimal | None = None,
        started: Started | None = None,
    ) -> ExtendResult:
        """Extend a live rental under a token issued for exactly this rental and duration;
        never retried; an unknown outcome leaves the open intent to reconcile. `started`: as
        for `rent`."""
        rental = await self.live(user_id, rental_id)
        key = await self.key_of(user_id, rental)
        claim, intent = await self.db.pending.open(
            token=token,
            offer=offer_key("extend", rental_id=rental.id, hours=hours),
            user_id=user_id,
            key_id=key.id,
            kind="extend",
            service=rental.service,
            country=rental.country,
            chat_id=chat_id if chat_id is not None else rental.chat_id,
            message_id=message_id,
            expected_cost=cost,
            hours=int(hours),
            rental_id=rental.id,
        )
        if intent is None:
            if claim == "used":
                repeat = await self._repeat(user_id, token)
                return ExtendResult(None, duplicate=True, repeat=repeat)
            return ExtendResult(None, stale=claim == "stale")
        if started is not None:
            await started()
        client = self._client(key)
        await note_balance_before(self.db, client, intent)
        try:
            answer = await client.continue_rent_number(rental.provider_id, int(hours))
        except UnknownOutcome:
            await self.db.pending.mark_unknown(intent.id)
            self._changes.purchase_unknown(intent.id)
            return ExtendResult(None, pending=True, intent=intent)
        except ProviderError:
            await self.db.pending.resolve(intent.id, "not_bought")
            raise
        ends_at = answer.ends_at if answer.ends_at else rental.ends_at + int(hours) * 3600
        await self.db.rentals.extend(
            rental.id,
            ends_at,
            int(hours),
            cost=cost if cost is not None else intent.expected_cost,
            currency=key.currency,
            intent_id=intent.id,
        )
        self._changes.rental_changed(rental.id)
        self._changes.rental_opened(rental.id)  # the user watches it now: look often a while
        return ExtendResult(await self.get(user_id, rental.id))

    async def _repeat(self, user_id: int, token: str) -> Repeat:
        return repeat_of(await self.db.pending.of_token(user_id, token))

    # ------------------------------------------------------------------ the card

    async def opened(self, user_id: int, rental_id: int) -> Rental:
        """The user opened the rental's card: a live one is looked at now, then often for a
        while (an SMS they are waiting for shows within seconds). Returns the rental."""
        rental = await self.get(user_id, rental_id)
        if rental.live:
            await self.db.rentals.set_next_poll(rental.id, self.clock())
            self._changes.rental_opened(rental.id)
        return rental

    async def card_shown(self, rental_id: int, chat_id: int, message_id: int) -> None:
        """The message `message_id` in `chat_id` is now the rental's card: every later change
        (an SMS, the end, a reconciled extension) edits that message instead of sending one.
        Called once the chat has it, by the tap that drew it or by the tracker's notifier."""
        await self.db.rentals.set_card(rental_id, chat_id, message_id)

    # ------------------------------------------------------------------ SMS

    async def sync_sms(self, user_id: int, rental_id: int) -> list[RentalSms]:
        """Ask the provider for the rental's SMS and store the new ones (each exactly once)."""
        rental = await self.live(user_id, rental_id)
        key = await self.key_of(user_id, rental)
        status = await self._client(key).get_rent_status(rental.provider_id)
        # Oldest first (as the tracker sorts), so the newest SMS gets the highest id and
        # shows as "latest", and identical SMS get the same occurrence numbers in both places.
        ordered = sorted(status.messages, key=lambda m: m.date or "")
        stored: list[RentalSms] = []
        for dedup_key, message in rental_sms_keys(ordered):
            added = await self.db.rentals.add_sms(
                rental.id,
                dedup_key=dedup_key,
                phone_from=message.phone_from,
                text=message.text,
                date=message.date,
                received_at=self.clock(),
            )
            if added is not None:
                stored.append(added)
        return stored

    async def sms(
        self, user_id: int, rental_id: int, page: int = 0, *, per_page: int = SMS_PAGE_SIZE
    ) -> SmsPage:
        """One page of the rental's SMS, newest first; a live rental is synced first."""
        rental = await self.get(user_id, rental_id)
        fresh: set[int] = set()
        if rental.live:
            fresh = {s.id for s in await self.sync_sms(user_id, rental_id)}
        page = max(0, page)
        items, total = await self.db.rentals.list_sms(
            user_id, rental.id, offset=page * per_page, limit=per_page
        )
        # What this page shows whole has reached the chat: the tracker need not push it again.
        for item in items:
            if item.id in fresh and shown_whole(item.text):
                await self.db.rentals.mark_sms_delivered(item.id)
        pages = max(1, -(-total // per_page))
        return SmsPage(items, total, page, pages)

    async def latest_sms(self, user_id: int, rental_id: int) -> RentalSms | None:
        items, _ = await self.db.rentals.list_sms(user_id, rental_id, offset=0, limit=1)
        return items[0] if items else None

    async def refresh(self, user_id: int, rental_id: int) -> Rental:
        """Sync SMS now (for the Refresh button); returns the rental."""
        rental = await self.get(user_id, rental_id)
        if rental.live:
            # Asked for a fresh look: the tracker looks too, whatever the sync below finds.
            self._changes.rental_changed(rental.id)
            await self.sync_sms(user_id, rental_id)
        return rental

    async def rental_history(self, user_id: int, rental_id: int) -> list[RentHistoryItem]:
        """The provider's history of one rental: its periods (first rent, then extensions),
        asked of the key the rental was bought with (getRentHistory needs the rental's id)."""
        rental = await self.get(user_id, rental_id)
        key = await self.key_of(user_id, rental)
        return await self._client(key).get_rent_history(rental.provider_id)

    # ------------------------------------------------------------------ ending

    async def finish(self, user_id: int, rental_id: int) -> Rental:
        """setRentStatus 1: the rent ends now (paid time is not refunded)."""
        rental = await self.live(user_id, rental_id)
        key = await self.key_of(user_id, rental)
        try:
            await self._client(key).set_rent_status(rental.provider_id, 1)
        except ProviderError as error:
            await self._note_already_ended(rental, error)
            raise
        await self.db.rentals.set_status(rental.id, "finished", ended_at=self.clock())
        self._changes.rental_changed(rental.id)
        return await self.get(user_id, rental.id)

    async def cancellable(self, user_id: int, rental_id: int) -> Rental:
        """This user's live rental when a cancel may still be asked for (before the confirm
        screen); CancelRefused when what is stored already rules it out. `cancel` looks again."""
        rental = await self.live(user_id, rental_id)
        has_sms = await self.has_sms(user_id, rental.id)
        reason = cancel_block(rental, self.clock(), has_sms=has_sms)
        if reason is not None:
            raise CancelRefused(reason)
        return rental

    async def cancel(self, user_id: int, rental_id: int) -> Rental:
        """setRentStatus 2 (refund), only within the window and before any SMS."""
        rental = await self.live(user_id, rental_id)
        key = await self.key_of(user_id, rental)
        try:
            # An SMS the tracker has not seen yet would make the provider refuse: look first.
            await self.sync_sms(user_id, rental_id)
        except ProviderError:
            pass  # the provider itself is the final judge below
        reason = cancel_block(rental, self.clock(), has_sms=await self.has_sms(user_id, rental.id))
        if reason is not None:
            raise CancelRefused(reason)
        try:
            await self._client(key).set_rent_status(rental.provider_id, 2)
        except ProviderError as error:
            await self._note_already_ended(rental, error)
            raise
        await self.db.rentals.set_status(rental.id, "cancelled", ended_at=self.clock())
        self._changes.rental_changed(rental.id)
        return await self.get(user_id, rental.id)

    async def has_sms(self, user_id: int, rental_id: int) -> bool:
        _, total = await self.db.rentals.list_sms(user_id, rental_id, offset=0, limit=1)
        return total > 0

    async def _note_already_ended(self, rental: Rental, error: ProviderError) -> None:
        """The provider says the rent already ended: a definite fact, so store it."""
        ended = {"ALREADY_FINISH": "finished", "STATUS_FINISH": "finished"}.get(error.code)
        ended = ended or {"ALREADY_CANCEL": "cancelled", "STATUS_CANCEL": "cancelled"}.get(
            error.code
        )
        if ended is not None:
            await self.db.rentals.set_status(rental.id, ended, ended_at=self.clock())
            self._changes.rental_changed(rental.id)
