"""The rule for which rental SMS are distinct: one dedup key per message.

The tracker (a rental poll) and the rentals use case (a card's Refresh) both store the SMS a
provider lists for a rental; both key them here, so the same SMS is stored (and shown) once
whichever path read it.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict

from bot.provider.models import RentSms

# A code in an SMS: a run of 4 to 8 digits, maybe split once by a space or a dash ("123-456"),
# standing on its own (not part of a longer number, a phone or an amount like 1,500.00).
_CODE = re.compile(r"(?<![\w.,+])(?<!\d-)(\d{3,4}[- ]\d{3,4}|\d{4,8})(?![\w]|[.,]\d)")


def rental_sms_keys(messages: list[RentSms]) -> list[tuple[str, RentSms]]:
    """A stable dedup key per SMS: its content, plus an occurrence number for identical ones
    (two equal texts at the same second are two SMS, and both must be shown once)."""
    seen: dict[str, int] = defaultdict(int)
    keyed: list[tuple[str, RentSms]] = []
    for sms in messages:
        digest = hashlib.sha256(
            "\x1f".join((sms.date or "", sms.phone_from, sms.text)).encode()
        ).hexdigest()[:32]
        keyed.append((f"{digest}#{seen[digest]}", sms))
        seen[digest] += 1
    return keyed


def sms_code(text: str | None) -> str | None:
    """The code an SMS carries, to show tap-to-copy next to the whole text: the first run of
    4-8 digits standing on its own ("Your code: 123-456" -> "123456"); None when there is none
    or when several different ones make it a guess."""
    if not text:
        return None
    found = {match.replace("-", "").replace(" ", "") for match in _CODE.findall(text)}
    return found.pop() if len(found) == 1 else None
