"""Fixtures of the tracker tests: a database on the shared fake clock, a provider factory, a
recording Notifier double, and helpers that buy and rent through the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.changes import Changes
from bot.provider.factory import ProviderFactory
from bot.provider.guard import AddressPolicy
from bot.tracker import Recipient, Tracker, TrackerConfig
from bot.tracker.notifier import Settle
from storage import Database, KeyCipher
from storage.chains import ReplaceChain
from storage.models import (
    Activation,
    ActivationCode,
    KeyProfile,
    PendingPurchase,
    Rental,
    RentalSms,
)
from tests.harness import sending

USER = 111
# The sandbox listens on 127.0.0.1: allowed as in sandbox mode.
LOOPBACK_ALLOWED = AddressPolicy(allow_loopback=True)


@dataclass
class RecordingNotifier:
    """Records every event; `deliver` decides how code/SMS deliveries are settled (at once).
    `to` holds the Recipient of each event, in the same order as `events`."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    to: list[Recipient] = field(default_factory=list)
    deliver: bool = True

    def of(self, kind: str) -> list[Any]:
        return [payload for name, payload in self.events if name == kind]

    def recipients(self, kind: str) -> list[Recipient]:
        return [to for (name, _p), to in zip(self.events, self.to, strict=True) if name == kind]

    def codes(self) -> list[str]:
        return [code.code for _a, code in self.of("code")]

    def _record(self, kind: str, payload: Any, to: Recipient) -> None:
        self.events.append((kind, payload))
        self.to.append(to)

    async def code_received(
        self, activation: Activation, code: ActivationCode, to: Recipient, settle: Settle
    ) -> None:
        self._record("code", (activation, code), to)
        await settle(self.deliver)

    async def activation_changed(self, activation: Activation, to: Recipient) -> None:
        self._record("changed", activation, to)

    async def activation_ended(self, activation: Activation, refunded: bool, to: Recipient) -> None:
        self._record("ended", (activation, refunded), to)

    async def activation_adopted(self, activation: Activation, to: Recipient) -> None:
        self._record("adopted", activation, to)

    async def rental_sms(
        self, rental: Rental, sms: RentalSms, to: Recipient, settle: Settle
    ) -> None:
        self._record("rental_sms", (rental, sms), to)
        await settle(self.deliver)

    async def rental_changed(self, rental: Rental, to: Recipient) -> None:
        self._record("rental_changed", rental, to)

    async def rental_reminder(self, rental: Rental, seconds_left: int, to: Recipient) -> None:
        self._record("reminder", (rental, seconds_left), to)

    async def rental_ended(self, rental: Rental, to: Recipient) -> None:
        self._record("rental_ended", rental, to)

    async def pending_unresolved(self, pending: PendingPurchase, to: Recipient) -> None:
        self._record("unresolved", pending, to)

    async def key_revoked(self, key: KeyProfile, to: Recipient) -> None:
        self._record("key_revoked", key, to)

    async def replace_stopped(self, chain: ReplaceChain, to: Recipient) -> None:
        self._record("replace_stopped", chain, to)


def sample(tracker: Tracker, name: str, **labels: str) -> float:
    """A tracker instrument's value as /metrics would show it (0 when never counted)."""
    value = tracker.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


FAST = TrackerConfig(
    tick=0.01,
    poll_fast=2.5,
    poll_slow=10.0,
    fast_window=120.0,
    poll_rental=20.0,
    rps_per_key=1000.0,
    cancel_margin_default=60,
    reminders=(3600, 600),
    key_timeout=5.0,
)


@pytest.fixture
def secret() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
async def tdb(tmp_path: Path, clock: Any, secret: str) -> AsyncIterator[Database]:
    db = await Database.open(tmp_path / "tracker.db", KeyCipher([secret]), clock=clock)
    yield db
    await db.close()


@pytest.fixture
async def tproviders() -> AsyncIterator[ProviderFactory]:
    factory = ProviderFactory(
        timeout=5, read_retries=0, retry_delay=0.0, address_policy=LOOPBACK_ALLOWED
    )
    yield factory
    await factory.close()


@pytest.fixture
def notes() -> RecordingNotifier:
    return RecordingNotifier()


# What the `make_tracker` fixture gives: a Tracker on the test database and clock.
MakeTracker = Callable[..., Tracker]


@pytest.fixture
def make_tracker(
    tdb: Database, tproviders: ProviderFactory, notes: RecordingNotifier, clock: Any
) -> Callable[..., Tracker]:
    def make(
        *,
        notifier: Any = None,
        db: Database | None = None,
        config: TrackerConfig = FAST,
        changes: Changes | None = None,
    ) -> Tracker:
        # tick() also sends what the pass queued (a Telegram notifier's send queue).
        return sending(
            Tracker(db or tdb, tproviders, notifier or notes, config, clock=clock, changes=changes)
        )

    return make


@pytest.fixture
async def tkey(tdb: Database, sandbox: Any, sandbox_key: str) -> KeyProfile:
    await tdb.users.get_or_create(USER, "en")
    return await tdb.keys.add(
        USER, label="sandbox", base_url=sandbox.url, api_key=sandbox_key, currency="RUB"
    )


async def buy(
    db: Database, providers: ProviderFactory, key: KeyProfile, clock: Any, **extra: Any
) -> Activation:
    """Buy through the provider client and store it as OrderService does."""
    client = providers.client(key.base_url, key.api_key)
    purchase = await client.buy_activation("tg", "0")
    now = clock()
    return await db.activations.add(
        user_id=key.user_id,
        key_id=key.id,
        provider_id=purchase.activation_id,
        service="tg",
        country="0",
        phone=purchase.phone,
        cost=purchase.cost,
        currency=purchase.currency,
        created_at=now,
        ends_at=now + (purchase.lifetime or 1200),
        cancel_allowed_at=now + (purchase.cancel_lock if purchase.cancel_lock is not None else 120),
        can_get_another_sms=purchase.can_get_another_sms,
        chat_id=key.user_id,
        **extra,
    )


async def rent(
    db: Database, providers: ProviderFactory, key: KeyProfile, clock: Any, hours: int = 4
) -> Rental:
    client = providers.client(key.base_url, key.api_key)
    bought = await client.get_rent_number("tg", "0", hours)
    now = clock()
    return await db.rentals.add(
        user_id=key.user_id,
        key_id=key.id,
        provider_id=bought.rent_id,
        service="tg",
        country="0",
        phone=bought.phone,
        hours=hours,
        cost=None,
        created_at=now,
        ends_at=now + hours * 3600,
        chat_id=key.user_id,
    )


def actions(sandbox: Any, since: int = 0) -> list[str]:
    return [record["action"] for record in sandbox.state.requests[since:]]
