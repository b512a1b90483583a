"""Texts of the rent flow and the rental card (HTML; every remote or user text escaped)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.formatting import format_duration, format_money
from bot.i18n import Translate
from bot.provider.models import RentHistoryItem
from bot.rentals import RentOption, SmsPage
from storage.models import Rental, RentalSms

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_SMS_TEXT_LIMIT = 600  # one SMS on a card or a list page; Telegram's limit is 4096 in total


def parse_tz(name: str | None) -> tzinfo:
    """A user's time zone setting ("UTC", "+03:00", "UTC-5", "Europe/Moscow") as a tzinfo."""
    raw = (name or "").strip()
    if not raw or raw.upper() in ("UTC", "GMT", "Z"):
        return UTC
    match = _OFFSET.match(raw)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
        return timezone(sign * delta)
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _tz_label(tz: tzinfo, moment: datetime) -> str:
    if isinstance(tz, ZoneInfo):
        return tz.key
    offset = moment.utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def format_at(at: float, tz: tzinfo) -> str:
    moment = datetime.fromtimestamp(at, tz)
    return f"{moment:%Y-%m-%d %H:%M} {_tz_label(tz, moment)}"


def lang_of(t: Translate) -> str:
    """The language a bound translator speaks (each catalog names itself in `rent-lang`)."""
    lang = t("rent-lang")
    return lang if lang in ("en", "ru", "zh") else "en"


def duration_label(t: Translate, hours: int) -> str:
    if hours % 24 == 0:
        return t("rent-dur-days", n=str(hours // 24))
    return t("rent-dur-hours", n=str(hours))


def phone_text(phone: str) -> str:
    return "+" + phone.lstrip("+")


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SMS_TEXT_LIMIT else text[: _SMS_TEXT_LIMIT - 1] + "…"


def money(amount: Decimal | None, currency: str | None = None) -> str:
    return escape(format_money(amount, currency))


# ------------------------------------------------------------------ the rental card


def render_rental_card(
    r: Rental,
    t: Translate,
    now: float,
    tz: tzinfo,
    *,
    latest_sms: RentalSms | None,
    country_name: str,
    service_name: str,
) -> str:
    """The one message a rental lives in; the tracker re-renders it on every change."""
    lines = [
        t("rent-card-title"),
        f"📞 <code>{escape(phone_text(r.phone))}</code>",
        t("rent-card-service", service=escape(service_name)),
        t("rent-card-country", country=escape(country_name)),
    ]
    if r.cost is not None:
        lines.append(t("rent-card-price", price=money(r.cost)))
    if r.live:
        span = format_duration(max(0.0, r.ends_at - now), lang_of(t))
        relative = t("rent-card-relative", span=span)
        lines.append(t("rent-card-ends", at=format_at(r.ends_at, tz), relative=relative))
    else:
        lines.append(t("rent-card-ended-at", at=format_at(r.ended_at or r.ends_at, tz)))
    lines.append(t("rent-card-status", status=t(f"rent-status-{r.status}")))
    lines.append("")
    if latest_sms is None:
        lines.append(t("rent-card-no-sms") if r.live else t("rent-card-no-sms-ended"))
    else:
        lines.append(
            t(
                "rent-card-latest",
                sender=escape(latest_sms.phone_from or "—"),
                date=escape(latest_sms.date or format_at(latest_sms.received_at, tz)),
            )
        )
        lines.append(f"<blockquote>{escape(_clip(latest_sms.text))}</blockquote>")
    return "\n".join(lines)


# ------------------------------------------------------------------ flow screens


def render_services(t: Translate, page: int, pages: int) -> str:
    return t("rent-choose-service", page=str(page + 1), pages=str(pages))


def render_countries(t: Translate, service_name: str) -> str:
    return t("rent-choose-country", service=escape(service_name))


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
) -> str:
    text = t(
        "rent-confirm",
        service=escape(service_name),
        country=escape(country_name),
        duration=duration_label(t, option.hours),
        price=money(option.cost, currency),
        balance=money(balance, currency),
    )
    if balance < option.cost:
        text += "\n\n" + t("rent-low-balance")
    return text


def render_extend_confirm(
    t: Translate, r: Rental, option: RentOption, balance: Decimal, currency: str | None
) -> str:
    text = t(
        "rent-extend-confirm",
        phone=escape(phone_text(r.phone)),
        duration=duration_label(t, option.hours),
        price=money(option.cost, currency),
        balance=money(balance, currency),
    )
    if balance < option.cost:
        text += "\n\n" + t("rent-low-balance")
    return text


def render_sms_page(t: Translate, r: Rental, sms: SmsPage, tz: tzinfo) -> str:
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
                date=escape(item.date or format_at(item.received_at, tz)),
                sender=escape(item.phone_from or "—"),
            )
        )
        lines.append(f"<blockquote>{escape(_clip(item.text))}</blockquote>")
    return "\n".join(lines)


def render_history(
    t: Translate, r: Rental, items: list[RentHistoryItem], page: int, pages: int
) -> str:
    """The rental's periods as the provider lists them: the first rent and each extension."""
    phone = escape(phone_text(r.phone))
    lines = [t("rent-periods-title", phone=phone, page=str(page + 1), pages=str(pages))]
    if not items:
        lines.append(t("rent-periods-empty"))
    for item in items:
        duration = format_duration(item.hours * 3600, lang_of(t)) if item.hours else "—"
        lines.append(
            t(
                "rent-period-item",
                date=escape(item.date or "—"),
                duration=escape(duration),
                price=money(item.price),
            )
        )
    return "\n".join(lines)
