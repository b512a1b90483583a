"""A card's marks beside its number (the ⭐ of a favourite pick, the chain step it is) come in
one read, on both backends, and say what the separate reads say."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from storage import Database
from storage.chains import CardMarks, ReplaceChain
from storage.models import Activation
from tests.storage.helpers import add_activation, add_key

PRICE = Decimal("18")


async def _chain_on(db: Database, number: Activation) -> ReplaceChain:
    """An auto-replace chain of three attempts whose first number is `number`."""
    chain = await db.chains.start(
        user_id=number.user_id, key_id=number.key_id, activation_id=number.id,
        service=number.service, country=number.country, max_price=PRICE, chat_id=1,
        after=120, attempts_max=3, cap=PRICE * 3, spent=PRICE,
    )  # fmt: skip
    assert chain is not None
    return chain


async def test_a_number_s_marks_are_its_owner_s_favourite_and_its_chain_step(db: Database) -> None:
    key = await add_key(db, 1)
    first = await add_activation(db, 1, key.id, "3001")
    other_key = await add_key(db, 2)
    theirs = await add_activation(db, 2, other_key.id, "3002")
    assert await db.chains.card_marks(first) == CardMarks(starred=False, step=None)

    # Another user's favourite, or the same service elsewhere, does not star this number.
    await db.picks.add_favourite(2, first.service, first.country)
    await db.picks.add_favourite(1, first.service, "99")
    assert not (await db.chains.card_marks(first)).starred
    assert (await db.chains.card_marks(theirs)).starred
    await db.picks.add_favourite(1, first.service, first.country)
    assert (await db.chains.card_marks(first)).starred

    chain = await _chain_on(db, first)
    marks = await db.chains.card_marks(first)
    assert marks.step is not None and marks.step == await db.chains.step_of(first.id)
    assert (marks.step.chain.id, marks.step.attempt, marks.starred) == (chain.id, 1, True)
    assert (await db.chains.card_marks(theirs)).step is None


async def test_a_number_comes_with_its_marks_in_one_read_and_only_to_its_owner(
    db: Database, clock: Any
) -> None:
    key = await add_key(db, 1)
    plain = await add_activation(db, 1, key.id, "3101")
    coded = await add_activation(db, 1, key.id, "3102")
    await db.activations.add_code(coded.id, 0, "123456", "Your code 123456", clock())
    await db.picks.add_favourite(1, coded.service, coded.country)
    chain = await _chain_on(db, coded)

    for number in (plain, coded):
        found = await db.activations.get_with_marks(1, number.id)
        assert found is not None
        activation, marks = found
        assert activation == await db.activations.get(1, number.id)  # codes included
        assert marks == await db.chains.card_marks(number)
    found = await db.activations.get_with_marks(1, coded.id)
    assert found is not None and [c.code for c in found[0].codes] == ["123456"]
    assert found[1].starred and found[1].step is not None and found[1].step.chain.id == chain.id
    assert await db.activations.get_with_marks(2, coded.id) is None  # not theirs
    assert await db.activations.get_with_marks(1, 10**9) is None
