"""THE rental card: what it shows, gathered once (`rental_card_data`), and how it looks
(`render_rental_card`). The tap handlers and the tracker's Telegram notifier both draw the card
through these two, so a card looks the same whoever redraws it.

The getter reads nothing the caller already holds: the owner and the key come in a `Recipient`
(the handler builds it from the tap, the tracker from its pass); only the latest SMS is read,
through the rentals use case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from html import escape

from aiogram.types import InlineKeyboardMarkup

from bot.catalog import CatalogService
from bot.config import Settings
from bot.formatting import format_time, user_timezone
from bot.i18n import Translate
from bot.presets import provider_zone
from bot.rentals import RentalService, cancel_block, cancel_deadline
from bot.tracker.notifier import Recipient
from handlers.names import Names, names_for
from handlers.rent.keyboards import rental_card_keyboard
from handlers.rent.views import latest_sms_lines, paid_line, phone_text
from storage.models import Rental, RentalSms


@dataclass(frozen=True, slots=True)
class RentalCardData:
    """Everything the rental card shows, as of `now`."""

    rental: Rental
    names: Names  # service and country in the owner's language, and the country's flag
    lang: str
    tz: tzinfo  # the owner's zone: every time on the card is shown in it
    provider_tz: tzinfo  # the zone the provider's SMS dates are written in
    currency: str | None  # of the key the rental was bought with
    latest_sms: RentalSms | None
    now: float
    can_cancel: bool  # the provider would still refund it (live, in the window, no SMS yet)


async def rental_card_data(
    rental: Rental,
    to: Recipient,
    *,
    lang: str,
    rentals: RentalService,
    catalog: CatalogService | None,
    settings: Settings | None,
    now: float,
) -> RentalCardData:
    """Gather the card of `rental` for its owner `to` (the caller has checked ownership)."""
    names = await names_for(catalog, to.key, lang, rental.service, rental.country)
    latest = await rentals.latest_sms(rental.user_id, rental.id)
    can_cancel = rental.live and cancel_block(rental, now, has_sms=latest is not None) is None
    return RentalCardData(
        rental=rental,
        names=names,
        lang=lang,
        tz=user_timezone(to.user.timezone if to.user is not None else None),
        provider_tz=provider_zone(to.key.base_url if to.key is not None else "", settings),
        currency=to.key.currency if to.key is not None else None,
        latest_sms=latest,
        now=now,
        can_cancel=can_cancel,
    )


def render_rental_card(data: RentalCardData, t: Translate) -> tuple[str, InlineKeyboardMarkup]:
    """The one message a rental lives in: its text and its buttons."""
    markup = rental_card_keyboard(
        t, data.rental.id, live=data.rental.live, can_cancel=data.can_cancel
    )
    return _card_text(data, t), markup


def _card_text(data: RentalCardData, t: Translate) -> str:
    r = data.rental
    lines = [
        t("rent-card-title"),
        f"📞 <code>{escape(phone_text(r.phone))}</code>",
        t("rent-card-service", service=escape(data.names.service)),
        t("rent-card-country", country=escape(data.names.country_with_flag)),
    ]
    paid = paid_line(t, r, data.currency, data.lang)
    if paid:
        lines.append(paid)
    if r.live:
        # Moments, never "time left": the card sits still between edits, a moment stays true.
        lines.append(t("rent-card-ends-at", at=format_time(r.ends_at, data.tz)))
        if data.can_cancel:
            until = format_time(cancel_deadline(r), data.tz)
            lines.append(t("rent-card-cancel-until", at=until))
    else:
        lines.append(t("rent-card-ended-at", at=format_time(r.ended_at or r.ends_at, data.tz)))
    lines.append(t("rent-card-status", status=t(f"rent-status-{r.status}")))
    lines.append("")
    lines.extend(
        latest_sms_lines(t, data.latest_sms, live=r.live, tz=data.tz, provider_tz=data.provider_tz)
    )
    return "\n".join(lines)
