"""Formatting shared by every view: money, durations, masked keys, flags."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Providers name currencies by ISO 4217 letters or, more often, by number (643, 840).
_CURRENCY_SIGNS = {
    "RUB": "₽",
    "USD": "$",
    "EUR": "€",
    "CNY": "¥",
    "UAH": "₴",
    "KZT": "₸",
    "643": "₽",
    "840": "$",
    "978": "€",
    "156": "¥",
    "980": "₴",
    "398": "₸",
}

# (seconds, unit per language) largest first; two units at most are shown ("3 d 4 h").
_UNITS: dict[str, tuple[str, str, str, str]] = {
    "en": ("d", "h", "min", "s"),
    "ru": ("д", "ч", "мин", "с"),
    "zh": ("天", "小时", "分钟", "秒"),
}
_UNIT_SECONDS = (86400, 3600, 60, 1)


# The decimal separator per language: Russian writes 0,50 ₽; English and Chinese 0.50.
_DECIMAL_MARK = {"ru": ","}


def format_money(
    amount: Decimal | float | str | None, currency: str | None = None, *, lang: str = "en"
) -> str:
    """`Decimal("10.500000")` -> `10.50`; small prices keep their digits (`0.035`).

    At least two decimals, at most four, never a float in between; the decimal mark of `lang`."""
    if amount is None:
        return "—"
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        return "—"
    if not value.is_finite():
        return "—"
    value = value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    text = f"{value:f}"
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(2, "0")
        text = f"{whole}{_DECIMAL_MARK.get(lang, '.')}{frac}"
    if currency:
        sign = _CURRENCY_SIGNS.get(currency.upper())
        return f"{text} {sign}" if sign else f"{text} {currency}"
    return text


def format_duration(seconds: float, lang: str = "en") -> str:
    """A short human duration with at most two units: `3 d 4 h`, `12 min`, `45 s`."""
    units = _UNITS.get(lang, _UNITS["en"])
    left = max(0, int(seconds))
    parts: list[str] = []
    for size, unit in zip(_UNIT_SECONDS, units, strict=True):
        if left >= size or (size == 1 and not parts):
            count, left = divmod(left, size)
            parts.append(f"{count}{unit}" if lang == "zh" else f"{count} {unit}")
        if len(parts) == 2:
            break
    return ("" if lang == "zh" else " ").join(parts)


# Fluent renders a value longer than this as "{???}", and Telegram refuses a message longer than
# MESSAGE_LIMIT: anything remote is cut (or split) AFTER escaping, which can grow it fivefold.
PLACEABLE_LIMIT = 2500
MESSAGE_LIMIT = 4096
CUT_MARK = "…"
_LONGEST_ENTITY = len("&quot;")


def _safe_cut(escaped: str, at: int) -> int:
    """`at`, moved back to the start of an entity (`&amp;`) that would be cut in two."""
    amp = escaped.rfind("&", max(0, at - _LONGEST_ENTITY + 1), at)
    if amp != -1 and escaped.find(";", amp, at) == -1:
        return amp
    return at


def clip_escaped(text: str, limit: int) -> str:
    """`text` HTML-escaped, then cut to at most `limit` characters with a "…" at the end,
    never inside an entity. A text that fits is only escaped."""
    escaped = html.escape(text)
    if len(escaped) <= limit:
        return escaped
    return escaped[: _safe_cut(escaped, max(0, limit - len(CUT_MARK)))] + CUT_MARK


def split_escaped(text: str, limit: int) -> list[str]:
    """`text` HTML-escaped in pieces of at most `limit` characters (at least one piece), none
    splitting an entity; joined and unescaped they give back `text` exactly."""
    escaped = html.escape(text)
    pieces: list[str] = []
    while len(escaped) > limit:
        cut = _safe_cut(escaped, limit) or limit
        # A line break (or a space) near the end of the piece is a kinder place to cut.
        soft = max(escaped.rfind("\n", limit // 2, cut), escaped.rfind(" ", limit // 2, cut))
        if soft > 0:
            cut = soft + 1
        pieces.append(escaped[:cut])
        escaped = escaped[cut:]
    pieces.append(escaped)
    return pieces


def mask_key(api_key: str) -> str:
    """Enough of a key to recognise it, never enough to use it: `••••1a2b`."""
    if len(api_key) <= 8:
        return "••••"
    return "••••" + api_key[-4:]


def flag(iso2: str | None) -> str:
    """The flag emoji of an ISO 3166 alpha-2 code; empty for anything else."""
    if not iso2 or len(iso2) != 2 or not iso2.isascii() or not iso2.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(ch) - ord("A")) for ch in iso2.upper())


def utc_offset_label(minutes: int) -> str:
    """`330` -> `UTC+05:30`, `0` -> `UTC`; the form time zones are stored in."""
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def parse_utc_offset(value: str | None) -> int | None:
    """`UTC+05:30` / `+5:30` / `UTC-3` / `UTC` -> minutes east of UTC; None when unreadable."""
    text = (value or "").strip().upper()
    if text in ("UTC", "GMT", "Z", "+00:00", "0"):
        return 0
    if text.startswith(("UTC", "GMT")):
        text = text[3:]
    if not text or text[0] not in "+-":
        return None
    sign = -1 if text[0] == "-" else 1
    hours_text, _, mins_text = text[1:].partition(":")
    if not hours_text.isdigit() or (mins_text and not mins_text.isdigit()):
        return None
    hours, mins = int(hours_text), int(mins_text or 0)
    if hours > 14 or mins >= 60:
        return None
    return sign * (hours * 60 + mins)


def user_timezone(value: str | None) -> tzinfo:
    """The tzinfo of a stored time-zone setting: a UTC offset, or an IANA name; else UTC."""
    minutes = parse_utc_offset(value)
    if minutes is not None:
        return timezone(timedelta(minutes=minutes)) if minutes else UTC
    try:
        return ZoneInfo(value or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


# ------------------------------------------------------------------ times


def zone_label(tz: tzinfo, moment: datetime) -> str:
    """How a time's zone is named next to it: the IANA name, or `UTC+03:00`, or `UTC`."""
    if isinstance(tz, ZoneInfo):
        return tz.key
    offset = moment.utcoffset() or timedelta(0)
    return utc_offset_label(int(offset.total_seconds() // 60))


def format_time(at: float | datetime, tz: tzinfo) -> str:
    """THE way a moment is shown: in the user's zone `tz`, labelled (`2026-11-30 14:03 UTC`).
    `at`: epoch seconds, or an aware datetime (a provider's time, see parse_provider_time)."""
    moment = datetime.fromtimestamp(at, tz) if isinstance(at, int | float) else at.astimezone(tz)
    return f"{moment:%Y-%m-%d %H:%M} {zone_label(tz, moment)}"


def format_clock(at: float, tz: tzinfo, *, now: float) -> str:
    """A moment soon or lately, as a wall clock in the user's zone `tz`: `13:05`, with the
    date in front when it is not on the same local day as `now` (`2026-12-01 09:30`). For a
    deadline in a message that stays in the chat: it never goes stale as "5 min left" does."""
    moment = datetime.fromtimestamp(at, tz)
    if moment.date() == datetime.fromtimestamp(now, tz).date():
        return f"{moment:%H:%M}"
    return f"{moment:%Y-%m-%d %H:%M}"


# `2023-10-26 11:03:39` (and Grizzly's BANNED form `2026-1-2 3-4-5`): no zone of their own.
_NAIVE_TIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2})[:-](\d{1,2})(?:[:-](\d{1,2}))?$"
)
_EPOCH = re.compile(r"^\d{9,11}(?:\.\d+)?$")


def parse_provider_time(raw: str | None, provider_tz: tzinfo) -> datetime | None:
    """A provider's timestamp as an aware datetime: with its own offset when it carries one
    (`2025-08-22T08:54:25+00:00`), else read in `provider_tz`, the zone the provider's clock
    keeps (protocol.md §10: Moscow for the sms-activate family). None when unreadable."""
    text = (raw or "").strip().strip("'\"").strip()
    if not text:
        return None
    if _EPOCH.match(text):
        return datetime.fromtimestamp(float(text), UTC)
    match = _NAIVE_TIME.match(text)
    try:
        if match:
            year, month, day, hour, minute, second = (
                int(part) for part in match.groups(default="0")
            )
            return datetime(year, month, day, hour, minute, second, tzinfo=provider_tz)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=provider_tz)


def format_provider_time(raw: str | None, provider_tz: tzinfo, user_tz: tzinfo) -> str | None:
    """A provider's timestamp shown as every other time is (format_time, in the user's zone,
    labelled); None when it cannot be read (the caller shows the raw text, escaped)."""
    moment = parse_provider_time(raw, provider_tz)
    return format_time(moment, user_tz) if moment is not None else None
