"""Use-case errors: what a user asked for cannot be done; handlers translate them to text."""

from __future__ import annotations


class UseCaseError(Exception):
    """Base of the errors the use cases raise for the handlers to translate."""


class NotFound(UseCaseError):
    """The thing named (key, activation, rental) is not this user's, or no longer exists/lives."""


class NoActiveKey(UseCaseError):
    """The user has no API key yet (or none is active): they must add one first."""


class Stale(UseCaseError):
    """A button from an old message: the state it was drawn for has moved on."""


class CodeReceived(UseCaseError):
    """The number already got a code: it is paid for and can no longer be cancelled."""


class PurchaseChecking(UseCaseError):
    """A purchase on this key is still being checked (its answer was lost): a number the
    provider lists may be that purchase, which the tracker takes in by itself."""
