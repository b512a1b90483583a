"""OrderService against a real SQLite database: the sandbox over HTTP, and a scripted provider
for answers the sandbox does not give on demand."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest

from bot.changes import Change, Changed
from bot.errors import CodeReceived, NoActiveKey, NotFound
from bot.orders import OrderService
from bot.provider.errors import (
    AddressRefused,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnknownOutcome,
)
from bot.provider.models import ActivationStatus, Purchase
from storage import Database, KeyProfile
from storage.tokens import offer_key
from tests.harness import SqlTrace

USER = 111


OFFER = offer_key("activation", service="tg", country="0", max_price=None)


async def issue(
    orders: OrderService, service: str = "tg", country: str = "0", max_price: Any = None
) -> str:
    """A token as the confirm screen issues it, for exactly this offer."""
    return await orders.offer_token(USER, service=service, country=country, max_price=max_price)


def purchases(sandbox: Any) -> int:
    return len(sandbox.state.purchases)


@pytest.fixture
def orders(tdb: Database, tproviders: Any, clock: Any) -> OrderService:
    return OrderService(tdb, tproviders, clock=clock)


async def test_buy_stores_the_number_with_local_deadlines(
    orders: OrderService, tdb: Database, tkey: KeyProfile, sandbox: Any, clock: Any
) -> None:
    result = await orders.buy(
        USER,
        token=await issue(orders, "tg", "15"),
        service="tg",
        country="15",
        max_price=None,
        chat_id=USER,
    )
    assert not result.duplicate and not result.pending and result.activation is not None
    a = result.activation
    bought = sandbox.state.purchases[0]
    assert (a.provider_id, a.phone, a.service, a.country) == (
        bought["id"],
        bought["phone"],
        "tg",
        "15",
    )
    assert a.cost == Decimal("28.8") and a.status == "waiting" and a.chat_id == USER
    assert a.ends_at == clock() + 1200 and a.cancel_allowed_at == clock() + 120
    assert await tdb.picks.recents(USER) == [("tg", "15")]


async def test_one_token_buys_once(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database
) -> None:
    same = await issue(orders)
    first = await orders.buy(USER, token=same, service="tg", country="0", max_price=None, chat_id=1)
    again = await orders.buy(USER, token=same, service="tg", country="0", max_price=None, chat_id=1)
    assert first.activation is not None and again.duplicate and again.activation is None
    assert purchases(sandbox) == 1
    assert len(await tdb.activations.list_live(USER)) == 1


async def test_no_active_key_leaves_the_token_unclaimed(
    orders: OrderService, tdb: Database, sandbox: Any
) -> None:
    await tdb.users.get_or_create(USER, "en")
    token = await issue(orders)
    with pytest.raises(NoActiveKey):
        await orders.buy(USER, token=token, service="tg", country="0", max_price=None, chat_id=1)
    assert await tdb.tokens.claim(token, USER, OFFER) == "ok"  # still fresh


async def test_definite_refusal_propagates_and_stores_nothing(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database
) -> None:
    sandbox.state.set_stock("0", "tg", 0)
    with pytest.raises(ProviderError) as caught:
        await orders.buy(
            USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
        )
    assert caught.value.code == "NO_NUMBERS"
    with pytest.raises(ProviderError) as low:
        await orders.buy(
            USER,
            token=await issue(orders, "wa", max_price=Decimal("1")),
            service="wa",
            country="0",
            max_price=Decimal("1"),
            chat_id=1,
        )
    assert low.value.code == "WRONG_MAX_PRICE" and low.value.min_price == Decimal("22")
    assert await tdb.activations.list_live(USER) == [] and await tdb.pending.list_all() == []


async def test_unknown_outcome_is_pending_and_never_retried(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database
) -> None:
    sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=5
    )
    assert result.pending and result.activation is None
    [pending] = await tdb.pending.list_all()
    assert (pending.user_id, pending.key_id, pending.service, pending.country, pending.chat_id) == (
        USER,
        tkey.id,
        "tg",
        "0",
        5,
    )
    sent = [r for r in sandbox.state.requests if r["action"].startswith("getNumber")]
    assert len(sent) == 1  # one request, no retry, no fallback to getNumber
    assert await tdb.activations.list_live(USER) == []


async def test_cancel_inside_lock_is_scheduled_then_done(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database, clock: Any
) -> None:
    bought = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert bought.activation is not None
    before = len(sandbox.state.requests)
    scheduled = await orders.cancel(USER, bought.activation.id)
    assert scheduled.scheduled and scheduled.activation.cancel_requested
    assert len(sandbox.state.requests) == before  # the provider is not asked inside the lock
    clock.advance(121)
    done = await orders.cancel(USER, bought.activation.id)
    assert not done.scheduled and done.activation.status == "cancelled"
    assert sandbox.state.balance(tkey.api_key) == Decimal("100")
    with pytest.raises(NotFound):  # ended: nothing more to do
        await orders.cancel(USER, bought.activation.id)


async def test_codes_rounds_and_finish_through_the_sandbox(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database
) -> None:
    bought = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    a = bought.activation
    assert a is not None
    with pytest.raises(NotFound):  # another code needs a first code
        await orders.request_another(USER, a.id)
    assert (await orders.mark_sms_sent(USER, a.id)).sms_sent
    assert (await orders.refresh(USER, a.id)).codes == []
    sandbox.state.deliver_sms(a.provider_id, "code 1111")
    a = await orders.refresh(USER, a.id)
    assert [c.code for c in a.codes] == ["1111"] and a.status == "received"
    a = await orders.request_another(USER, a.id)
    assert (a.status, a.round) == ("retry", 1)
    a = await orders.refresh(USER, a.id)  # STATUS_WAIT_RETRY:1111 — the old code
    assert [c.code for c in a.codes] == ["1111"]
    sandbox.state.deliver_sms(a.provider_id, "code 2222")
    a = await orders.refresh(USER, a.id)
    assert [(c.round, c.code) for c in a.codes] == [(0, "1111"), (1, "2222")]
    a = await orders.finish(USER, a.id)
    assert a.status == "finished" and not a.live


async def test_other_users_activation_is_not_found(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database
) -> None:
    bought = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert bought.activation is not None
    before = len(sandbox.state.requests)
    for call in (
        orders.mark_sms_sent,
        orders.request_another,
        orders.finish,
        orders.cancel,
        orders.refresh,
    ):
        with pytest.raises(NotFound):
            await call(999, bought.activation.id)
    assert len(sandbox.state.requests) == before
    still = await tdb.activations.get(USER, bought.activation.id)
    assert still is not None and still.status == "waiting" and not still.cancel_requested


# ------------------------------------------------------------------ scripted provider


@dataclass
class ScriptedClient:
    purchase: Purchase | None = None
    buy_error: Exception | None = None
    set_status_error: Exception | None = None
    statuses: list[ActivationStatus] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def buy_activation(
        self, service: str, country: str, *, max_price: Any = None, choice: Any = None
    ) -> Purchase:
        self.calls.append(("buy", (service, country, max_price)))
        if self.buy_error is not None:
            raise self.buy_error
        assert self.purchase is not None
        return self.purchase

    async def set_status(self, activation_id: str, status: int) -> str:
        self.calls.append(("set_status", status))
        if self.set_status_error is not None:
            raise self.set_status_error
        return "ACCESS_CANCEL" if status == 8 else "ACCESS_READY"

    async def get_status(self, activation_id: str) -> ActivationStatus:
        self.calls.append(("get_status", activation_id))
        return self.statuses.pop(0)


@dataclass
class ScriptedFactory:
    client_: ScriptedClient

    def client(self, base_url: str, api_key: str) -> ScriptedClient:
        return self.client_


@pytest.fixture
async def scripted(tdb: Database, clock: Any) -> tuple[OrderService, ScriptedClient, KeyProfile]:
    await tdb.users.get_or_create(USER, "en")
    key = await tdb.keys.add(USER, label="k", base_url="http://127.0.0.1:1/x", api_key="k" * 32)
    client = ScriptedClient(
        purchase=Purchase(
            activation_id="00123",
            phone="+79990001122",
            cost=None,
            lifetime=900.0,
            cancel_lock=300.0,
            can_get_another_sms=False,
        )
    )
    return OrderService(tdb, ScriptedFactory(client), clock=clock), client, key  # type: ignore[arg-type]


async def test_lifetime_and_lock_come_from_the_purchase(
    scripted: Any, clock: Any, tdb: Database
) -> None:
    orders, client, _key = scripted
    result = await orders.buy(
        USER,
        token=await issue(orders, max_price=Decimal("5")),
        service="tg",
        country="0",
        max_price=Decimal("5"),
        chat_id=1,
        expected_cost=Decimal("7.2"),
    )
    a = result.activation
    assert a is not None and a.provider_id == "00123" and a.phone == "79990001122"
    assert a.ends_at == clock() + 900 and a.cancel_allowed_at == clock() + 300
    assert a.cost == Decimal("7.2") and a.can_get_another_sms is False
    assert client.calls == [("buy", ("tg", "0", Decimal("5")))]


async def test_early_cancel_denied_schedules_instead_of_failing(scripted: Any, clock: Any) -> None:
    orders, client, _key = scripted
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert result.activation is not None
    clock.advance(301)
    client.set_status_error = ProviderError("EARLY_CANCEL_DENIED")
    cancel = await orders.cancel(USER, result.activation.id)
    assert cancel.scheduled and cancel.activation.cancel_requested and cancel.activation.live
    client.set_status_error = ProviderError("NO_ACTIVATION")
    client.statuses = [ActivationStatus("wait_code")]  # yet getStatus says it is still live
    with pytest.raises(ProviderError):
        await orders.cancel(USER, result.activation.id)


async def _allow_another_sms(db: Database, activation_id: int) -> None:
    """The provider said another SMS may be asked for (the scripted purchase says it may not)."""
    await db.connection.execute(
        "UPDATE activations SET can_get_another_sms = 1 WHERE id = ?", (activation_id,)
    )


async def test_stale_ok_with_the_previous_code_is_not_a_new_code(
    scripted: Any, tdb: Database
) -> None:
    orders, client, _key = scripted
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    a = result.activation
    assert a is not None
    client.statuses = [ActivationStatus("ok", "5555")]
    a = await orders.refresh(USER, a.id)
    await _allow_another_sms(tdb, a.id)
    a = await orders.request_another(USER, a.id)
    client.statuses = [
        ActivationStatus("ok", "5555"),  # a provider still showing the old code
        ActivationStatus("wait_retry", "5555"),
        ActivationStatus("ok", "6666"),
        ActivationStatus("cancel"),
    ]
    a = await orders.refresh(USER, a.id)
    a = await orders.refresh(USER, a.id)
    assert [c.code for c in a.codes] == ["5555"]
    a = await orders.refresh(USER, a.id)
    assert [(c.round, c.code) for c in a.codes] == [(0, "5555"), (1, "6666")]
    a = await orders.refresh(USER, a.id)
    assert a.status == "finished"  # it ended with codes: paid for, as the tracker stores it


async def test_unknown_outcome_from_scripted_client(scripted: Any, tdb: Database) -> None:
    orders, client, _key = scripted
    client.buy_error = UnknownOutcome("TIMEOUT", action="getNumberV2")
    token = await issue(orders)
    result = await orders.buy(
        USER, token=token, service="tg", country="0", max_price=None, chat_id=1
    )
    assert result.pending and len(await tdb.pending.list_all()) == 1
    again = await orders.buy(
        USER, token=token, service="tg", country="0", max_price=None, chat_id=1
    )
    assert again.duplicate and len(client.calls) == 1


async def test_only_a_token_issued_for_this_user_and_offer_buys(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database, clock: Any
) -> None:
    capped = await issue(orders, max_price=Decimal("20"))
    attempts = [
        ("A" * 12, "tg", "0", None),  # never issued
        (capped, "tg", "0", None),  # the cap it was shown with, lifted
        (capped, "wa", "0", Decimal("20")),  # another service
        (capped, "tg", "15", Decimal("20")),  # another country
    ]
    for token, service, country, cap in attempts:
        result = await orders.buy(
            USER, token=token, service=service, country=country, max_price=cap, chat_id=1
        )
        assert result.stale and result.activation is None and not result.duplicate
    clock.advance(3601)
    late = await orders.buy(
        USER, token=capped, service="tg", country="0", max_price=Decimal("20"), chat_id=1
    )
    assert late.stale
    assert purchases(sandbox) == 0 and await tdb.pending.list_all() == []


# ------------------------------------------------------------------ a number with a code


async def _with_code(orders: OrderService, client: ScriptedClient) -> Any:
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert result.activation is not None
    client.statuses = [ActivationStatus("ok", "9090")]
    return await orders.refresh(USER, result.activation.id)


@pytest.mark.parametrize("after_lock", [False, True])
async def test_a_number_with_a_code_is_never_cancelled(
    scripted: Any, clock: Any, tdb: Database, after_lock: bool
) -> None:
    orders, client, _key = scripted
    a = await _with_code(orders, client)
    if after_lock:
        clock.advance(301)
    before = list(client.calls)
    with pytest.raises(CodeReceived):
        await orders.cancel(USER, a.id)
    assert client.calls == before  # the provider is not even asked
    stored = await tdb.activations.get(USER, a.id)
    assert stored is not None and stored.live and not stored.cancel_requested
    assert not await tdb.activations.request_cancel(USER, a.id)  # refused in storage too


async def test_cancel_refused_because_a_code_just_came_stores_it(
    scripted: Any, clock: Any, tdb: Database
) -> None:
    orders, client, _key = scripted
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert result.activation is not None
    clock.advance(301)
    client.set_status_error = ProviderError("BAD_STATUS")  # the provider has a code already
    client.statuses = [ActivationStatus("ok", "7171")]
    with pytest.raises(CodeReceived):
        await orders.cancel(USER, result.activation.id)
    stored = await tdb.activations.get(USER, result.activation.id)
    assert stored is not None and [c.code for c in stored.codes] == ["7171"]
    assert stored.status == "received" and not stored.cancel_requested


async def test_a_code_clears_a_scheduled_cancel_on_refresh(scripted: Any, tdb: Database) -> None:
    orders, client, _key = scripted
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert result.activation is not None
    assert (await orders.cancel(USER, result.activation.id)).scheduled
    client.statuses = [ActivationStatus("ok", "3030")]
    a = await orders.refresh(USER, result.activation.id)
    assert [c.code for c in a.codes] == ["3030"] and not a.cancel_requested


# ------------------------------------------------------------------ lost answers


@pytest.mark.parametrize(
    "error",
    [
        ProviderUnavailable("TIMEOUT"),
        ProviderUnavailable("GARBLED"),
        ProviderUnavailable("HTML", http_status=502),
        ProviderError("ACK_MISMATCH", "ACCESS_READY"),
    ],
)
async def test_cancel_whose_outcome_is_unknown_is_checking(
    scripted: Any, clock: Any, tdb: Database, error: ProviderError
) -> None:
    orders, client, _key = scripted
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert result.activation is not None
    clock.advance(301)
    client.set_status_error = error
    cancel = await orders.cancel(USER, result.activation.id)
    assert cancel.checking and not cancel.scheduled
    a = cancel.activation
    assert a.live and a.pending_change == "cancel" and a.cancel_requested
    assert a.next_poll_at <= clock()  # the tracker looks at it on its next pass
    # The next answer settles it, through the one rule.
    client.statuses = [ActivationStatus("cancel")]
    a = await orders.refresh(USER, a.id)
    assert a.status == "cancelled" and a.pending_change is None and not a.cancel_requested


@pytest.mark.parametrize(
    "error", [RateLimited("RATE_LIMIT", retry_after=5), AddressRefused("ADDRESS_REFUSED")]
)
async def test_a_cancel_surely_not_made_is_a_plain_refusal(
    scripted: Any, clock: Any, error: ProviderError
) -> None:
    orders, client, _key = scripted
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert result.activation is not None
    clock.advance(301)
    client.set_status_error = error
    with pytest.raises(type(error)):
        await orders.cancel(USER, result.activation.id)


async def test_other_changes_whose_outcome_is_unknown(scripted: Any, tdb: Database) -> None:
    orders, client, _key = scripted
    a = await _with_code(orders, client)
    await _allow_another_sms(tdb, a.id)
    client.set_status_error = ProviderUnavailable("TIMEOUT")
    # "Another code": checking until the provider's state shows whether the round began.
    a = await orders.request_another(USER, a.id)
    assert (a.status, a.round, a.pending_change) == ("received", 0, "another")
    client.statuses = [ActivationStatus("wait_retry", "9090")]
    a = await orders.refresh(USER, a.id)
    assert (a.status, a.round, a.pending_change) == ("retry", 1, None)
    # "SMS sent" is a hint only, and "Done" is paid for either way: both are recorded.
    assert (await orders.mark_sms_sent(USER, a.id)).sms_sent
    assert (await orders.finish(USER, a.id)).status == "finished"


# ------------------------------------------------------------------ the card, reads, Changes


class Wakes:
    """Listens to a `Changes` port: how many times the tracker would have been woken."""

    def __init__(self) -> None:
        self.count = 0
        self.changes: list[Change] = []

    def __call__(self, change: Change) -> None:
        self.count += 1
        self.changes.append(change)


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def told(tdb: Database, tproviders: Any, clock: Any, wakes: Wakes) -> OrderService:
    from bot.changes import Changes

    changes = Changes()
    changes.listen(wakes)
    return OrderService(tdb, tproviders, clock=clock, changes=changes)


async def test_a_purchase_and_every_button_tell_the_tracker(
    told: OrderService, tkey: KeyProfile, sandbox: Any, wakes: Wakes, clock: Any
) -> None:
    bought = await told.buy(
        USER, token=await issue(told), service="tg", country="0", max_price=None, chat_id=1
    )
    assert bought.activation is not None and wakes.count == 1
    a = bought.activation
    await told.mark_sms_sent(USER, a.id)
    await told.refresh(USER, a.id)
    await told.cancel(USER, a.id)  # inside the lock: scheduled, the tracker must know
    assert wakes.count == 4
    sandbox.state.deliver_sms(a.provider_id, "code 5150")
    await told.refresh(USER, a.id)
    await told.request_another(USER, a.id)
    await told.finish(USER, a.id)
    assert wakes.count == 7
    # Each names the number it changed: the tracker reads that row, and only that one.
    assert set(wakes.changes) == {Change(Changed.ACTIVATION, a.id)}


async def test_an_unknown_outcome_tells_the_tracker_and_a_refusal_does_not(
    told: OrderService, tkey: KeyProfile, sandbox: Any, wakes: Wakes
) -> None:
    sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    result = await told.buy(
        USER, token=await issue(told), service="tg", country="0", max_price=None, chat_id=1
    )
    assert result.pending and wakes.count == 1  # reconciliation starts at once
    with pytest.raises(NotFound):
        await told.finish(999, 1)  # someone else's number: nothing changed, nobody told
    assert wakes.count == 1


async def test_the_card_and_its_codes_are_written_through_the_use_case(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database
) -> None:
    bought = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert bought.activation is not None
    a = bought.activation
    await orders.card_shown(a.id, 42, 4242)
    shown = await orders.get(USER, a.id)
    assert shown is not None and (shown.chat_id, shown.message_id) == (42, 4242)
    sandbox.state.deliver_sms(a.provider_id, "code 1111")
    with_code = await orders.refresh(USER, a.id)
    assert [c.delivered for c in with_code.codes] == [False]
    await orders.codes_shown(with_code)
    assert await tdb.activations.undelivered_codes(a.id) == []
    await orders.request_another(USER, a.id)
    sandbox.state.deliver_sms(a.provider_id, "code 2222")
    await orders.refresh(USER, a.id)
    await orders.code_delivered(a.id, 1)
    assert await tdb.activations.undelivered_codes(a.id) == []


async def test_reads_are_scoped_to_the_owner(
    orders: OrderService, tkey: KeyProfile, sandbox: Any, tdb: Database, clock: Any
) -> None:
    bought = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None, chat_id=1
    )
    assert bought.activation is not None
    a = bought.activation
    assert await orders.get(999, a.id) is None  # a crafted id naming another's number
    assert [n.id for n in await orders.live(USER)] == [a.id] and await orders.live(999) == []
    key = await orders.key_of(a)
    assert key is not None and key.id == tkey.id
    assert await orders.key_of(a, known=key) is key  # the update's key stands in: no read
    stranger = replace(key, id=key.id + 1, label="another key")
    assert await orders.key_of(a, known=stranger) == key  # not its key: read as stored
    owner = await orders.owner(USER)
    assert owner is not None and owner.language == "en"
    clock.advance(121)
    await orders.cancel(USER, a.id)
    assert await orders.live(USER) == []


async def test_the_key_this_update_read_buys_without_a_second_read(
    orders: OrderService, tdb: Database, tkey: KeyProfile, sandbox: Any
) -> None:
    """The handler passes the active key its update read: it buys with it, no read again; a
    key that is not the one to buy with (another user's, not active, removed) is read."""
    sql = await SqlTrace.start(tdb)
    result = await orders.buy(
        USER, token=await issue(orders), service="tg", country="0", max_price=None,
        chat_id=USER, known=tkey,
    )  # fmt: skip
    assert result.activation is not None and result.activation.key_id == tkey.id
    assert sql.matching("FROM api_keys") == []  # neither the active key nor the key by id
    assert result.key is not None and result.key.id == tkey.id

    other = await tdb.keys.add(
        USER, label="second", base_url=sandbox.url, api_key=sandbox.state.create_key(),
        currency="RUB",
    )  # fmt: skip
    not_to_buy_with = (
        replace(tkey, active=False),  # read before `other` became the active one: stale
        replace(tkey, user_id=USER + 1),
        replace(tkey, deleted_at=1.0),
    )
    for known in not_to_buy_with:
        result = await orders.buy(
            USER, token=await issue(orders), service="tg", country="0", max_price=None,
            chat_id=USER, known=known,
        )  # fmt: skip
        assert result.activation is not None and result.activation.key_id == other.id
