"""Auto-replace through the tracker and the sandbox on the fake clock: a silent number is
cancelled after the chain's wait and another of the same offer bought, until a code, K numbers,
the cap or a refusal ends the chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest

from bot.catalog import CatalogService
from bot.changes import Changes
from bot.orders import OrderService
from bot.provider.factory import ProviderFactory
from bot.replace import ReplaceService, stop_reason
from bot.tracker import Tracker
from storage import Database, KeyProfile
from storage.chains import CHAIN_ACTIVE, CHAIN_ENDED, ReplaceChain, ReplaceDefaults
from storage.models import Activation, ActivationCode
from tests.bot.conftest import FAST, USER, RecordingNotifier
from tests.harness import sending

PRICE = Decimal("18")  # the sandbox's Telegram price in country 0
WAIT = 300


@dataclass
class Rig:
    db: Database
    orders: OrderService
    replace: ReplaceService
    tracker: Tracker
    notes: RecordingNotifier
    key: KeyProfile
    sandbox: Any
    clock: Any

    async def buy_chained(self, *, max_price: Decimal | None = None) -> Activation:
        """A purchase made with auto-replace on (what the confirm screen's Buy does)."""
        token = await self.orders.offer_token(
            USER, service="tg", country="0", max_price=max_price, price=PRICE
        )
        result = await self.orders.buy(
            USER, token=token, service="tg", country="0", max_price=max_price, chat_id=USER
        )
        assert result.activation is not None
        chain = await self.replace.start(USER, result.activation, max_price=max_price)
        assert chain is not None
        return result.activation

    async def silence(self, seconds: float = WAIT + 1) -> None:
        """No code comes: time passes and the tracker takes a pass (twice: a replacement
        bought in the first is read into the schedule by the second)."""
        self.clock.advance(seconds)
        await self.tracker.tick()
        await self.tracker.tick()

    def orders_client(self) -> Any:
        return self.tracker.providers.client(self.key.base_url, self.key.api_key)

    def purchases(self) -> int:
        return len(self.sandbox.state.purchases)

    async def chains(self) -> list[Any]:
        rows = await self.db.connection.execute_fetchall("SELECT id FROM replace_chains")
        found = [await self.db.chains.get(int(row[0])) for row in rows]
        return [c for c in found if c is not None]


def build_rig(
    db: Database,
    providers: ProviderFactory,
    key: KeyProfile,
    sandbox: Any,
    clock: Any,
    notes: RecordingNotifier | None = None,
) -> Rig:
    changes = Changes()
    orders = OrderService(db, providers, clock, changes=changes)
    replace = ReplaceService(
        db, orders, clock, changes=changes, catalog=CatalogService(providers, clock=clock)
    )
    notes = notes or RecordingNotifier()
    tracker = sending(
        Tracker(db, providers, notes, FAST, clock=clock, changes=changes, replacer=replace)
    )
    return Rig(db, orders, replace, tracker, notes, key, sandbox, clock)


@pytest.fixture
async def rig(
    tdb: Database, tproviders: ProviderFactory, tkey: KeyProfile, sandbox: Any, clock: Any
) -> AsyncIterator[Rig]:
    made = build_rig(tdb, tproviders, tkey, sandbox, clock)
    yield made
    await made.tracker.stop()


async def live_numbers(db: Database) -> list[Activation]:
    return await db.activations.list_live(USER)


def assert_nothing_left_uncancelled(rig: Rig) -> None:
    """The money invariant: every number the sandbox sold is cancelled or got a code."""
    for activation in rig.sandbox.state.activations.values():
        assert activation.status != "waiting" or activation.sms, activation


async def test_a_silent_number_is_replaced_until_k_numbers(rig: Rig) -> None:
    first = await rig.buy_chained()
    assert rig.purchases() == 1
    await rig.tracker.tick()

    await rig.silence()
    assert rig.purchases() == 2
    old = await rig.db.activations.get_any(first.id)
    assert old is not None and old.status == "cancelled"
    adopted = rig.notes.of("adopted")
    assert len(adopted) == 1  # the new number's card is sent
    step = (await rig.orders.card_marks(adopted[0])).step
    assert step is not None and (step.attempt, step.chain.attempts_max) == (2, 3)

    await rig.silence()
    assert rig.purchases() == 3
    await rig.silence()
    assert rig.purchases() == 3  # K = 3: the third silent number is cancelled, none bought
    assert await live_numbers(rig.db) == []
    [chain] = await rig.chains()
    assert (chain.state, chain.reason, chain.attempts_used) == (CHAIN_ENDED, "attempts", 3)
    assert chain.spent == PRICE * 3 and chain.reserved is None
    [stopped] = rig.notes.of("replace_stopped")
    assert stopped.reason == "attempts"
    assert_nothing_left_uncancelled(rig)


async def test_the_chain_waits_its_minutes_not_the_expiry(rig: Rig) -> None:
    await rig.buy_chained()
    await rig.tracker.tick()
    rig.clock.advance(WAIT - 30)
    await rig.tracker.tick()
    assert rig.purchases() == 1  # not silent yet
    await rig.silence(31)
    assert rig.purchases() == 2


async def test_the_cap_stops_the_chain(rig: Rig) -> None:
    await rig.db.chains.set_defaults(USER, ReplaceDefaults(attempts=5, cap=PRICE * 2))
    await rig.buy_chained()
    await rig.tracker.tick()
    await rig.silence()
    await rig.silence()
    await rig.silence()
    assert rig.purchases() == 2  # 18 + 18 = the cap of 36: a third would pass it
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "cap")
    assert chain.spent <= chain.cap
    assert [c.reason for c in rig.notes.of("replace_stopped")] == ["cap"]
    assert_nothing_left_uncancelled(rig)


async def test_a_code_ends_the_chain_and_the_number_is_never_cancelled(rig: Rig) -> None:
    await rig.buy_chained()
    await rig.tracker.tick()
    await rig.silence()
    second = rig.notes.of("adopted")[0]
    rig.sandbox.state.deliver_sms(second.provider_id, "Telegram code 54321")
    await rig.silence()
    assert "54321" in rig.notes.codes()
    assert rig.purchases() == 2
    kept = await rig.db.activations.get_any(second.id)
    assert kept is not None and kept.live and kept.codes
    rig.clock.advance(1200)  # the number runs out with its code: finished, not replaced
    await rig.tracker.tick()
    await rig.tracker.tick()
    assert rig.purchases() == 2
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "code")
    assert rig.notes.of("replace_stopped") == []  # a code says it all
    assert rig.sandbox.state.activations[second.provider_id].status != "cancelled"


async def cancelled_by_the_tracker(rig: Rig, activation: Activation) -> Activation:
    """The number cancelled as the tracker does (provider, then the row), its end not yet
    handed to the chain."""
    client = rig.orders_client()
    await client.set_status(activation.provider_id, 8)
    await rig.db.activations.set_status(activation.id, "cancelled", ended_at=rig.clock())
    ended = await rig.db.activations.get_any(activation.id)
    assert ended is not None
    return ended


async def test_no_balance_ends_the_chain_through_the_tracker(rig: Rig) -> None:
    first = await rig.buy_chained()
    await rig.tracker.tick()
    rig.sandbox.state.set_balance(rig.key.api_key, "-10")  # the refund leaves 8 < 18
    await rig.silence()
    assert rig.purchases() == 1
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "NO_BALANCE")
    assert chain.spent == first.cost and chain.reserved is None
    assert [c.reason for c in rig.notes.of("replace_stopped")] == ["NO_BALANCE"]
    assert_nothing_left_uncancelled(rig)


@pytest.mark.parametrize("refusal", ["NO_BALANCE", "BANNED", "CHANNELS_LIMIT", "NO_NUMBERS"])
async def test_a_refusal_ends_the_chain_with_nothing_spent(rig: Rig, refusal: str) -> None:
    first = await rig.buy_chained()
    rig.clock.advance(WAIT + 1)
    ended = await cancelled_by_the_tracker(rig, first)
    account = rig.sandbox.state.account(rig.key.api_key)
    if refusal == "NO_BALANCE":
        account.balance = Decimal("1")
    elif refusal == "BANNED":
        account.banned_until = "2030-1-1 0-0-0"
    elif refusal == "CHANNELS_LIMIT":
        account.channels_limit = 0
    else:
        rig.sandbox.state.set_stock("0", "tg", 0)
    event = await rig.replace.number_ended(ended)
    assert event is not None and event.bought is None
    assert rig.purchases() == 1
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, refusal)
    assert chain.spent == first.cost and chain.reserved is None


async def test_the_users_cancel_ends_the_chain(rig: Rig) -> None:
    first = await rig.buy_chained()
    await rig.tracker.tick()
    cancelled = await rig.orders.cancel(USER, first.id)  # inside the lock: scheduled
    assert cancelled.scheduled
    await rig.silence()
    assert rig.purchases() == 1
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "user")


async def test_stopping_the_chain_keeps_the_number(rig: Rig) -> None:
    first = await rig.buy_chained()
    await rig.tracker.tick()
    await rig.replace.stop(USER, first.id)
    rig.clock.advance(WAIT + 1)
    await rig.tracker.tick()
    kept = await rig.db.activations.get_any(first.id)
    assert kept is not None and kept.live  # no chain deadline: the usual auto-cancel later
    assert rig.purchases() == 1


async def test_two_chains_racing_on_one_key_each_hold_their_cap(rig: Rig) -> None:
    await rig.db.chains.set_defaults(USER, ReplaceDefaults(attempts=3))
    await rig.buy_chained()
    await rig.buy_chained()
    await rig.tracker.tick()
    for _ in range(4):
        await rig.silence()
    assert rig.purchases() == 6  # 3 + 3, both chains stepping in the same passes
    chains = await rig.chains()
    assert len(chains) == 2
    for chain in chains:
        assert (chain.state, chain.reason, chain.attempts_used) == (CHAIN_ENDED, "attempts", 3)
        assert chain.spent <= chain.cap
    assert_nothing_left_uncancelled(rig)


async def test_one_end_seen_twice_buys_one_number(rig: Rig) -> None:
    """Two processes (or two passes) handing over the same end: the reservation lets one
    through; the other finds the chain moved on."""
    first = await rig.buy_chained()
    rig.clock.advance(WAIT + 1)
    ended = await cancelled_by_the_tracker(rig, first)
    events = await asyncio.gather(rig.replace.number_ended(ended), rig.replace.number_ended(ended))
    assert rig.purchases() == 2
    assert sum(1 for e in events if e is not None and e.bought is not None) == 1


def test_the_rule() -> None:
    """stop_reason alone: a code, the user's end, K, the cap."""

    chain = ReplaceChain(
        id=1, user_id=1, key_id=1, service="tg", country="0", max_price=Decimal("10"),
        chat_id=1, after=300, attempts_max=3, attempts_used=1, cap=Decimal("30"),
        spent=Decimal("10"), reserved=None, step_token=None, intent_id=None, activation_id=5,
        state=CHAIN_ACTIVE, reason=None, created_at=0.0, updated_at=0.0,
    )  # fmt: skip
    ended = Activation(
        id=5, user_id=1, key_id=1, provider_id="1", service="tg", country="0", phone="1",
        cost=Decimal("10"), currency="RUB", status="cancelled", sms_sent=False, round=0,
        codes=[], created_at=0.0, ends_at=1200.0, cancel_allowed_at=120.0,
        cancel_requested=False, can_get_another_sms=None, chat_id=1, message_id=None,
        next_poll_at=0.0, ended_at=301.0, adopted=False,
    )  # fmt: skip
    assert stop_reason(chain, ended) is None
    assert stop_reason(chain, replace(ended, status="expired")) is None
    code = ActivationCode(0, "1234", None, 10.0, True)
    assert stop_reason(chain, replace(ended, status="finished", codes=[code])) == "code"
    assert stop_reason(chain, replace(ended, status="finished")) == "code"
    assert stop_reason(replace(chain, attempts_used=3), ended) == "attempts"
    assert stop_reason(replace(chain, spent=Decimal("25")), ended) == "cap"
    assert stop_reason(replace(chain, max_price=None), ended) == "error"


async def test_no_numbers_moves_to_the_next_cheapest_country_within_the_price(rig: Rig) -> None:
    await rig.db.chains.set_defaults(USER, ReplaceDefaults(next_country=True))
    first = await rig.buy_chained()
    await rig.tracker.tick()
    rig.sandbox.state.set_stock("0", "tg", 0)  # sold out where it was bought
    await rig.silence()
    assert rig.purchases() == 2
    moved_to = rig.sandbox.state.purchases[-1]["country"]
    assert moved_to != first.country
    assert rig.sandbox.state.purchases[-1]["cost"] <= PRICE  # never above the chain's price
    [chain] = await rig.chains()
    assert chain.state == CHAIN_ACTIVE and chain.country == moved_to
    assert chain.countries_tried == ("0",) and chain.attempts_used == 3  # the refused try counts
    await rig.silence()
    assert rig.purchases() == 2  # K = 3 tries: the chain ends
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "attempts")
    assert_nothing_left_uncancelled(rig)


async def test_no_numbers_without_the_option_ends_the_chain(rig: Rig) -> None:
    await rig.buy_chained()
    await rig.tracker.tick()
    rig.sandbox.state.set_stock("0", "tg", 0)
    await rig.silence()
    assert rig.purchases() == 1
    [chain] = await rig.chains()
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "NO_NUMBERS")
