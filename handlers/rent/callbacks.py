"""Callback data of the rent flow and the rental card: short versioned prefixes, ids only.

Everything a callback names is re-checked against the tapping user on arrival: the data is
only a request, never a proof of ownership.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from handlers.common import CallbackHours, CallbackId, CallbackPage


class RentalCb(CallbackData, prefix="r1"):
    """An action on one rental. Actions: open (the card), ref (refresh), sms (list, `page`),
    hist (history, `page`), ext (choose hours), extq (price of `arg` hours), fin (ask to
    finish), finy (finish), cnl (cancel)."""

    action: str
    id: CallbackId = 0
    page: CallbackPage = 0
    arg: CallbackHours = 0  # hours (extq)


class RentFlowCb(CallbackData, prefix="r1f"):
    """The rent flow: svc (services page) -> cty (countries of a service) -> dur (durations)
    -> cfm (confirm one duration)."""

    action: str
    service: str = ""
    country: str = ""
    hours: CallbackHours = 0
    page: CallbackPage = 0


class RentBuyCb(CallbackData, prefix="r1b"):
    """The confirmation tap: rents one number; `token` is claimed once in storage."""

    service: str
    country: str
    hours: CallbackHours
    token: str


class RentExtendCb(CallbackData, prefix="r1e"):
    """The extension confirmation tap: extends once per `token`."""

    id: CallbackId
    hours: CallbackHours
    token: str
