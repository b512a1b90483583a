"""Texts of the rent flow and the screens under a rental card (HTML; every remote or user text
escaped). The card itself is drawn by presenter.py, from the pieces here."""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal
from html import escape

from bot.formatting import (
    clip_escaped,
    format_duration,
    format_money,
    format_provider_time,
    format_time,
)
from bot.i18n import Translate
from bot.provider.models import RentHistoryItem
from bot.rental_sms import sms_code
from bot.rentals import SMS_PREVIEW_LIMIT, RentOption, SmsPage
from storage.models import Rental, RentalSms

# Escaped characters, cut after escaping (see bot.formatting.clip_escaped): the whole text of
# every SMS arrives in its own message(s); the card and the list show a preview within
# Telegram's 4,096 characters (a list page holds up to five SMS).
_CARD_SMS_LIMIT = 1500
_LIST_SMS_LIMIT = SMS_PREVIEW_LIMIT  # one rule: what is cut here is pushed by the tracker
_SENDER_LIMIT = 100
_DATE_LIMIT = 64


def sms_time(sms: RentalSms, provider_tz: tzinfo, tz: tzinfo) -> str:
    """When an SMS came, escaped: the provider's date (read in its zone) in the user's zone,
    labelled; the raw date when unreadable; when the bot saw it when the provider gave none."""
    if not (sms.date and sms.date.strip()):
        return escape(format_time(sms.received_at, tz))
    return provider_date(sms.date, provider_tz, tz)


def duration_label(t: Translate, hours: int) -> str:
    if hours % 24 == 0:
        return t("rent-dur-days", n=str(hours // 24))
    return t("rent-dur-hours", n=str(hours))


def phone_text(phone: str) -> str:
    return "+" + phone.lstrip("+")


def money(amount: Decimal | None, currency: str | None = None, lang: str = "en") -> str:
    """An amount, escaped, with its currency sign, written as `lang` writes numbers."""
    return escape(format_money(amount, currency, lang=lang))


# ------------------------------------------------------------------ the rental card


def _period_currency(r: Rental) -> str | None:
    return next((p.currency for p in r.periods if p.currency), None)


def paid_text(r: Rental, currency: str | None = None, lang: str = "en") -> str:
    """What the rental cost, escaped: `32.00 ₽`, over several periods `32.00 ₽ (8.00 + 24.00)`;
    a period whose price was never known shows as `?` (and the total as `32.00 + ?`). In the
    currency the periods were paid in, else `currency` (the key's)."""
    currency = _period_currency(r) or currency
    total = r.paid_total
    text = money(total, currency, lang) if total is not None else "?"
    if total is not None and not r.paid_known:
        text += " + ?"
    if len(r.periods) > 1:
        parts = " + ".join(
            money(p.cost, lang=lang) if p.cost is not None else "?" for p in r.periods
        )
        text += f" ({parts})"
    return text


def paid_line(t: Translate, r: Rental, currency: str | None = None, lang: str = "en") -> str | None:
    """The card's price line: the rent price, or the total once the rental was extended."""
    if len(r.periods) > 1:
        return t("rent-card-paid", total=paid_text(r, currency, lang))
    if r.paid_total is None:
        return None
    return t("rent-card-price", price=paid_text(r, currency, lang))


def code_line(t: Translate, text: str | None) -> str | None:
    """The SMS's code, tap-to-copy, when it carries one (the whole text is shown too)."""
    code = sms_code(text)
    return t("rent-sms-code", code=escape(code)) if code else None


def latest_sms_lines(
    t: Translate, sms: RentalSms | None, *, live: bool, tz: tzinfo, provider_tz: tzinfo
) -> list[str]:
    """The card's last lines: the latest SMS (sender, time, its code, a preview), or that none
    came."""
    if sms is None:
        return [t("rent-card-no-sms") if live else t("rent-card-no-sms-ended")]
    sender = clip_escaped(sms.phone_from or "—", _SENDER_LIMIT)
    text = clip_escaped(sms.text.strip(), _CARD_SMS_LIMIT)
    code = code_line(t, sms.text)
    return [
        t("rent-card-latest", sender=sender, date=sms_time(sms, provider_tz, tz)),
        *([code] if code else []),
        f"<blockquote>{text}</blockquote>",
    ]


# ------------------------------------------------------------------ flow screens


def render_services(t: Translate, page: int, pages: int) -> str:
    return t("rent-choose-service", page=str(page + 1), pages=str(pages))


def render_countries(t: Translate, service_name: str) -> str:
    return t("rent-choose-country", service=escape(service_name))


def render_no_countries(t: Translate, service_name: str) -> str:
    return t("rent-no-countries", service=escape(service_name))


def render_durations(t: Translate, service_name: str, country_name: str) -> str:
    return t("rent-choose-duration", service=escape(service_name), country=escape(country_name))


def render_confirm(
    t: Translate,
    *,
    service_name: str,
    country_name: str,
    option: RentOption,
    balance: Decimal,
    currency: str | None,
    lang: str,
) -> str:
    text = t(
        "rent-confirm",
        service=escape(service_name),
        country=escape(country_name),
        duration=duration_label(t, option.hours),
        price=money(option.cost, currency, lang),
        balance=money(balance, currency, lang),
    )
    if balance < option.cost:
        text += "\n\n" + t("rent-low-balance")
    return text


def render_extend_confirm(
    t: Translate,
    r: Rental,
    option: RentOption,
    balance: Decimal,
    currency: str | None,
    *,
    lang: str,
    tz: tzinfo,
) -> str:
    text = t(
        "rent-extend-confirm",
        phone=escape(phone_text(r.phone)),
        duration=duration_label(t, option.hours),
        price=money(option.cost, currency, lang),
        balance=money(balance, currency, lang),
    )
    # Where the provider says nothing else, an extension adds its hours to the current end.
    text += "\n" + t("rent-extend-until", at=format_time(r.ends_at + option.hours * 3600, tz))
    if balance < option.cost:
        text += "\n\n" + t("rent-low-balance")
    return text


def render_extend_choose(t: Translate, r: Rental) -> str:
    return t("rent-extend-choose", phone=escape(phone_text(r.phone)))


def render_finish_confirm(t: Translate, r: Rental) -> str:
    return t("rent-finish-confirm", phone=escape(phone_text(r.phone)))


def render_cancel_confirm(t: Translate, r: Rental) -> str:
    return t("rent-cancel-confirm", phone=escape(phone_text(r.phone)))


def render_sms_page(t: Translate, r: Rental, sms: SmsPage, tz: tzinfo, provider_tz: tzinfo) -> str:
    lines = [
        t(
            "rent-sms-title",
            phone=escape(phone_text(r.phone)),
            page=str(sms.page + 1),
            pages=str(sms.pages),
        )
    ]
    if not sms.items:
        lines.append(t("rent-sms-empty"))
    for item in sms.items:
        lines.append("")
        lines.append(
            t(
                "rent-sms-item",
                date=sms_time(item, provider_tz, tz),
                sender=clip_escaped(item.phone_from or "—", _SENDER_LIMIT),
            )
        )
        code = code_line(t, item.text)
        if code:
            lines.append(code)
        lines.append(f"<blockquote>{clip_escaped(item.text.strip(), _LIST_SMS_LIMIT)}</blockquote>")
    return "\n".join(lines)


def provider_date(raw: str | None, provider_tz: tzinfo, tz: tzinfo) -> str:
    """A provider's date, escaped, in the user's zone and labelled; as sent when unreadable."""
    shown = format_provider_time(raw, provider_tz, tz)
    if shown is not None:
        return escape(shown)
    return clip_escaped(raw.strip(), _DATE_LIMIT) if raw and raw.strip() else "—"


def render_history(
    t: Translate,
    r: Rental,
    items: list[RentHistoryItem],
    page: int,
    pages: int,
    *,
    lang: str,
    tz: tzinfo,
    provider_tz: tzinfo,
    currency: str | None = None,
) -> str:
    """The rental's periods as the provider lists them: the first rent and each extension."""
    phone = escape(phone_text(r.phone))
    lines = [t("rent-periods-title", phone=phone, page=str(page + 1), pages=str(pages))]
    if not items:
        lines.append(t("rent-periods-empty"))
    for item in items:
        duration = format_duration(item.hours * 3600, lang) if item.hours else "—"
        lines.append(
            t(
                "rent-period-item",
                date=provider_date(item.date, provider_tz, tz),
                duration=escape(duration),
                price=money(item.price, currency, lang),
            )
        )
    return "\n".join(lines)
