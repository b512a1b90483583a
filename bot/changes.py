"""The port through which use cases tell the background work that something changed.

A use case that stores a new number, a button press that wants a fast look, or a purchase whose
outcome is unknown calls one of these; the tracker, given the same `Changes` at composition,
wakes for it and reads just the rows named (it holds its schedule in memory). Use cases never
import the tracker, and handlers never poke it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Changed(StrEnum):
    """What kind of row changed."""

    ACTIVATION = "activation"
    RENTAL = "rental"
    # A rental the user is looking at: besides a wake, its polls hurry for a while.
    RENTAL_OPENED = "rental_opened"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Change:
    """One stored row a use case changed: its kind and id."""

    kind: Changed
    id: int


Listener = Callable[[Change], None]


class ChangeRelay(Protocol):
    """Carries Changes between processes: what one process's use cases changed reaches
    the tracker in another."""

    def publish(self, change: Change) -> None: ...  # non-blocking, never raises

    async def start(self, deliver: Callable[[Change], None]) -> None: ...  # receive

    async def stop(self) -> None: ...


class Changes:
    """Fan-out of "this row changed" to whoever listens (the tracker, in one process)."""

    __slots__ = ("_listeners", "_rental_watchers")

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._rental_watchers: list[Callable[[int], None]] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def listen_rentals_opened(self, listener: Callable[[int], None]) -> None:
        """`listener(rental_id)` runs for each `rental_opened`."""
        self._rental_watchers.append(listener)

    def activation_changed(self, activation_id: int) -> None:
        """A number was bought, adopted, or a button asked for a fresh look at it."""
        self._notify(Change(Changed.ACTIVATION, activation_id))

    def rental_changed(self, rental_id: int) -> None:
        """A rental was taken, extended, finished or asked to refresh."""
        self._notify(Change(Changed.RENTAL, rental_id))

    def rental_opened(self, rental_id: int) -> None:
        """The user is looking at a rental (rented, opened or extended it): poll it fast for a
        few minutes, so an SMS they wait for shows within seconds."""
        for listener in self._rental_watchers:
            listener(rental_id)
        self._notify(Change(Changed.RENTAL_OPENED, rental_id))

    def purchase_unknown(self, pending_id: int) -> None:
        """A purchase's outcome is unknown: reconciliation should start."""
        self._notify(Change(Changed.PENDING, pending_id))

    def deliver(self, change: Change) -> None:
        """A change another process published (through a `ChangeRelay`): told to this
        process's listeners as if a use case here had made it."""
        if change.kind is Changed.RENTAL_OPENED:
            self.rental_opened(change.id)
        else:
            self._notify(change)

    def _notify(self, change: Change) -> None:
        for listener in self._listeners:
            listener(change)
