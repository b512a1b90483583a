"""Formatting shared by every view: money, durations, masked keys, flags."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "CNY": "¥", "UAH": "₴", "KZT": "₸"}

# (seconds, unit per language) largest first; two units at most are shown ("3 d 4 h").
_UNITS: dict[str, tuple[str, str, str, str]] = {
    "en": ("d", "h", "min", "s"),
    "ru": ("д", "ч", "мин", "с"),
    "zh": ("天", "小时", "分钟", "秒"),
}
_UNIT_SECONDS = (86400, 3600, 60, 1)


def format_money(amount: Decimal | float | str | None, currency: str | None = None) -> str:
    """`Decimal("10.500000")` -> `10.50`; small prices keep their digits (`0.035`).

    At least two decimals, at most four, never a float in between."""
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
        text = f"{whole}.{frac}"
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
