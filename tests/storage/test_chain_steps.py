"""A chain's step is settled only by writes that name it (its token): a worker that lost the
chain's key mid-step, coming back after another worker settled that step and started the
next, changes nothing."""

from __future__ import annotations

from decimal import Decimal

from storage import Database
from storage.chains import CHAIN_ACTIVE, CHAIN_BUYING, CHAIN_ENDED, ReplaceChain
from tests.storage.helpers import add_activation, add_key

PRICE = Decimal("18")


async def _reserve(db: Database, chain: ReplaceChain, on: int, token: str) -> None:
    reserved, _reason = await db.chains.reserve(
        chain.id, on_activation=on, token=token, stop=lambda _row: None
    )
    assert reserved is not None and reserved.step_token == token


async def test_only_the_writes_naming_the_current_step_settle_it(db: Database) -> None:
    key = await add_key(db, 1)
    first = await add_activation(db, 1, key.id, "3001")
    chain = await db.chains.start(
        user_id=1, key_id=key.id, activation_id=first.id, service="tg", country="0",
        max_price=PRICE, chat_id=1, after=120, attempts_max=5, cap=PRICE * 5, spent=PRICE,
    )  # fmt: skip
    assert chain is not None
    await _reserve(db, chain, first.id, "old")
    assert await db.chains.not_bought(chain.id, step="old")  # proved: active again
    await _reserve(db, chain, first.id, "new")  # the next step, by the worker holding the key

    # The worker that made the old step, late: nothing it says touches the new one.
    assert not await db.chains.not_bought(chain.id, step="old")
    assert not await db.chains.end(chain.id, "NO_BALANCE", release=True, step="old")
    assert not await db.chains.move_country(chain.id, "6", step="old")
    second = await add_activation(db, 1, key.id, "3002")
    assert not await db.chains.bought(chain.id, second.id, PRICE, step="old")
    now = await db.chains.get(chain.id)
    assert now is not None
    assert (now.state, now.step_token, now.reserved, now.country) == (
        CHAIN_BUYING, "new", PRICE, "0"
    )  # fmt: skip

    assert await db.chains.bought(chain.id, second.id, PRICE, step="new")
    joined = await db.chains.get(chain.id)
    assert joined is not None
    assert (joined.state, joined.activation_id, joined.spent) == (
        CHAIN_ACTIVE,
        second.id,
        PRICE * 2,
    )
    assert joined.attempts_used == 3  # each reserved step counted
    assert await db.chains.end(chain.id, "user")
    ended = await db.chains.get(chain.id)
    assert ended is not None and ended.state == CHAIN_ENDED
