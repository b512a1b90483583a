"""What a provider says of one activation, read the same whichever action said it (a
getStatus answer, or an entry of the getActiveActivations listing)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.activation_status import is_previous_code
from bot.provider.models import ActiveActivation
from storage.models import Activation

# activationStatus values of list endpoints that mean "ended" (confirm with getStatus).
_LIST_ENDED = frozenset({"6", "8", "10"})


@dataclass(frozen=True, slots=True)
class Observation:
    """What the provider says of one activation, whichever action said it."""

    state: str  # wait_code | wait_retry | wait_resend | ok | cancel
    code: str | None = None
    text: str | None = None


def observation_from_listing(item: ActiveActivation) -> Observation | None:
    """Read one getActiveActivations entry; None when it needs a getStatus to be sure."""
    status = (item.status or "").strip()
    if status in _LIST_ENDED:
        return None
    if status == "3":
        return Observation("wait_retry", item.code, item.text)
    if item.code:
        return Observation("ok", item.code, item.text)
    return Observation("wait_code")


def listed_code_is_stale(activation: Activation, observation: Observation) -> bool:
    """A listed code equal to the previous round's: the list may not mark it as old."""
    if observation.state != "ok" or activation.round == 0:
        return False
    return is_previous_code(activation, observation.code)
