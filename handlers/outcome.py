"""THE unknown-outcome presenter: what a purchase whose answer was lost shows, from the
"checking…" message to its result.

A purchase (a number, a rental, an extension) whose answer is lost is never retried: the
message the user tapped says "checking" (`checking_view`) and the tracker reconciles the open
intent. Its result replaces that message: a number or rental found is shown as its card (by
the card presenters: adopted), otherwise `outcome_data` + `render_outcome` say what happened
(not bought, charged but not told apart, or nobody can tell).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from html import escape

from aiogram.types import InlineKeyboardMarkup

from bot.catalog import CatalogService
from bot.formatting import format_money
from bot.i18n import Translate
from bot.tracker.notifier import Recipient
from handlers.common import only_menu_keyboard
from handlers.names import Names, names_for
from storage.models import PendingPurchase


class PurchaseKind(StrEnum):
    """What was being bought (the values of `PendingPurchase.kind`)."""

    ACTIVATION = "activation"
    RENT = "rent"
    EXTEND = "extend"


def checking_text(t: Translate, kind: PurchaseKind, *, findable: bool = True) -> str:
    """ "The provider did not say; checking": `findable` False when the provider lists no
    rentals, so only the balance can tell (rentals only)."""
    if kind is PurchaseKind.ACTIVATION:
        return t("buy-checking")
    if kind is PurchaseKind.EXTEND:
        return t("rent-extend-pending")
    return t("rent-pending") if findable else t("rent-pending-unlisted")


def checking_view(
    t: Translate, kind: PurchaseKind, *, findable: bool = True
) -> tuple[str, InlineKeyboardMarkup]:
    """The "checking" message with the main-menu button: the tracker's result replaces it."""
    return checking_text(t, kind, findable=findable), only_menu_keyboard(t)


@dataclass(frozen=True, slots=True)
class OutcomeData:
    """A purchase intent closed without a number to show, and what its message names."""

    pending: PendingPurchase
    names: Names
    currency: str | None  # of the key that paid
    rental_phone: str | None  # the rental an extension was for (extensions only)


async def outcome_data(
    pending: PendingPurchase,
    to: Recipient,
    *,
    lang: str,
    catalog: CatalogService | None,
    rental_phone: str | None = None,
) -> OutcomeData:
    names = await names_for(catalog, to.key, lang, pending.service, pending.country)
    currency = to.key.currency if to.key is not None else None
    return OutcomeData(pending, names, currency, rental_phone)


def phone_text(phone: str) -> str:
    return phone if phone.startswith("+") else f"+{phone}"


def render_outcome(data: OutcomeData, t: Translate) -> str:
    """The result: provably not bought (outcome "not_bought"), a rent charged but not looked
    up or not told apart from another one rented at the same moment ("bought"), or nobody can
    tell ("unknown")."""
    pending = data.pending
    args = {"service": escape(data.names.service), "country": escape(data.names.country)}
    if pending.outcome == "not_bought":
        if pending.kind == PurchaseKind.EXTEND:
            phone = phone_text(data.rental_phone) if data.rental_phone else "?"
            return t("tracker-not-extended", phone=escape(phone))
        if pending.kind == PurchaseKind.RENT:
            return t("tracker-not-rented", **args)
        return t("tracker-not-bought", **args)
    if pending.outcome == "bought":
        amount = format_money(pending.expected_cost, data.currency)
        # With a snapshot the provider lists rentals: the number was not told apart.
        unlisted = pending.rent_snapshot is None
        message = "tracker-rent-charged-unlisted" if unlisted else "tracker-rent-charged-unmatched"
        return t(message, amount=escape(amount), **args)
    if pending.kind == PurchaseKind.ACTIVATION:
        return t("tracker-pending", **args)
    return t("tracker-pending-rental", **args)
