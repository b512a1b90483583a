"""OrderService: buying one-time activation numbers and driving them to their end.

Money rules (see DESIGN.md): one confirmation buys at most one number, and only the offer it
showed (the token issued with the confirm screen is claimed, and the purchase intent written,
in one transaction BEFORE the provider is called); a purchase is never retried; an unknown
outcome leaves the open intent for the tracker to reconcile; a bought number is stored (its
intent resolved in the same transaction) before anyone is told; the early-cancel lock is
respected by scheduling the cancel.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from bot.activation_status import (
    CODE_ARRIVED,
    GONE,
    PENDING_ANOTHER,
    PENDING_CANCEL,
    StatusAnswer,
    Stored,
    answer_from_error,
    decide,
    outcome_unknown,
    store_decision,
)
from bot.changes import Changes
from bot.errors import CodeReceived, NoActiveKey, NotFound
from bot.low_balance import LowBalanceService
from bot.provider.client import ProviderClient
from bot.provider.errors import ProviderError, UnknownOutcome
from bot.provider.factory import ProviderFactory
from bot.provider.models import ANY_NUMBER, ActivationStatus, PurchaseFilter
from storage import Activation, Database, KeyProfile, PendingPurchase, User
from storage.chains import CardMarks
from storage.tokens import batch_token, offer_key

log = logging.getLogger(__name__)

# When the provider does not say (getNumber V1), the protocol's usual figures.
DEFAULT_LIFETIME = 1200.0
DEFAULT_CANCEL_LOCK = 120.0


@dataclass(frozen=True, slots=True)
class BuyResult:
    activation: Activation | None
    duplicate: bool = False  # the token had been claimed already: nothing bought
    pending: bool = False  # unknown outcome: the open intent awaits reconciliation
    stale: bool = False  # the token was never issued for this user and offer, or expired
    intent: PendingPurchase | None = None
    # With `duplicate`: the purchase the token started is still running in this process (a
    # tap while it runs hears "still buying", one after it "already done").
    in_progress: bool = False
    # The key it was bought with, as stored now (a purchase may have named its currency).
    key: KeyProfile | None = None


Progress = Callable[[], Awaitable[None]]  # told once the purchase is claimed, before the call
Bought = Callable[[Activation], Awaitable[None]]  # told of each number of a batch once stored

# Numbers one confirmation may buy (several at once).
MAX_QUANTITY = 10


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one confirmation of several numbers did."""

    quantity: int
    bought: list[Activation] = field(default_factory=list)
    pending: int = 0  # numbers whose purchase answer was lost (their intents reconcile)
    error: ProviderError | None = None  # the refusal that stopped the batch
    duplicate: bool = False  # the lead token had been claimed already: nothing bought
    stale: bool = False
    in_progress: bool = False

    @property
    def complete(self) -> bool:
        return len(self.bought) == self.quantity


def _offer(
    service: str,
    country: str,
    max_price: Decimal | None,
    choice: PurchaseFilter,
    quantity: int,
) -> str:
    """The offer a token of the activation confirm screen binds (one place for both ends)."""
    return offer_key(
        "activation",
        service=service,
        country=country,
        max_price=max_price,
        choice=choice.code(),
        quantity=quantity,
    )


async def _tell(on_bought: Bought, activation: Activation) -> None:
    """A card that fails to draw must not stop the batch: the number is stored, the tracker
    delivers its code all the same."""
    try:
        await on_bought(activation)
    except Exception as error:
        log.info("card of a batch number not shown (%s)", type(error).__name__)


@dataclass(frozen=True, slots=True)
class CancelResult:
    activation: Activation
    scheduled: bool  # inside the early-cancel lock: the tracker cancels when it opens
    checking: bool = False  # the answer was lost: the tracker's next poll tells what happened


async def note_balance_before(
    db: Database, client: ProviderClient, intent: PendingPurchase
) -> None:
    """Read the key's balance just before a purchase and keep it on the intent: only an
    unchanged balance (with listings that do not show the number) proves that a purchase with
    an unknown outcome charged nothing. Without it the bot can never say "not charged"."""
    try:
        balance = await client.get_balance()
    except asyncio.CancelledError:
        raise
    except Exception as error:  # the purchase goes on; reconciliation just knows less
        log.info("balance before purchase unavailable (%s)", type(error).__name__)
        return
    intent.balance_before = balance.amount
    await db.pending.set_balance_before(intent.id, balance.amount)


class OrderService:
    def __init__(
        self,
        db: Database,
        providers: ProviderFactory,
        clock: Callable[[], float] = time.time,
        *,
        changes: Changes | None = None,
        low_balance: LowBalanceService | None = None,
    ) -> None:
        self._db = db
        self._providers = providers
        self._clock = clock
        self._changes = changes or Changes()  # tells the tracker what changed
        self._low_balance = low_balance or LowBalanceService(db, clock)
        # Tokens whose purchase is running now: one entry per purchase in flight, removed when
        # it returns, so it is bounded by the purchases running at once.
        self._buying: set[str] = set()

    # ------------------------------------------------------------------ buying

    async def offer_token(
        self,
        user_id: int,
        *,
        service: str,
        country: str,
        max_price: Decimal | None,
        price: Decimal | None = None,
        choice: PurchaseFilter = ANY_NUMBER,
        quantity: int = 1,
    ) -> str:
        """A one-time token for the confirm screen of this offer (see `buy`); `price` is the
        price the screen shows, kept for a number whose purchase answer is lost. For several
        numbers (`buy_several`) it is the lead token of a batch: one token per number."""
        offer = _offer(service, country, max_price, choice, quantity)
        if quantity > 1:
            return await self._db.tokens.issue_batch(user_id, offer, quantity, price=price)
        return await self._db.tokens.issue(user_id, offer, price=price)

    async def buy(
        self,
        user_id: int,
        *,
        token: str,
        service: str,
        country: str,
        max_price: Decimal | None,
        chat_id: int,
        message_id: int | None = None,
        expected_cost: Decimal | None = None,
        progress: Progress | None = None,
        choice: PurchaseFilter = ANY_NUMBER,
        quantity: int = 1,
        key_id: int | None = None,
        known: KeyProfile | None = None,
    ) -> BuyResult:
        """Buy one number under a token issued for exactly this offer (`quantity`: of the
        batch the token belongs to, see `buy_several`). ProviderError (a
        definite refusal) propagates; UnknownOutcome becomes BuyResult(pending=True), whose
        open intent the tracker reconciles (and whose result edits `message_id`). `progress`
        is awaited once the token is claimed, before the provider is called (the chat says
        "buying…"); only the tap that bought calls it, never a duplicate. `key_id`: buy with
        that key of the user's (an auto-replace chain stays on its key), else the active one;
        `known`: the user's active key as this update read it (not read again when it is that
        key)."""
        key = await self._key_to_buy_with(user_id, key_id, known)
        if key is None:
            raise NoActiveKey()
        # The token is claimed and the intent written in one transaction BEFORE the provider
        # is called: a second tap, a resent update or another bot instance finds the token
        # taken and buys nothing; a crash during the call leaves the intent to reconcile.
        claim, intent = await self._db.pending.open(
            token=token,
            offer=_offer(service, country, max_price, choice, quantity),
            user_id=user_id,
            key_id=key.id,
            kind="activation",
            service=service,
            country=country,
            chat_id=chat_id,
            message_id=message_id,
            max_price=max_price,
            expected_cost=expected_cost,
        )
        if intent is None:
            running = token in self._buying
            return BuyResult(
                None, duplicate=claim == "used", stale=claim == "stale", in_progress=running
            )
        self._buying.add(token)
        try:
            return await self._buy_claimed(
                user_id,
                key,
                intent,
                service=service,
                country=country,
                max_price=max_price,
                chat_id=chat_id,
                progress=progress,
                choice=choice,
            )
        finally:
            self._buying.discard(token)

    async def _key_to_buy_with(
        self, user_id: int, key_id: int | None, known: KeyProfile | None
    ) -> KeyProfile | None:
        if known is not None and known.user_id == user_id and not known.deleted:
            chosen = known.id == key_id if key_id is not None else known.active
            if chosen:
                return known
        if key_id is None:
            return await self._db.keys.get_active(user_id)
        return await self._db.keys.get(user_id, key_id)

    async def _buy_claimed(
        self,
        user_id: int,
        key: KeyProfile,
        intent: PendingPurchase,
        *,
        service: str,
        country: str,
        max_price: Decimal | None,
        chat_id: int,
        progress: Progress | None,
        choice: PurchaseFilter,
    ) -> BuyResult:
        """The purchase after its token is claimed and its intent written."""
        if progress is not None:
            try:
                await progress()
            except Exception as error:  # a notice on screen must never stop a claimed purchase
                log.info("purchase progress not shown (%s)", type(error).__name__)
        client = self._providers.client(key.base_url, key.api_key)
        await note_balance_before(self._db, client, intent)
        try:
            purchase = await client.buy_activation(
                service, country, max_price=max_price, choice=choice
            )
        except UnknownOutcome as error:
            log.warning("purchase outcome unknown for user %s (%s)", user_id, error.code)
            await self._db.pending.mark_unknown(intent.id)
            self._changes.purchase_unknown(intent.id)
            return BuyResult(None, pending=True, intent=intent)
        except ProviderError:
            await self._db.pending.resolve(intent.id, "not_bought")
            raise
        # Deadlines from the local clock at receipt: provider timestamps carry no zone.
        received_at = self._clock()
        lifetime = purchase.lifetime if purchase.lifetime and purchase.lifetime > 0 else None
        lock = purchase.cancel_lock if purchase.cancel_lock is not None else None
        if lock is not None and lock < 0:
            lock = None
        activation = await self._db.activations.add(
            user_id=user_id,
            key_id=key.id,
            provider_id=purchase.activation_id,
            service=service,
            country=purchase.country or country,
            phone=purchase.phone.lstrip("+"),
            # getNumber (V1) says no price: the one the confirm screen showed (kept with the token).
            cost=purchase.cost if purchase.cost is not None else intent.expected_cost,
            currency=purchase.currency or key.currency,
            created_at=received_at,
            ends_at=received_at + (lifetime or DEFAULT_LIFETIME),
            cancel_allowed_at=received_at + (DEFAULT_CANCEL_LOCK if lock is None else lock),
            can_get_another_sms=purchase.can_get_another_sms,
            chat_id=chat_id,
            intent_id=intent.id,
        )
        if purchase.currency and purchase.currency != key.currency:
            # getBalance names no currency; a purchase does: the key's prices and balance are
            # shown in it from now on.
            await self._db.keys.set_currency(user_id, key.id, purchase.currency)
            key = replace(key, currency=purchase.currency)
        try:
            await self._db.picks.add_recent(user_id, service, country)
        except Exception:  # a convenience list must never hide a bought number
            log.exception("could not remember the recent pick")
        self._changes.activation_changed(activation.id)
        try:
            await self._low_balance.after_purchase(key, intent.balance_before, activation.cost)
        except Exception:  # a notice must never hide a bought number either
            log.exception("could not check the low-balance notice")
        return BuyResult(activation, key=key)

    async def buy_several(
        self,
        user_id: int,
        *,
        token: str,
        service: str,
        country: str,
        max_price: Decimal,
        quantity: int,
        chat_id: int,
        message_id: int | None = None,
        choice: PurchaseFilter = ANY_NUMBER,
        progress: Progress | None = None,
        on_bought: Bought | None = None,
        known: KeyProfile | None = None,
    ) -> BatchResult:
        """Buy up to `quantity` numbers of one offer, confirmed by one tap (`token` is the lead
        of a batch from `offer_token(quantity=...)`).

        Each number is bought by `buy` under its own token and intent, one after the other,
        at most `max_price` each, so the batch never spends more than quantity × max_price.
        It stops at the first refusal (it would only repeat: NO_NUMBERS, NO_BALANCE, BANNED,
        ...), at the first unknown outcome (its intent waits for reconciliation; nothing is
        retried), or when a number cost more than the cap; the unused tokens are withdrawn.
        `on_bought` is awaited with each number once it is stored. `known`: as for `buy`, for
        the first number (each later one reads the active key: one removed meanwhile stops
        the batch)."""
        if not 1 <= quantity <= MAX_QUANTITY:
            raise ValueError(f"quantity {quantity} outside 1..{MAX_QUANTITY}")
        bought: list[Activation] = []
        pending = 0
        error: ProviderError | None = None
        spent = Decimal(0)
        tried = 0
        owner = True  # until the lead token turns out to be another tap's
        try:
            while tried < quantity and spent + max_price <= max_price * quantity:
                tried += 1
                first = tried == 1
                try:
                    result = await self.buy(
                        user_id,
                        token=batch_token(token, tried),
                        service=service,
                        country=country,
                        max_price=max_price,
                        chat_id=chat_id,
                        message_id=message_id if first else None,
                        progress=progress if first else None,
                        choice=choice,
                        quantity=quantity,
                        known=known if first else None,
                    )
                except ProviderError as refused:
                    error = refused
                    break
                except NoActiveKey:
                    if first:
                        owner = False  # nothing claimed: the screen's tokens stay as they are
                        raise
                    break  # the key was removed meanwhile: the rest is not bought
                if result.intent is None and result.activation is None:
                    if not first:
                        break  # this number's token is gone (withdrawn, expired): stop here
                    # The lead token was not claimed: a second tap, or a stale button. The
                    # batch (if any) belongs to the tap that claimed it: nothing is touched.
                    owner = False
                    return BatchResult(
                        quantity=quantity,
                        duplicate=result.duplicate,
                        stale=result.stale,
                        in_progress=token in self._buying or result.in_progress,
                    )
                if first:
                    self._buying.add(token)  # a tap during the rest hears "still buying"
                if result.activation is None:
                    pending += 1
                    break  # unknown outcome: never go on blindly
                bought.append(result.activation)
                cost = result.activation.cost if result.activation.cost is not None else max_price
                spent += cost
                if on_bought is not None:
                    await _tell(on_bought, result.activation)
                if cost > max_price:
                    log.warning("provider charged over the cap for user %s: batch stopped", user_id)
                    break
        finally:
            if owner:
                self._buying.discard(token)
                unused = [batch_token(token, i) for i in range(tried + 1, quantity + 1)]
                if unused:
                    await self._db.tokens.withdraw(unused, user_id)
        return BatchResult(quantity=quantity, bought=bought, pending=pending, error=error)

    # ------------------------------------------------------------------ reads and the card

    async def get(self, user_id: int, activation_id: int) -> Activation | None:
        """The user's own number; None when it is not theirs (a crafted id finds nothing)."""
        return await self._db.activations.get(user_id, activation_id)

    async def live(self, user_id: int) -> list[Activation]:
        """The user's numbers still running, newest first."""
        return await self._db.activations.list_live(user_id)

    async def get_for_card(
        self, user_id: int, activation_id: int
    ) -> tuple[Activation, CardMarks] | None:
        """The user's own number and what its card shows beside it, in one read (a card about
        to be drawn); None when it is not theirs."""
        return await self._db.activations.get_with_marks(user_id, activation_id)

    async def card_marks(self, activation: Activation) -> CardMarks:
        """What the number's card shows beside its row, in one read: whether its (service,
        country) is one of its owner's favourites (the ⭐) and the auto-replace chain it is a
        step of ("attempt 2 of 3")."""
        return await self._db.chains.card_marks(activation)

    async def key_of(
        self, activation: Activation, *, known: KeyProfile | None = None
    ) -> KeyProfile | None:
        """The key the number was bought with (its provider names the service and country);
        None once the key is deleted. `known`, a key this update read already (the user's
        active one), stands in when it is that key: no second read."""
        if known is not None and known.id == activation.key_id:
            return known
        return await self._db.keys.get_any(activation.key_id)

    async def owner(self, user_id: int) -> User | None:
        """The owner of numbers as stored (language, time zone), for cards drawn outside a tap
        (a returning user's resent cards)."""
        return await self._db.users.get(user_id)

    async def card_shown(self, activation_id: int, chat_id: int, message_id: int) -> None:
        """The chat now shows this number's card in that message: the tracker edits it there."""
        await self._db.activations.set_card(activation_id, chat_id, message_id)

    async def code_delivered(self, activation_id: int, round: int) -> None:
        """The code of `round` reached the chat (on the card or in its own message): the
        tracker must not send it again."""
        await self._db.activations.mark_code_delivered(activation_id, round)

    async def codes_shown(self, activation: Activation) -> None:
        """Every code the card of `activation` shows has reached the chat."""
        for code in activation.codes:
            if not code.delivered:
                await self.code_delivered(activation.id, code.round)

    # ------------------------------------------------------------------ status changes

    async def _live(self, user_id: int, activation_id: int) -> tuple[Activation, KeyProfile]:
        activation = await self._db.activations.get(user_id, activation_id)
        if activation is None or not activation.live:
            raise NotFound()
        key = await self._db.keys.get_any(activation.key_id)
        if key is None:
            raise NotFound()
        return activation, key

    async def _reload(self, activation_id: int) -> Activation:
        stored = await self._db.activations.get_any(activation_id)
        assert stored is not None
        return stored

    async def _changed(self, activation_id: int) -> Activation:
        """The stored number after a button changed it; the tracker takes a fresh look soon."""
        stored = await self._reload(activation_id)
        self._changes.activation_changed(activation_id)
        return stored

    async def mark_sms_sent(self, user_id: int, activation_id: int) -> Activation:
        """setStatus 1: the user asked the service to send the SMS. Only a hint to the provider:
        when its answer is lost the number is marked all the same (nothing rides on it)."""
        activation, key = await self._live(user_id, activation_id)
        client = self._providers.client(key.base_url, key.api_key)
        try:
            await client.set_status(activation.provider_id, 1)
        except ProviderError as error:
            if not outcome_unknown(error):
                raise
            log.info("setStatus 1 outcome unknown (%s): marked all the same", error.code)
        await self._db.activations.set_sms_sent(activation.id)
        return await self._changed(activation.id)

    async def request_another(self, user_id: int, activation_id: int) -> Activation:
        """setStatus 3: one more code on the same number (a new round). A lost answer leaves
        the number "checking": the tracker's next getStatus tells whether the round began."""
        activation, key = await self._live(user_id, activation_id)
        if not activation.codes or activation.can_get_another_sms is False:
            raise NotFound()
        client = self._providers.client(key.base_url, key.api_key)
        try:
            await client.set_status(activation.provider_id, 3)
        except ProviderError as error:
            if not outcome_unknown(error):
                raise
            await self._check_later(activation, PENDING_ANOTHER)
            return await self._changed(activation.id)
        await self._db.activations.start_retry(activation.id)
        return await self._changed(activation.id)

    async def finish(self, user_id: int, activation_id: int) -> Activation:
        """setStatus 6: the user is done with the number. A lost answer finishes it here all
        the same: its code is paid for either way and the provider completes it at expiry."""
        activation, key = await self._live(user_id, activation_id)
        client = self._providers.client(key.base_url, key.api_key)
        try:
            await client.set_status(activation.provider_id, 6)
        except ProviderError as error:
            if not outcome_unknown(error):
                raise
            log.info("setStatus 6 outcome unknown (%s): finished here", error.code)
        await self._db.activations.set_status(activation.id, "finished", ended_at=self._clock())
        await self._db.chains.end_on(activation.id, "code")  # done with it: nothing to replace
        return await self._changed(activation.id)

    async def cancel(self, user_id: int, activation_id: int) -> CancelResult:
        """setStatus 8 (refund). A number with a code is never cancelled (CodeReceived). Inside
        the early-cancel lock, or when the provider still says EARLY_CANCEL_DENIED, the cancel
        is scheduled for the tracker instead of failing; when the answer is lost the number is
        "checking" and the tracker's next poll settles it (never "provider down")."""
        activation, key = await self._live(user_id, activation_id)
        if activation.codes:
            raise CodeReceived()
        # The user's own cancel ends an auto-replace chain on it: nothing is bought after it.
        await self._db.chains.end_on(activation.id, "user")
        if self._clock() < activation.cancel_allowed_at:
            return await self._schedule_cancel(user_id, activation)
        client = self._providers.client(key.base_url, key.api_key)
        try:
            await client.set_status(activation.provider_id, 8)
        except ProviderError as error:
            if error.code == "EARLY_CANCEL_DENIED":
                return await self._schedule_cancel(user_id, activation)
            if outcome_unknown(error):
                return await self._cancel_unknown(user_id, activation)
            if error.code in CODE_ARRIVED or error.code in GONE:
                return await self._cancel_refused(user_id, activation, client, error)
            raise
        await self._db.activations.set_status(activation.id, "cancelled", ended_at=self._clock())
        return CancelResult(await self._changed(activation.id), scheduled=False)

    async def _schedule_cancel(self, user_id: int, activation: Activation) -> CancelResult:
        if not await self._db.activations.request_cancel(user_id, activation.id):
            fresh = await self._reload(activation.id)
            if fresh.codes:
                raise CodeReceived()  # a code came in meanwhile: too late to cancel
            raise NotFound()
        return CancelResult(await self._changed(activation.id), scheduled=True)

    async def _cancel_unknown(self, user_id: int, activation: Activation) -> CancelResult:
        """The cancel may have happened: the user's wish stands (the tracker cancels again if
        it did not) and the number is checked at the next poll."""
        await self._db.activations.request_cancel(user_id, activation.id)
        await self._check_later(activation, PENDING_CANCEL)
        return CancelResult(await self._changed(activation.id), scheduled=False, checking=True)

    async def _cancel_refused(
        self, user_id: int, activation: Activation, client: ProviderClient, error: ProviderError
    ) -> CancelResult:
        """The provider refuses the cancel because a code came in or the number ended: its
        getStatus says which, stored through the one rule."""
        try:
            status: StatusAnswer | None = await client.get_status(activation.provider_id)
        except ProviderError as status_error:
            status = answer_from_error(status_error.code)
            if status is None:
                return await self._cancel_unknown(user_id, activation)
        await self._store(activation, status)
        fresh = await self._changed(activation.id)
        if fresh.codes:
            raise CodeReceived()
        if not fresh.live:
            return CancelResult(fresh, scheduled=False)
        raise error

    async def _check_later(self, activation: Activation, change: str) -> None:
        await self._db.activations.set_pending_change(activation.id, change)

    async def refresh(self, user_id: int, activation_id: int) -> Activation:
        """getStatus now, storing what it says (a new code, or the end)."""
        activation, key = await self._live(user_id, activation_id)
        client = self._providers.client(key.base_url, key.api_key)
        try:
            status: StatusAnswer | None = await client.get_status(activation.provider_id)
        except ProviderError as error:
            status = answer_from_error(error.code)
            if status is None:
                raise
        await self._store(activation, status)
        return await self._changed(activation.id)

    async def apply_status(self, activation: Activation, status: ActivationStatus) -> bool:
        """Store what a getStatus answer means; True when a new code was stored."""
        return (await self._store(activation, status)).code

    async def _store(self, activation: Activation, status: StatusAnswer | None) -> Stored:
        now = self._clock()
        decision = decide(activation, status, now)
        return await store_decision(self._db.activations, activation, decision, text=None, now=now)
