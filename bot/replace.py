"""Auto-replace: a number that got no code within N minutes is cancelled and another of the same
offer bought, up to K numbers and a spending cap, all held in the database.

The tracker cancels a chain's silent number (its deadline comes from `silent_deadlines`, the
early-cancel lock respected) and tells `number_ended`; whether the chain buys again is decided
by ONE rule, `stop_reason`, applied to the chain's row under the write lock when the step is
reserved (`ChainRepo.reserve`), so two processes, two chains on one key or a restart cannot
buy past the cap. The purchase itself is `OrderService.buy` under a token issued for exactly
that offer (the intent written before the provider is called, an unknown outcome reconciled):
there is no second purchase path. A number with a code is never cancelled (the tracker's
cancel rule) and ends the chain.

Several tracker workers: a chain is stepped, resumed and settled only by the worker holding
its key's lease (the tracker passes `holds`); a worker that takes a key over resumes that
key's chains, settling a step the previous holder left in flight. A step that stopped before
its intent is proved not bought by withdrawing its token (it can then never buy), and every
write that settles a step names it by its token, so a late worker changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from bot.catalog import CatalogService
from bot.changes import Change, Changed, Changes
from bot.errors import NoActiveKey, NotFound, Stale
from bot.orders import OrderService
from bot.provider.errors import ProviderError
from bot.provider.models import ANY_NUMBER, PurchaseFilter
from storage import Database
from storage.chains import (
    CHAIN_ACTIVE,
    CHAIN_BUYING,
    CHAIN_CHECKING,
    ReplaceChain,
    ReplaceDefaults,
    ReplaceEvent,
    ReplaceStep,
)
from storage.models import Activation

log = logging.getLogger(__name__)

# The choices the settings screen and the confirm screen offer (anything else is Stale).
AFTER_CHOICES: tuple[int, ...] = (120, 180, 300, 600, 900)  # seconds without a code
ATTEMPT_CHOICES: tuple[int, ...] = (2, 3, 4, 5)  # numbers a chain buys at most, the first too
CAP_CHOICES: tuple[Decimal | None, ...] = (
    None,  # attempts x the price: the attempts alone bound it
    *(Decimal(v) for v in ("1", "2", "5", "10", "20", "50", "100", "500")),
)
# Provider refusals that end a chain with their own message; any other code is "refused".
REFUSALS: frozenset[str] = frozenset(
    {"NO_BALANCE", "BANNED", "CHANNELS_LIMIT", "NO_NUMBERS", "WRONG_MAX_PRICE"}
)
# Why a chain ended, as its owner is told (a closed set: the locale ids are built from it).
TOLD: frozenset[str] = REFUSALS | {"cap", "attempts", "unknown", "refused", "error"}
STEPS_AT_ONCE = 8  # purchases chains make at once in one process


def stop_reason(chain: ReplaceChain, ended: Activation) -> str | None:
    """THE rule: must the chain end instead of buying again after `ended` (the number it was
    on) ended? None: buy the next. Applied to the row as stored, under the write lock."""
    if ended.codes or ended.status == "finished":
        return "code"  # it worked (or the user is done with it): nothing to replace
    if ended.status not in ("cancelled", "expired"):
        return "user"
    if chain.attempts_used >= chain.attempts_max:
        return "attempts"
    price = chain.max_price
    if price is None:
        return "error"  # no bound: the cap could not be held
    if chain.spent + price > chain.cap:
        return "cap"
    return None


def refusal_reason(error: ProviderError) -> str:
    return error.code if error.code in REFUSALS else "refused"


def every_key(_key_id: int) -> bool:
    """One process does all the work: every chain is its own."""
    return True


class ReplaceService:
    def __init__(
        self,
        db: Database,
        orders: OrderService,
        clock: Callable[[], float] = time.time,
        *,
        changes: Changes | None = None,
        catalog: CatalogService | None = None,
    ) -> None:
        self._db = db
        self._orders = orders
        self._catalog = catalog  # the next cheapest country after NO_NUMBERS
        self._clock = clock
        self._changes = changes or Changes()
        # Chains whose step waits for its purchase intent to resolve (bounded by the chains).
        self._waiting: set[int] = set()
        # Chains whose step is buying in this process now: `settle` leaves them alone.
        self._in_flight: set[int] = set()
        self._steps = asyncio.Semaphore(STEPS_AT_ONCE)
        # Whether any chain runs (None: not read yet). Until one does, the tracker's reads of
        # deadlines cost no query: most bots never start a chain.
        self._chains_run: bool | None = None
        self._changes.listen(self._heard)

    def _heard(self, change: Change) -> None:
        """A number changed, maybe in another process (the web role starts chains a tracker
        worker runs): "no chain runs" is asked again at the next read of deadlines."""
        if change.kind is Changed.ACTIVATION and self._chains_run is False:
            self._chains_run = None

    # ------------------------------------------------------------------ the user's defaults

    async def defaults(self, user_id: int) -> ReplaceDefaults:
        return await self._db.chains.defaults(user_id)

    async def set_enabled(self, user_id: int, enabled: bool) -> ReplaceDefaults:
        current = await self.defaults(user_id)
        return await self._save(user_id, replace(current, enabled=enabled))

    async def set_after(self, user_id: int, seconds: int) -> ReplaceDefaults:
        if seconds not in AFTER_CHOICES:
            raise Stale()
        return await self._save(user_id, replace(await self.defaults(user_id), after=seconds))

    async def set_attempts(self, user_id: int, attempts: int) -> ReplaceDefaults:
        if attempts not in ATTEMPT_CHOICES:
            raise Stale()
        current = await self.defaults(user_id)
        return await self._save(user_id, replace(current, attempts=attempts))

    async def set_cap(self, user_id: int, cap: Decimal | None) -> ReplaceDefaults:
        if cap not in CAP_CHOICES:
            raise Stale()
        return await self._save(user_id, replace(await self.defaults(user_id), cap=cap))

    async def set_next_country(self, user_id: int, enabled: bool) -> ReplaceDefaults:
        current = await self.defaults(user_id)
        return await self._save(user_id, replace(current, next_country=enabled))

    async def _save(self, user_id: int, updated: ReplaceDefaults) -> ReplaceDefaults:
        return await self._db.chains.set_defaults(user_id, updated)

    # ------------------------------------------------------------------ a chain's life

    async def start(
        self,
        user_id: int,
        activation: Activation,
        *,
        max_price: Decimal | None,
        choice: PurchaseFilter = ANY_NUMBER,
    ) -> ReplaceChain | None:
        """Put a number just bought at the head of a chain, with the owner's defaults. Every
        later number is bought at most at the offer's max price (else at what this one cost),
        so the cap holds whatever the provider's prices do, and from the suppliers `choice`
        allowed the first. None when no bound is known."""
        if activation.user_id != user_id:
            raise NotFound()
        bound = max_price if max_price is not None else activation.cost
        if bound is None or bound <= 0:
            return None
        settings = await self.defaults(user_id)
        cap = settings.cap if settings.cap is not None else bound * settings.attempts
        chain = await self._db.chains.start(
            user_id=user_id,
            key_id=activation.key_id,
            activation_id=activation.id,
            service=activation.service,
            country=activation.country,
            max_price=bound,
            chat_id=activation.chat_id,
            after=settings.after,
            attempts_max=settings.attempts,
            cap=cap,
            spent=activation.cost if activation.cost is not None else bound,
            next_country=settings.next_country,
            choice=choice.code(),
        )
        if chain is not None:
            self._chains_run = True
            self._changes.activation_changed(activation.id)  # the tracker reads its deadline
        return chain

    async def stop(self, user_id: int, activation_id: int) -> Activation:
        """The card's "Stop auto-replace": the number stays, nothing more is bought."""
        activation = await self._orders.get(user_id, activation_id)
        if activation is None:
            raise NotFound()
        if not await self._db.chains.end_on(activation_id, "user"):
            raise Stale()
        self._changes.activation_changed(activation_id)
        return activation

    async def step_of(self, activation: Activation) -> ReplaceStep | None:
        return await self._db.chains.step_of(activation.id)

    # ------------------------------------------------------------------ the tracker's port

    async def silent_deadlines(self, activation_ids: list[int]) -> dict[int, float]:
        if self._chains_run is None:
            self._chains_run = await self._db.chains.any_running()
        if not self._chains_run:
            return {}
        return await self._db.chains.silent_deadlines(activation_ids)

    async def number_ended(self, activation: Activation) -> ReplaceEvent | None:
        """A number ended (the tracker saw it): if a running chain was on it, buy the next one
        or end the chain. The event says what the owner should hear (None: nothing)."""
        step = await self._db.chains.step_of(activation.id)
        if step is None or step.chain.state != CHAIN_ACTIVE:
            return None
        if step.chain.activation_id != activation.id:
            return None
        return await self._step(step.chain, activation)

    async def resume(self, holds: Callable[[int], bool] = every_key) -> list[ReplaceEvent]:
        """At start, or when a worker takes keys over (`holds`: the keys whose chains are
        this process's): each chain goes on where it stopped. One on a live number waits for
        its deadline (the tracker holds it); one whose number ended meanwhile steps now; one
        whose purchase was in flight waits for its intent to be reconciled first (`settle`)."""
        events: list[ReplaceEvent] = []
        for chain in await self._db.chains.running():
            if not holds(chain.key_id):
                continue  # another worker's: it resumes it
            if chain.state in (CHAIN_BUYING, CHAIN_CHECKING):
                self._waiting.add(chain.id)
                continue
            if chain.activation_id is None:
                continue
            current = await self._db.activations.get_any(chain.activation_id)
            if current is None:
                await self._db.chains.end(chain.id, "error")
            elif not current.live:
                event = await self._step(chain, current)
                if event is not None:
                    events.append(event)
        return events

    @property
    def waiting(self) -> bool:
        """Some chain waits for a purchase intent to resolve (`settle` has work)."""
        return bool(self._waiting)

    async def settle(self, holds: Callable[[int], bool] = every_key) -> list[ReplaceEvent]:
        """Chains whose step's outcome was unknown: once its intent resolved, the number it
        bought joins the chain, or (proved not bought) the chain steps again; given up, the
        chain ends with the reservation counted as spent. A chain whose key this process no
        longer `holds` is left to the worker that does (it resumed it on taking the key)."""
        events: list[ReplaceEvent] = []
        for chain_id in sorted(self._waiting - self._in_flight):
            chain = await self._db.chains.get(chain_id)
            if chain is None or chain.state not in (CHAIN_BUYING, CHAIN_CHECKING):
                self._waiting.discard(chain_id)
                continue
            if not holds(chain.key_id):
                self._waiting.discard(chain_id)
                continue
            event = await self._settle_one(chain)
            if event is not None:
                events.append(event)
        return events

    async def _settle_one(self, chain: ReplaceChain) -> ReplaceEvent | None:
        step = chain.step_token
        intent = None
        if chain.intent_id is not None:
            intent = await self._db.pending.get(chain.intent_id)
        elif step is not None:
            intent = await self._db.pending.of_token(chain.user_id, step)
            if intent is None:
                # No intent yet: the step stopped before it, or (another worker that lost the
                # key mid-step) is about to write it. Withdrawn, the token can never buy; the
                # claim and the intent are one transaction, so an intent not there now never
                # will be.
                await self._db.tokens.withdraw([step], chain.user_id)
                intent = await self._db.pending.of_token(chain.user_id, step)
        if intent is not None and intent.outcome is None:
            return None  # the reconciler is on it
        self._waiting.discard(chain.id)
        if intent is None or intent.outcome == "not_bought":
            # Nothing was bought (the step stopped before its intent, or it was proved):
            # the chain is back on the number it meant to replace, which ended.
            if not await self._db.chains.not_bought(chain.id, step=step):
                return None
            if chain.activation_id is None:
                return None
            previous = await self._db.activations.get_any(chain.activation_id)
            return None if previous is None else await self._step(chain, previous)
        if intent.outcome == "bought" and intent.provider_id is not None:
            bought = await self._db.activations.get_by_provider_id(chain.key_id, intent.provider_id)
            if bought is not None:
                return await self._joined(chain, bought)
        # Given up, or bought but nowhere to be seen: nobody can tell; count it as spent.
        if not await self._db.chains.end(chain.id, "unknown", keep_reserved=True, step=step):
            return None
        return await self._told(chain.id)

    # ------------------------------------------------------------------ one step

    async def _step(self, chain: ReplaceChain, ended: Activation) -> ReplaceEvent | None:
        """Reserve, then buy, the number after `ended` (or end the chain by the rule)."""
        async with self._steps:
            self._in_flight.add(chain.id)
            try:
                return await self._guarded_step(chain, ended)
            finally:
                self._in_flight.discard(chain.id)

    async def _guarded_step(self, chain: ReplaceChain, ended: Activation) -> ReplaceEvent | None:
        bound = chain.max_price
        choice = PurchaseFilter.parse(chain.choice) or ANY_NUMBER
        token = await self._orders.offer_token(
            chain.user_id,
            service=chain.service,
            country=chain.country,
            max_price=bound,
            price=bound,
            choice=choice,
        )
        reserved, reason = await self._db.chains.reserve(
            chain.id,
            on_activation=ended.id,
            token=token,
            stop=lambda row: stop_reason(row, ended),
        )
        if reserved is None:
            return None if reason is None else await self._told(chain.id)
        self._waiting.add(chain.id)  # until this step settles, in this process or the next
        try:
            result = await self._orders.buy(
                chain.user_id,
                token=token,
                service=chain.service,
                country=chain.country,
                max_price=bound,
                chat_id=chain.chat_id if chain.chat_id is not None else chain.user_id,
                key_id=chain.key_id,
                choice=choice,
            )
        except ProviderError as error:  # a definite refusal: nothing was bought
            self._waiting.discard(chain.id)
            if error.code == "NO_NUMBERS" and reserved.next_country:
                moved = await self._moved_on(reserved)
                if moved is not None:  # the same step in the next country (K bounds it)
                    return await self._guarded_step(moved, ended)
            return await self._ended(chain.id, refusal_reason(error), token)
        except NoActiveKey as error:  # the key is gone: nothing was asked
            log.info("auto-replace step not made (%s)", type(error).__name__)
            self._waiting.discard(chain.id)
            return await self._ended(chain.id, "error", token)
        if result.activation is not None:
            self._waiting.discard(chain.id)
            return await self._joined(reserved, result.activation)
        if result.pending and result.intent is not None:
            await self._db.chains.checking(chain.id, result.intent.id, step=token)
            return None  # settled once the reconciler resolves the intent
        self._waiting.discard(chain.id)
        if result.duplicate:
            # Claimed already: the worker that took this chain's key over withdrew the token
            # (this step never bought) and goes on with the chain itself.
            return None
        # The token was refused (it was issued just above): nothing was bought.
        return await self._ended(chain.id, "error", token)

    async def _ended(self, chain_id: int, reason: str, step: str) -> ReplaceEvent | None:
        """The step proved it bought nothing and the chain ends (if still on that step)."""
        if not await self._db.chains.end(chain_id, reason, release=True, step=step):
            return None
        return await self._told(chain_id)

    async def _moved_on(self, chain: ReplaceChain) -> ReplaceChain | None:
        """After NO_NUMBERS: the chain moved to the cheapest other country in stock at no more
        than its max price (never one it left before), or None when there is none."""
        key = await self._db.keys.get(chain.user_id, chain.key_id)
        if key is None or self._catalog is None or chain.max_price is None:
            return None
        self._catalog.forget_prices(key, chain.service)  # the stock it showed was stale
        try:
            offers = await self._catalog.offers(key, chain.service)
        except ProviderError:
            return None
        left = {chain.country, *chain.countries_tried}
        for offer in offers:  # cheapest first
            if offer.country not in left and offer.cost <= chain.max_price:
                moving = await self._db.chains.move_country(
                    chain.id, offer.country, step=chain.step_token
                )
                if not moving:
                    return None
                return await self._db.chains.get(chain.id)
        return None

    async def _joined(self, chain: ReplaceChain, bought: Activation) -> ReplaceEvent | None:
        cost = bought.cost if bought.cost is not None else chain.reserved or chain.max_price
        assert cost is not None  # a step always has its bound
        if not await self._db.chains.bought(chain.id, bought.id, cost, step=chain.step_token):
            return None
        self._changes.activation_changed(bought.id)  # the tracker reads its deadline
        fresh = await self._db.chains.get(chain.id)
        return None if fresh is None else ReplaceEvent(fresh, bought=bought)

    async def _told(self, chain_id: int) -> ReplaceEvent | None:
        chain = await self._db.chains.get(chain_id)
        if chain is None or chain.reason not in TOLD:
            return None
        return ReplaceEvent(chain)
