"""The one rule for what a provider's status answer means for a stored activation.

The tracker (a poll, a listing entry, a refused cancel) and the card's Refresh both ask a
provider about a number; both hand what it said to `decide` and store the decision with
`store_decision`, so the same answer on the same stored number is stored the same way
whichever path heard it. `decide` is pure: no I/O, no clock of its own.

Money rules behind it: the previous round's code is never a new code; a stored code ends any
scheduled cancel (a number with a code is never cancelled); an ended number with a code
is "finished" (it was paid for), without one "expired" or "cancelled" (refunded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.provider.errors import AddressRefused, ProviderError, ProviderUnavailable, RateLimited
from storage.activations import ActivationRepo
from storage.models import Activation, ActivationCode

# setStatus 8 answers meaning "a code is already there, a cancel is no longer possible".
CODE_ARRIVED = frozenset({"BAD_STATUS", "OTP_RECEIVED", "STATUS_ALREADY_CHANGED"})
# Answers meaning "the provider no longer has it live": the number ended there.
GONE = frozenset({"NO_ACTIVATION", "ACTIVATION_NOT_ACTIVE", "WRONG_ACTIVATION_ID", "NOT_FOUND"})

# Status changes whose outcome was unknown and that the next answer settles (pending_change).
PENDING_CANCEL = "cancel"
PENDING_ANOTHER = "another"


class StatusAnswer(Protocol):
    """What a provider said of one activation: a getStatus answer or a listing entry.
    state: wait_code | wait_retry | wait_resend | ok | cancel; anything else is "nothing
    learned" (a provider state this rule does not know changes nothing)."""

    @property
    def state(self) -> str: ...

    @property
    def code(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """A StatusAnswer built by the caller (e.g. from an error that says the number ended)."""

    state: str
    code: str | None = None


ENDED_ANSWER = Answer("cancel")


@dataclass(frozen=True, slots=True)
class StatusDecision:
    """What to store. Applied in this order: start_round, new_code, end_as, settle."""

    start_round: bool = False  # an "another code" whose outcome was unknown did happen
    new_code: str | None = None  # the code of the (possibly just started) current round
    end_as: str | None = None  # finished | cancelled | expired
    settled: bool = False  # the pending change's outcome is now known: stop "checking"

    @property
    def changes_nothing(self) -> bool:
        return not (self.start_round or self.new_code or self.end_as or self.settled)


NOTHING = StatusDecision()


def answer_from_error(code: str) -> Answer | None:
    """An error of getStatus that still says something: the number is gone (ended)."""
    return ENDED_ANSWER if code in GONE else None


def outcome_unknown(error: ProviderError) -> bool:
    """A setStatus error after which the change may or may not have been made: the answer was
    lost or unreadable (timeout, connection, 5xx or HTML page, noise) or acknowledged something
    else. A rate limit or a refused address is a definite "not done"."""
    if isinstance(error, RateLimited | AddressRefused):
        return False
    return isinstance(error, ProviderUnavailable) or error.code == "ACK_MISMATCH"


def ended_status(activation: Activation, now: float) -> str:
    """How a number the provider no longer has live is stored: with a code it was paid for
    ("finished"); without one, past its end "expired", else "cancelled" (both refunded)."""
    if activation.codes:
        return "finished"
    if now >= activation.ends_at:
        return "expired"
    return "cancelled"


def refunded(ended: Activation) -> bool:
    """An ended number without any code gave the money back."""
    return not ended.codes


def current_code(activation: Activation) -> ActivationCode | None:
    return next((c for c in activation.codes if c.round == activation.round), None)


def previous_code(activation: Activation) -> ActivationCode | None:
    earlier = [c for c in activation.codes if c.round < activation.round]
    return max(earlier, key=lambda c: c.round) if earlier else None


def is_previous_code(activation: Activation, code: str | None) -> bool:
    """After "another code", a provider may keep showing the previous round's code: stale."""
    previous = previous_code(activation)
    return previous is not None and previous.code == code


def decide(activation: Activation, answer: StatusAnswer | None, now: float) -> StatusDecision:
    """What `answer` means for the stored `activation`. Total: None (no usable answer), an
    ended number or a state this rule does not know all mean "nothing learned"."""
    if answer is None or not activation.live:
        return NOTHING
    pending = activation.pending_change
    state = answer.state
    code = answer.code or None
    if state == "cancel":
        return StatusDecision(end_as=ended_status(activation, now), settled=pending is not None)
    if pending == PENDING_ANOTHER:
        return _settle_another(activation, state, code)
    settled = pending is not None and state in ("ok", "wait_code", "wait_retry", "wait_resend")
    if state != "ok" or code is None:
        # wait_code / wait_resend: nothing new; wait_retry carries the OLD code.
        return StatusDecision(settled=settled)
    if current_code(activation) is not None or is_previous_code(activation, code):
        return StatusDecision(settled=settled)
    return StatusDecision(new_code=code, settled=settled)


def _settle_another(activation: Activation, state: str, code: str | None) -> StatusDecision:
    """An "another code" request whose answer was lost: the provider's state tells whether it
    was made (waiting for a retry, or already a code other than the current one)."""
    shown = current_code(activation)
    if state == "wait_retry":
        return StatusDecision(start_round=shown is not None, settled=True)
    if state == "ok" and code is not None:
        if shown is None:
            return StatusDecision(new_code=code, settled=True)
        if code != shown.code:
            return StatusDecision(start_round=True, new_code=code, settled=True)
        return StatusDecision(settled=True)  # still the same code: the request was not made
    if state in ("wait_code", "wait_resend"):
        return StatusDecision(settled=True)
    return NOTHING


@dataclass(frozen=True, slots=True)
class Stored:
    """What store_decision changed."""

    code: bool = False  # a new code was stored
    ended: bool = False  # this call ended the number
    round: int = 0  # the number's round afterwards (as this call saw it)


async def store_decision(
    repo: ActivationRepo,
    activation: Activation,
    decision: StatusDecision,
    *,
    text: str | None,
    now: float,
) -> Stored:
    """Store a decision (the only writer of status answers, for every path)."""
    if decision.changes_nothing:
        return Stored(round=activation.round)
    round_ = activation.round
    if decision.start_round:
        round_ = await repo.start_retry(activation.id, expected_round=activation.round)
    code = False
    if decision.new_code:
        code = await repo.store_code(activation.id, round_, decision.new_code, text, now)
    ended = False
    if decision.end_as is not None:
        ended = await repo.set_status(activation.id, decision.end_as, ended_at=now)
    if decision.settled:
        await repo.set_pending_change(activation.id, None)
    return Stored(code=code, ended=ended, round=round_)
