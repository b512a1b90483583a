"""The rule for which rental SMS are distinct: one dedup key per message.

The tracker (a rental poll) and the rentals use case (a card's Refresh) both store the SMS a
provider lists for a rental; both key them here, so the same SMS is stored (and shown) once
whichever path read it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from bot.provider.models import RentSms


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
