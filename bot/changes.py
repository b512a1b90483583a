"""The port through which use cases tell the background work that something changed.

A use case that stores a new number, a button press that wants a fast look, or a purchase whose
outcome is unknown calls one of these; the tracker, given the same `Changes` at composition,
wakes for it. Use cases never import the tracker, and handlers never poke it.
"""

from __future__ import annotations

from collections.abc import Callable


class Changes:
    """Fan-out of "something changed" to whoever listens (the tracker, in one process)."""

    __slots__ = ("_listeners", "_rental_watchers")

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._rental_watchers: list[Callable[[int], None]] = []

    def listen(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def listen_rentals_opened(self, listener: Callable[[int], None]) -> None:
        """`listener(rental_id)` runs for each `rental_opened`."""
        self._rental_watchers.append(listener)

    def activation_changed(self, activation_id: int) -> None:
        """A number was bought, adopted, or a button asked for a fresh look at it."""
        self._notify()

    def rental_changed(self, rental_id: int) -> None:
        """A rental was taken, extended, finished or asked to refresh."""
        self._notify()

    def rental_opened(self, rental_id: int) -> None:
        """The user is looking at a rental (rented, opened or extended it): poll it fast for a
        few minutes, so an SMS they wait for shows within seconds."""
        for listener in self._rental_watchers:
            listener(rental_id)
        self._notify()

    def purchase_unknown(self, pending_id: int) -> None:
        """A purchase's outcome is unknown: reconciliation should start."""
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()
