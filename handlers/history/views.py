"""The history's texts: one page of entries with the filter it shows, the filter choices, and
the read-only card of an ended number (its own presenter's text, with every code)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from bot.formatting import clip_escaped, format_money, format_time, user_timezone
from bot.history import HistoryPage, HistoryQuery, Period
from bot.i18n import Translate
from handlers.names import Names
from storage import HistoryEntry, RentalSms, User

KIND_ICONS = {"activation": "📱", "rental": "🏠"}
OUTCOME_ICONS = {"live": "⏳", "code": "✅", "refunded": "↩️", "expired": "⌛"}
SMS_SHOWN = 5  # earlier SMS a rental's read-only card lists under its latest one
SMS_LIMIT = 300  # escaped characters of one SMS there

# Names of (service, country) pairs; a pair without one shows its raw codes.
PairNames = Mapping[tuple[str, str], Names]


def phone_text(phone: str) -> str:
    return "+" + phone.lstrip("+")


def names_of(names: PairNames, service: str, country: str) -> Names:
    return names.get((service, country)) or Names(service, country, "🌐")


def outcome_label(t: Translate, outcome: str) -> str:
    return f"{OUTCOME_ICONS.get(outcome, '')} {t(f'history-outcome-{outcome}')}"


def period_label(t: Translate, period: Period) -> str:
    return t(f"history-period-{period.name.lower()}")


def entry_text(t: Translate, e: HistoryEntry, names: PairNames, user: User, lang: str) -> str:
    n = names_of(names, e.service, e.country)
    return t(
        "history-entry",
        icon=KIND_ICONS.get(e.kind, ""),
        when=format_time(e.created_at, user_timezone(user.timezone)),
        phone=escape(phone_text(e.phone)),
        service=escape(n.service),
        country=escape(n.country_with_flag),
        outcome=outcome_label(t, e.outcome),
        cost=escape(format_money(e.cost, e.currency, lang=lang)),
    )


def filter_text(t: Translate, query: HistoryQuery, names: PairNames) -> str:
    """The filter in one line: what narrows the list, or that everything is shown."""
    parts: list[str] = []
    if query.service is not None:
        parts.append(escape(names_of(names, query.service, "").service))
    if query.country is not None:
        parts.append(escape(names_of(names, "", query.country).country_with_flag))
    if query.outcome is not None:
        parts.append(outcome_label(t, query.outcome))
    if query.period is not Period.ALL:
        parts.append(period_label(t, query.period))
    if not parts:
        return t("history-filter-none")
    return t("history-filter", filter=" · ".join(parts))


def history_text(
    t: Translate, found: HistoryPage, query: HistoryQuery, names: PairNames, user: User, lang: str
) -> str:
    lines = [t("history-title", total=found.total), filter_text(t, query, names)]
    if not found.entries:
        lines.append(t("history-empty-filtered") if query.narrowed else t("history-empty"))
    lines.extend(entry_text(t, e, names, user, lang) for e in found.entries)
    return "\n\n".join(lines)


def entry_button_text(e: HistoryEntry, user: User) -> str:
    when = format_time(e.created_at, user_timezone(user.timezone))
    icons = f"{KIND_ICONS.get(e.kind, '')} {OUTCOME_ICONS.get(e.outcome, '')}"
    return f"{icons} {when} · {phone_text(e.phone)}"


def earlier_sms_text(t: Translate, earlier: list[RentalSms], total: int, user: User) -> str:
    """An ended rental's SMS before the latest one (which its card shows): every code it
    brought, in short, newest first; '' when the card already shows them all."""
    if not earlier:
        return ""
    tz = user_timezone(user.timezone)
    lines = [t("history-rental-sms", shown=len(earlier), total=total)]
    for sms in earlier:
        sender = clip_escaped(sms.phone_from or "—", 40)
        lines.append(f"{format_time(sms.received_at, tz)} · {sender}")
        lines.append(f"<blockquote>{clip_escaped(sms.text.strip(), SMS_LIMIT)}</blockquote>")
    return "\n".join(lines)


def export_caption(t: Translate, rows: int, total: int) -> str:
    if rows < total:
        return t("history-export-cut", rows=rows, total=total)
    return t("history-export-caption", rows=rows)
