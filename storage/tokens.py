"""TokenRepo: purchase tokens issued with a confirm screen, so one tap buys at most one number,
and only what that screen offered.

A token is issued by the bot (a random string stored here), bound to the user and to the offer
(`offer_key`), and claimable once before it expires. Anything else — a token the bot never
issued, another user's, one shown for another offer, an expired or pruned one — buys nothing.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Literal

from storage.base import Connection, Store, money_in, money_out, tx_fetchone

TOKEN_TTL = 3600.0  # a confirm screen older than an hour shows prices that may have moved
TOKEN_BYTES = 9  # 72 random bits: 12 URL-safe characters, short enough for callback data
# Issuing prunes the expired tokens at most this often (seconds): a confirm screen is drawn
# on most taps of the buy flow, and the table only needs to stay small, not exact.
PRUNE_EVERY = 60.0

Claim = Literal["ok", "used", "stale"]


def offer_key(
    kind: str,
    *,
    service: str = "",
    country: str = "",
    max_price: Decimal | None = None,
    hours: int | None = None,
    rental_id: int | None = None,
    choice: str = "",
    quantity: int = 1,
) -> str:
    """One canonical text per offer: what the issued token and the tap must agree on.

    `choice` (the suppliers or operator, `PurchaseFilter.code()`) and `quantity` (numbers
    bought by one confirmation) are part of the offer: a token issued for one filter or count
    never buys with another. Left at their defaults they add nothing, so the offers of before
    keep their text."""
    price = "" if max_price is None else format(Decimal(max_price).normalize(), "f")
    parts = (kind, service, country, price, "" if hours is None else str(int(hours)))
    key = "|".join((*parts, "" if rental_id is None else str(int(rental_id))))
    if choice or quantity != 1:
        key += f"|{choice}|{int(quantity)}"
    return key


def batch_token(lead: str, index: int) -> str:
    """The token of the `index`-th number (from 2) bought by one confirmation of several: the
    lead token (the one the button carries) buys the first."""
    return lead if index <= 1 else f"{lead}.{index}"


async def claim_in(conn: Connection, token: str, user_id: int, offer: str, now: float) -> Claim:
    """Claim inside an open transaction: "ok" exactly once per issued token; "used" when it
    was claimed already; "stale" when it was never issued (to this user, for this offer) or
    has expired."""
    claim, _price = await claim_priced_in(conn, token, user_id, offer, now)
    return claim


async def claim_priced_in(
    conn: Connection, token: str, user_id: int, offer: str, now: float
) -> tuple[Claim, Decimal | None]:
    """`claim_in`, and with "ok" the price the token's confirm screen showed, read by the
    claim itself (a purchase's intent keeps it)."""
    row = await tx_fetchone(
        conn,
        "UPDATE offer_tokens SET claimed_at = ? WHERE token = ? AND user_id = ? AND offer = ?"
        " AND claimed_at IS NULL AND expires_at > ? RETURNING price",
        (now, token, user_id, offer, now),
    )
    if row is not None:
        return "ok", money_out(row[0])
    row = await tx_fetchone(
        conn,
        "SELECT claimed_at FROM offer_tokens WHERE token = ? AND user_id = ? AND offer = ?",
        (token, user_id, offer),
    )
    return ("used" if row is not None and row[0] is not None else "stale"), None


class TokenRepo:
    def __init__(self, store: Store) -> None:
        self._s = store
        self._prune_at = float("-inf")  # when issuing prunes the expired tokens again

    async def issue(
        self, user_id: int, offer: str, *, price: Decimal | None = None, ttl: float = TOKEN_TTL
    ) -> str:
        """A fresh token for this user and offer (`price`: what the screen showed). Expired
        ones are pruned on the way, once every PRUNE_EVERY seconds."""
        now = self._s.clock()
        if now >= self._prune_at:
            await self.prune(now)
            self._prune_at = now + PRUNE_EVERY
        while True:
            token = secrets.token_urlsafe(TOKEN_BYTES)
            changed = await self._s.side_write(
                "INSERT OR IGNORE INTO offer_tokens(token, user_id, offer, price, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (token, user_id, offer, money_in(price), now + ttl),
            )
            if changed == 1:  # a collision of 72 random bits is as good as impossible
                return token

    async def issue_batch(
        self,
        user_id: int,
        offer: str,
        quantity: int,
        *,
        price: Decimal | None = None,
        ttl: float = TOKEN_TTL,
    ) -> str:
        """The lead token of a confirmation of `quantity` numbers, and one more token per
        further number (`batch_token(lead, i)`), all for this user and offer: each number is
        bought under its own token, and the tap's lead token claims the whole batch."""
        lead = await self.issue(user_id, offer, price=price, ttl=ttl)
        expires_at = self._s.clock() + ttl
        for index in range(2, quantity + 1):
            await self._s.write(
                "INSERT INTO offer_tokens(token, user_id, offer, price, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (batch_token(lead, index), user_id, offer, money_in(price), expires_at),
            )
        return lead

    async def withdraw(self, tokens: list[str], user_id: int) -> None:
        """Claim unclaimed tokens without buying: the rest of a batch that stopped early can
        never buy later."""
        now = self._s.clock()
        for token in tokens:
            await self._s.write(
                "UPDATE offer_tokens SET claimed_at = ? WHERE token = ? AND user_id = ?"
                " AND claimed_at IS NULL",
                (now, token, user_id),
            )

    async def claim(self, token: str, user_id: int, offer: str) -> Claim:
        async with self._s.transaction() as conn:
            return await claim_in(conn, token, user_id, offer, self._s.clock())

    async def prune(self, now: float) -> int:
        """Forget expired tokens, claimed or not.

        The once-only rule still holds: a token is claimable only while `expires_at > now`,
        and a row is deleted only once `expires_at < now`; a deleted token is unknown, and an
        unknown token is refused ("stale"). So pruning can turn a used token into a refused
        one, never into a claimable one."""
        return await self._s.side_write("DELETE FROM offer_tokens WHERE expires_at < ?", (now,))
