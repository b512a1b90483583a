"""The reconciler: purchases whose outcome is unknown, settled with the provider's proof.

A purchase intent is stored before the provider is called; when the answer was lost, the
intent stays open and is reconciled here until it resolves: the number the provider lists for
it is adopted (`adoption`), a rent or an extension that charged the balance is recorded, an
unchanged balance proves "not bought", and after `pending_timeout` without proof the user is
told the outcome could not be confirmed. At start, every key's live numbers the provider no
longer lists are closed once getStatus confirms it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from bot.metrics import Metrics
from bot.provider.client import ProviderClient
from bot.provider.errors import ActionNotSupported, ProviderError
from bot.provider.factory import ProviderFactory
from bot.provider.models import ActiveActivation, RentListItem
from bot.tracker.activations import ActivationWatcher
from bot.tracker.adoption import Adopter
from bot.tracker.config import TrackerConfig
from bot.tracker.outbox import Outbox
from bot.tracker.scheduler import KeyDown, KeyScheduler, KeyState
from storage import Database
from storage.models import Activation, KeyProfile, PendingPurchase, Rental

log = logging.getLogger(__name__)


def charged(intent: PendingPurchase, balance: Decimal) -> bool:
    """The balance dropped by the price the confirm screen showed (any drop when unknown)."""
    if intent.balance_before is None:
        return False
    drop = intent.balance_before - balance
    if drop <= 0:
        return False
    if intent.expected_cost is None:
        return True
    return abs(drop - intent.expected_cost) <= intent.expected_cost * Decimal("0.01")


class _ProviderReads:
    """The balance and the rent list, each read at most once per reconciliation of a key."""

    def __init__(self, keys: KeyScheduler, state: KeyState, client: ProviderClient) -> None:
        self._keys = keys
        self._state = state
        self._client = client
        self._balance: list[Decimal | None] = []
        self._rentals: list[list[RentListItem] | None] = []
        self.rent_list_missing = False  # the provider has no getRentList (BAD_ACTION)

    async def balance(self) -> Decimal | None:
        if not self._balance:
            try:
                read = await self._keys.call(self._state, self._client.get_balance)
                self._balance.append(read.amount)
            except ProviderError:
                self._balance.append(None)
        return self._balance[0]

    async def rentals(self) -> list[RentListItem] | None:
        """The key's rentals (getRentList); None when the provider has none or it failed."""
        if not self._rentals:
            self._rentals.append(await self._list_rentals())
        return self._rentals[0]

    async def _list_rentals(self) -> list[RentListItem] | None:
        if not self._client.supports("getRentList"):
            self.rent_list_missing = True
            return None
        try:
            return await self._keys.call(
                self._state, self._client.get_rent_list, fault_stops_key=False
            )
        except ActionNotSupported:
            self.rent_list_missing = True
            return None
        except ProviderError:
            return None


class Reconciler:
    def __init__(
        self,
        db: Database,
        providers: ProviderFactory,
        keys: KeyScheduler,
        activations: ActivationWatcher,
        adopter: Adopter,
        outbox: Outbox,
        config: TrackerConfig,
        clock: Callable[[], float],
        metrics: Metrics,
    ) -> None:
        self._db = db
        self._providers = providers
        self._keys = keys
        self._activations = activations
        self._adopter = adopter
        self._outbox = outbox
        self._config = config
        self._clock = clock
        self._metrics = metrics
        # Open purchase intents: (checks so far, next check not before) — back-off per intent.
        self._intent_next: dict[int, tuple[int, float]] = {}

    # ------------------------------------------------------------------ at start

    async def reconcile_safely(
        self, key: KeyProfile, intents: list[PendingPurchase], live: list[Activation]
    ) -> None:
        """reconcile_key within the key's time limit; a failure is logged, never raised."""
        try:
            async with asyncio.timeout(self._config.key_timeout):
                await self.reconcile_key(key, intents, live)
        except (KeyDown, TimeoutError):
            log.warning("tracker: could not reconcile key %s now", key.id)
        except Exception:
            log.exception("tracker: reconciling key %s failed", key.id)

    async def reconcile_key(
        self, key: KeyProfile, intents: list[PendingPurchase], live: list[Activation]
    ) -> None:
        """Adopt the numbers the provider has that open purchase intents of this bot bought
        (the user is told in the intent's "checking" message); close the ones the database has
        live and the provider no longer lists, once getStatus confirms. Numbers that match no
        intent (bought elsewhere with the same key) are left alone. `intents` and `live`: the
        key's open intents and live numbers, read once at start for every key together."""
        client = self._providers.client(key.base_url, key.api_key, background=True)
        state = self._keys.state(key.id)
        listing = await self._keys.list_active(state, client)
        if listing is None:
            return
        now = self._clock()
        due = [p for p in intents if p.key_id == key.id and self._reconcilable(p, now)]
        self._settled(await self._adopter.adopt_listed(key, listing, due, now))
        # The same listing is the key's first poll: the numbers it shows are decided from it
        # (and scheduled together); the ones it no longer shows are asked with getStatus.
        listed = {item.activation_id for item in listing}
        unlisted = [a for a in live if a.provider_id not in listed]
        await self._activations.poll(key, client, state, unlisted, listing, now)

    # ------------------------------------------------------------------ purchase intents

    def _reconcilable(self, intent: PendingPurchase, now: float) -> bool:
        """Its provider call ended without an answer a little while ago (the handler has said
        "checking" by then, so the result never lands under that message), or it is a
        crash's leftover."""
        if intent.unknown_at is not None:
            return now >= intent.unknown_at + self._config.intent_settle
        return now >= intent.created_at + self._config.intent_in_flight

    def intent_due(self, intent: PendingPurchase, now: float) -> bool:
        if not self._reconcilable(intent, now):
            return False
        return now >= self._intent_next.get(intent.id, (0, float("-inf")))[1]

    def _back_off(self, intent: PendingPurchase, now: float) -> None:
        checks = self._intent_next.get(intent.id, (0, 0.0))[0]
        delay = min(self._config.reconcile_max, self._config.reconcile_every * 2**checks)
        self._intent_next[intent.id] = (checks + 1, now + delay)

    def _settled(self, intent_ids: set[int]) -> None:
        for intent_id in intent_ids:
            self._intent_next.pop(intent_id, None)

    async def reconcile_intents(
        self,
        key: KeyProfile,
        client: ProviderClient,
        state: KeyState,
        intents: list[PendingPurchase],
        listing: list[ActiveActivation] | None,
        listed_at: float,
    ) -> None:
        """One reconciliation of the key's due intents: adopt what the listing shows for them,
        then settle the rest by proof (listing + balance), or back off and look again."""
        open_ones = list(intents)
        if listing is not None:
            adopted = await self._adopter.adopt_listed(key, listing, open_ones, listed_at)
            self._settled(adopted)
            open_ones = [p for p in open_ones if p.id not in adopted]
        reads = _ProviderReads(self._keys, state, client)
        for intent in open_ones:
            if await self._settle(key, intent, listing, listed_at, reads):
                self._settled({intent.id})
                continue
            if listed_at - intent.created_at >= self._config.pending_timeout:
                await self._close(intent, "unknown")
                continue
            self._back_off(intent, listed_at)

    async def _settle(
        self,
        key: KeyProfile,
        intent: PendingPurchase,
        listing: list[ActiveActivation] | None,
        listed_at: float,
        reads: _ProviderReads,
    ) -> bool:
        """Resolve an intent the listing did not match when the provider's answers prove the
        outcome; True when resolved.

        "Not bought" needs: a read after the outcome became unknown (plus the settle time)
        AND the balance unchanged since just before the purchase; for an activation also a
        successful listing without it (the caller adopted every match). Grizzly lists no
        rentals (its getRentHistory needs a rent id), so for a rental the balance tells:
        unchanged = not charged; dropped by the price shown = charged (an extension is then
        recorded). A new rent is looked up where the provider lists rentals (getRentList, with
        a snapshot taken just before the purchase): the one new rental is adopted; else the
        user is told the charge and where to find the number."""
        since = intent.unknown_at if intent.unknown_at is not None else intent.created_at
        if listed_at < since + self._config.intent_settle or intent.balance_before is None:
            return False
        if intent.kind == "activation" and listing is None:
            return False
        now_balance = await reads.balance()
        if now_balance is None:
            return False
        if now_balance == intent.balance_before:
            await self._close(intent, "not_bought")
            return True
        if intent.kind == "activation" or not charged(intent, now_balance):
            return False  # something else moved the balance: keep looking
        if intent.kind == "extend":
            return await self._record_extension(key, intent)
        if intent.rent_snapshot is not None:
            return await self._find_rental(key, intent, listed_at, reads)
        await self._close(intent, "bought")
        return True

    # ------------------------------------------------------------------ rentals

    async def _find_rental(
        self, key: KeyProfile, intent: PendingPurchase, now: float, reads: _ProviderReads
    ) -> bool:
        """A rent charged the price shown and the key's rentals were listed just before it:
        adopt the one rental new since then. Several new ones (the key rented elsewhere at the
        same moment) are never guessed between: the user is told the charge and where to find
        the number. None yet, or a failed list: look again later."""
        listed = await reads.rentals()
        if listed is None:
            if reads.rent_list_missing:  # no list after all: the balance tells
                await self._close(replace(intent, rent_snapshot=None), "bought")
                return True
            return False
        candidates = [item for item in listed if await self._may_be_the_rent(key, intent, item)]
        if not candidates:
            return False  # charged, but not listed yet: look again (given up as "unknown")
        if len(candidates) > 1:
            await self._close(intent, "bought")
            return True
        await self._adopt_rental(key, intent, candidates[0], now)
        return True

    async def _may_be_the_rent(
        self, key: KeyProfile, intent: PendingPurchase, item: RentListItem
    ) -> bool:
        """Listed now, not before the purchase, not stored, and (where the list says) of the
        hours and price the user confirmed."""
        if intent.rent_snapshot is None or item.rent_id in intent.rent_snapshot:
            return False
        if item.hours is not None and intent.hours and item.hours != intent.hours:
            return False
        cost = intent.expected_cost
        if item.price is not None and cost is not None and abs(item.price - cost) > cost / 100:
            return False
        return await self._db.rentals.get_by_provider_id(key.id, item.rent_id) is None

    async def _adopt_rental(
        self, key: KeyProfile, intent: PendingPurchase, item: RentListItem, now: float
    ) -> None:
        """Store the rental a lost rent answer bought and show its card in the intent's
        "checking" message; from then on it is polled like any rental (its SMS delivered)."""
        hours = int(intent.hours or 0)
        # The rent happened after the intent was written: counting from the intent can only
        # end the tracking early, never after the provider's end.
        ends_at = item.ends_at if item.ends_at is not None else intent.created_at + hours * 3600
        rental = await self._db.rentals.add(
            user_id=intent.user_id,
            key_id=key.id,
            provider_id=item.rent_id,
            service=intent.service,
            country=intent.country,
            phone=item.phone.lstrip("+"),
            hours=hours,
            cost=intent.expected_cost,  # the balance dropped by this price
            created_at=intent.created_at,
            ends_at=ends_at,
            chat_id=intent.chat_id if intent.chat_id is not None else intent.user_id,
            next_poll_at=now,
            currency=key.currency,
            intent_id=intent.id,
        )
        self._settled({intent.id})
        self._metrics.adopted.inc()
        log.info("tracker: adopted rental %s of key %s", rental.id, key.id)
        await self._show_in_checking_message(intent, rental)

    async def _record_extension(self, key: KeyProfile, intent: PendingPurchase) -> bool:
        rental = (
            None if intent.rental_id is None else await self._db.rentals.get_any(intent.rental_id)
        )
        if rental is None or not intent.hours:
            return False
        ends_at = rental.ends_at + int(intent.hours) * 3600
        await self._db.rentals.extend(
            rental.id,
            ends_at,
            int(intent.hours),
            cost=intent.expected_cost,  # the balance dropped by this price
            currency=key.currency,
            intent_id=intent.id,
        )
        fresh = await self._db.rentals.get_any(rental.id)
        if fresh is not None:
            await self._show_in_checking_message(intent, fresh)
        return True

    async def _show_in_checking_message(self, intent: PendingPurchase, rental: Rental) -> None:
        """The rental's card replaces the intent's "checking" message (when it has one)."""
        if intent.message_id is not None:
            chat = intent.chat_id if intent.chat_id is not None else intent.user_id
            await self._db.rentals.set_card(rental.id, chat, intent.message_id)
            rental.chat_id, rental.message_id = chat, intent.message_id
        await self._outbox.tell(
            rental.user_id,
            rental.key_id,
            lambda to: self._outbox.notifier.rental_changed(rental, to),
        )

    async def _close(self, intent: PendingPurchase, outcome: str) -> None:
        """Close an intent without a stored number and tell the user (in its message)."""
        self._settled({intent.id})
        if not await self._db.pending.resolve(intent.id, outcome):
            return  # resolved meanwhile (by the purchase itself, or another worker)
        closed = replace(intent, outcome=outcome)
        await self._outbox.tell(
            closed.user_id,
            closed.key_id,
            lambda to: self._outbox.notifier.pending_unresolved(closed, to),
        )
