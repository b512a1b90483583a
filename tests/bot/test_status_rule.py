"""The one rule for what a provider's status answer means for a stored number: every stored state
× every answer, and the tracker's poll and the card's Refresh storing the same thing for the
same answer."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest

from bot.activation_status import Answer, StatusDecision, decide, refunded
from bot.orders import OrderService
from bot.provider.models import ActivationStatus, ActiveActivation
from bot.tracker import Tracker
from storage import Database
from storage.models import Activation, ActivationCode
from tests.bot.conftest import FAST, USER, RecordingNotifier

NOW = 1_800_000_000.0
OLD, NEW = "1111", "2222"


def _code(round_: int, code: str) -> ActivationCode:
    return ActivationCode(round_, code, None, NOW - 10, True)


def _activation(**overrides: Any) -> Activation:
    fields: dict[str, Any] = {
        "id": 1,
        "user_id": USER,
        "key_id": 1,
        "provider_id": "500",
        "service": "tg",
        "country": "0",
        "phone": "79000000000",
        "cost": Decimal("10"),
        "currency": "RUB",
        "status": "waiting",
        "sms_sent": False,
        "round": 0,
        "codes": [],
        "created_at": NOW - 300,
        "ends_at": NOW + 900,
        "cancel_allowed_at": NOW + 100,
        "cancel_requested": False,
        "can_get_another_sms": True,
        "chat_id": USER,
        "message_id": None,
        "next_poll_at": NOW,
        "ended_at": None,
        "adopted": False,
        "pending_change": None,
    }
    fields.update(overrides)
    return Activation(**fields)


# Every stored state a number can be in when an answer comes.
STORED: dict[str, Activation] = {
    "waiting": _activation(),
    "waiting, cancel scheduled": _activation(cancel_requested=True),
    "waiting, past its end": _activation(ends_at=NOW - 1),
    "received": _activation(status="received", codes=[_code(0, OLD)]),
    # The state item 1 found (a cancel scheduled next to a code): the rule must not mind it.
    "received, cancel scheduled": _activation(
        status="received", codes=[_code(0, OLD)], cancel_requested=True
    ),
    "retry": _activation(status="retry", round=1, codes=[_code(0, OLD)]),
    "waiting, cancel being checked": _activation(cancel_requested=True, pending_change="cancel"),
    "received, another being checked": _activation(
        status="received", codes=[_code(0, OLD)], pending_change="another"
    ),
    "finished": _activation(status="finished", codes=[_code(0, OLD)], ended_at=NOW - 5),
    "cancelled": _activation(status="cancelled", ended_at=NOW - 5),
    "expired": _activation(status="expired", ended_at=NOW - 5),
}

# Every answer: getStatus states, the previous round's code, a new code, the end, a state the
# rule does not know (e.g. "STATUS_OK:" with no code) and no usable answer at all.
ANSWERS: dict[str, Answer | None] = {
    "wait_code": Answer("wait_code"),
    "wait_resend": Answer("wait_resend"),
    "wait_retry(old)": Answer("wait_retry", OLD),
    "ok(old)": Answer("ok", OLD),
    "ok(new)": Answer("ok", NEW),
    "cancel": Answer("cancel"),
    "unknown state": Answer("unknown"),  # "STATUS_OK:" with no code: nothing usable
    "no answer": None,
}

_ = StatusDecision()
CODE_OLD, CODE_NEW = StatusDecision(new_code=OLD), StatusDecision(new_code=NEW)
SETTLED = StatusDecision(settled=True)
ENDED = {s: StatusDecision(end_as=s) for s in ("finished", "cancelled", "expired")}
ENDED_SETTLED = {s: StatusDecision(end_as=s, settled=True) for s in ("finished", "cancelled")}
LIVE_WAITING = {
    "wait_code": _,
    "wait_resend": _,
    "wait_retry(old)": _,
    "ok(old)": CODE_OLD,
    "ok(new)": CODE_NEW,
    "cancel": ENDED["cancelled"],
    "unknown state": _,
    "no answer": _,
}
LIVE_WITH_CODE = {name: _ for name in ANSWERS} | {"cancel": ENDED["finished"]}
NOTHING_EVER = {name: _ for name in ANSWERS}

EXPECTED: dict[str, dict[str, StatusDecision]] = {
    "waiting": LIVE_WAITING,
    "waiting, cancel scheduled": LIVE_WAITING,
    "waiting, past its end": LIVE_WAITING | {"cancel": ENDED["expired"]},
    "received": LIVE_WITH_CODE,
    "received, cancel scheduled": LIVE_WITH_CODE,
    "retry": LIVE_WITH_CODE | {"ok(new)": CODE_NEW},  # ok(old) is the previous round's code
    "waiting, cancel being checked": {
        "wait_code": SETTLED,  # not cancelled: the cancel stays scheduled
        "wait_resend": SETTLED,
        "wait_retry(old)": SETTLED,
        "ok(old)": StatusDecision(new_code=OLD, settled=True),
        "ok(new)": StatusDecision(new_code=NEW, settled=True),
        "cancel": ENDED_SETTLED["cancelled"],
        "unknown state": _,
        "no answer": _,
    },
    "received, another being checked": {
        "wait_code": SETTLED,  # the request was not made
        "wait_resend": SETTLED,
        "wait_retry(old)": StatusDecision(start_round=True, settled=True),
        "ok(old)": SETTLED,  # still the same code: not made
        "ok(new)": StatusDecision(start_round=True, new_code=NEW, settled=True),
        "cancel": ENDED_SETTLED["finished"],
        "unknown state": _,
        "no answer": _,
    },
    "finished": NOTHING_EVER,
    "cancelled": NOTHING_EVER,
    "expired": NOTHING_EVER,
}


def test_the_table_covers_every_stored_state_and_answer() -> None:
    assert set(EXPECTED) == set(STORED)
    for row in EXPECTED.values():
        assert set(row) == set(ANSWERS)


@pytest.mark.parametrize("answer_name", list(ANSWERS))
@pytest.mark.parametrize("stored_name", list(STORED))
def test_every_state_and_answer(stored_name: str, answer_name: str) -> None:
    decision = decide(STORED[stored_name], ANSWERS[answer_name], NOW)
    assert decision == EXPECTED[stored_name][answer_name]


def test_a_provider_status_answer_is_an_answer() -> None:
    """The provider client's own result type goes into the rule as it is."""
    waiting = STORED["waiting"]
    assert decide(waiting, ActivationStatus("ok", "0042"), NOW) == StatusDecision(new_code="0042")
    assert decide(waiting, ActivationStatus("ok", ""), NOW) == StatusDecision()


def test_refund_only_without_a_code() -> None:
    assert refunded(replace(STORED["waiting"], status="cancelled"))
    assert not refunded(replace(STORED["received"], status="finished"))


# ------------------------------------------------------------------ both paths store alike


@dataclass
class _ScriptedClient:
    """Answers every getStatus with the scripted answer (and getActiveActivations with the
    scripted listing, when there is one); records everything else."""

    answer: ActivationStatus | None
    listing: list[ActiveActivation] | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def supports(self, action: str) -> bool:
        return action == "getActiveActivations" and self.listing is not None

    async def get_active_activations(self) -> list[ActiveActivation]:
        self.calls.append(("get_active_activations", None))
        assert self.listing is not None
        return self.listing

    async def get_status(self, activation_id: str) -> ActivationStatus:
        self.calls.append(("get_status", activation_id))
        assert self.answer is not None
        return self.answer

    async def set_status(self, activation_id: str, status: int) -> str:
        self.calls.append(("set_status", status))
        raise AssertionError("neither path changes the provider's status here")


@dataclass
class _Factory:
    client_: _ScriptedClient

    def client(self, base_url: str, api_key: str, **options: Any) -> _ScriptedClient:
        return self.client_


async def _store_state(
    db: Database, key_id: int, provider_id: str, like: Activation, *, first_poll: float
) -> int:
    """A stored number in the state `like` describes (ids and times of its own), due for the
    tracker's first poll at `first_poll`."""
    a = await db.activations.add(
        user_id=USER,
        key_id=key_id,
        provider_id=provider_id,
        service="tg",
        country="0",
        phone="79000000000",
        cost=Decimal("10"),
        currency="RUB",
        created_at=like.created_at,
        ends_at=like.ends_at,
        cancel_allowed_at=like.cancel_allowed_at,
        can_get_another_sms=True,
        chat_id=USER,
        next_poll_at=first_poll,
    )
    for code in like.codes:
        await db.activations.add_code(a.id, code.round, code.code, None, code.received_at)
        await db.activations.mark_code_delivered(a.id, code.round)
    await db.connection.execute(
        "UPDATE activations SET status = ?, round = ?, cancel_requested = ?, pending_change = ?"
        " WHERE id = ?",
        (like.status, like.round, int(like.cancel_requested), like.pending_change, a.id),
    )
    return a.id


def _stored_view(a: Activation | None) -> tuple[Any, ...]:
    assert a is not None
    return (
        a.status,
        a.round,
        [(c.round, c.code) for c in a.codes],
        a.cancel_requested,
        a.pending_change,
        a.ended_at is None,
    )


LIVE_STORED = [name for name, a in STORED.items() if a.live]
PROVIDER_ANSWERS = {
    name: ActivationStatus(answer.state, answer.code)  # type: ignore[arg-type]
    for name, answer in ANSWERS.items()
    if answer is not None
}


async def _poll_and_refresh(
    db: Database, clock: Any, like: Activation, client: _ScriptedClient
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The same stored state twice: one number polled by the tracker, the other refreshed
    from its card; what each then stores."""
    clock.now = NOW
    await db.users.get_or_create(USER, "en")
    await db.users.update(USER, auto_cancel=False)
    key = await db.keys.add(USER, label="k", base_url="http://127.0.0.1:1/x", api_key="k" * 32)
    by_tracker = await _store_state(db, key.id, "700", like, first_poll=NOW)
    # Polled only when the test says: its card's Refresh asks for it.
    by_refresh = await _store_state(db, key.id, "701", like, first_poll=NOW + 10_000)
    factory = _Factory(client)
    orders = OrderService(db, factory, clock=clock)  # type: ignore[arg-type]
    config = replace(FAST, batch=client.listing is not None)
    tracker = Tracker(db, factory, RecordingNotifier(), config, clock=clock)
    await tracker.tick()
    await orders.refresh(USER, by_refresh)
    assert ("get_status", "701") in client.calls
    polled = _stored_view(await db.activations.get_any(by_tracker))
    refreshed = _stored_view(await db.activations.get_any(by_refresh))
    return polled, refreshed


@pytest.mark.parametrize("answer_name", list(PROVIDER_ANSWERS))
@pytest.mark.parametrize("stored_name", LIVE_STORED)
async def test_tracker_and_refresh_store_the_same(
    tdb: Database, clock: Any, stored_name: str, answer_name: str
) -> None:
    like = STORED[stored_name]
    client = _ScriptedClient(PROVIDER_ANSWERS[answer_name])
    polled, refreshed = await _poll_and_refresh(tdb, clock, like, client)
    assert [c for c in client.calls if c[0] == "get_status"] == [
        ("get_status", "700"),
        ("get_status", "701"),
    ]
    assert polled == refreshed
    # And what they stored is what the rule decided for the stored state.
    expected = EXPECTED[stored_name][answer_name]
    if expected.end_as is not None:
        assert polled[0] == expected.end_as and not polled[5]
    if expected.new_code is not None:
        assert (polled[1], expected.new_code) in polled[2] and polled[3] is False
    if expected.settled:
        assert polled[4] is None
    if expected == StatusDecision():
        assert polled == _stored_view(replace(like, ended_at=None))


# A getActiveActivations entry and the getStatus answer that says the same thing.
LISTED = {
    "wait_code": (ActiveActivation("700", "79000000000", status="4"), "wait_code"),
    "wait_retry(old)": (
        ActiveActivation("700", "79000000000", status="3", code=OLD),
        "wait_retry(old)",
    ),
    "ok(new)": (ActiveActivation("700", "79000000000", status="2", code=NEW), "ok(new)"),
    "ended": (ActiveActivation("700", "79000000000", status="8"), "cancel"),
}


@pytest.mark.parametrize("entry_name", list(LISTED))
@pytest.mark.parametrize("stored_name", LIVE_STORED)
async def test_a_listing_entry_stores_what_getstatus_would(
    tdb: Database, clock: Any, stored_name: str, entry_name: str
) -> None:
    entry, same_as = LISTED[entry_name]
    client = _ScriptedClient(PROVIDER_ANSWERS[same_as], listing=[entry])
    polled, refreshed = await _poll_and_refresh(tdb, clock, STORED[stored_name], client)
    assert ("get_active_activations", None) in client.calls
    assert polled == refreshed
