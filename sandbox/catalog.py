"""The sandbox's hand-written seed catalog: countries, services, prices and stock.

Country ids follow sms-activate numbering (the ids GrizzlySMS uses), not dialing codes.
Prices are made up but plausible; they are in the key's currency (RUB by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True, slots=True)
class SeedCountry:
    id: str
    eng: str
    rus: str
    chn: str
    dial: str  # dialing prefix used to make phone numbers
    factor: Decimal  # multiplies every service's base price


@dataclass(frozen=True, slots=True)
class SeedService:
    code: str
    eng: str
    rus: str
    base_price: Decimal  # activation price in a country with factor 1
    rent_hour: Decimal  # rent price per hour in a country with factor 1


def _d(text: str) -> Decimal:
    return Decimal(text)


COUNTRIES: tuple[SeedCountry, ...] = (
    SeedCountry("0", "Russia", "Россия", "俄罗斯", "7", _d("1.0")),
    SeedCountry("1", "Ukraine", "Украина", "乌克兰", "380", _d("0.9")),
    SeedCountry("2", "Kazakhstan", "Казахстан", "哈萨克斯坦", "77", _d("0.8")),
    SeedCountry("4", "Philippines", "Филиппины", "菲律宾", "63", _d("0.6")),
    SeedCountry("6", "Indonesia", "Индонезия", "印度尼西亚", "62", _d("0.5")),
    SeedCountry("10", "Vietnam", "Вьетнам", "越南", "84", _d("0.55")),
    SeedCountry("12", "USA (virtual)", "США (виртуальные)", "美国（虚拟）", "1", _d("0.4")),
    SeedCountry("15", "Poland", "Польша", "波兰", "48", _d("1.6")),
    SeedCountry("16", "United Kingdom", "Великобритания", "英国", "44", _d("1.8")),
    SeedCountry("22", "India", "Индия", "印度", "91", _d("0.7")),
    SeedCountry("36", "Canada", "Канада", "加拿大", "1", _d("1.5")),
    SeedCountry("43", "Germany", "Германия", "德国", "49", _d("2.2")),
    SeedCountry("52", "Thailand", "Таиланд", "泰国", "66", _d("0.9")),
    SeedCountry("62", "Turkey", "Турция", "土耳其", "90", _d("1.1")),
    SeedCountry("73", "Brazil", "Бразилия", "巴西", "55", _d("0.75")),
    SeedCountry("187", "USA", "США", "美国", "1", _d("2.5")),
)

SERVICES: tuple[SeedService, ...] = (
    SeedService("tg", "Telegram", "Телеграм", _d("18"), _d("4")),
    SeedService("wa", "WhatsApp", "Ватсап", _d("22"), _d("5")),
    SeedService("go", "Google, YouTube, Gmail", "Google, YouTube, Gmail", _d("12"), _d("3")),
    SeedService("ig", "Instagram (+Threads)", "Инстаграм (+Threads)", _d("9"), _d("2")),
    SeedService("fb", "Facebook", "Фейсбук", _d("8"), _d("2")),
    SeedService("vk", "VKontakte", "ВКонтакте", _d("15"), _d("3")),
    SeedService("ok", "Odnoklassniki", "Одноклассники", _d("7"), _d("2")),
    SeedService("ot", "Any other", "Любой другой", _d("6"), _d("1.5")),
    SeedService("wx", "Apple", "Apple", _d("14"), _d("3")),
    SeedService("dr", "OpenAI", "OpenAI", _d("16"), _d("4")),
    SeedService("tw", "Twitter / X", "Твиттер / X", _d("10"), _d("2.5")),
    SeedService("ds", "Discord", "Дискорд", _d("8"), _d("2")),
    SeedService("lf", "TikTok / Douyin", "ТикТок / Douyin", _d("9"), _d("2")),
    SeedService("mm", "Microsoft", "Майкрософт", _d("11"), _d("2.5")),
    SeedService("ya", "Yandex", "Яндекс", _d("10"), _d("2.5")),
    SeedService("kt", "KakaoTalk", "KakaoTalk", _d("13"), _d("3")),
    SeedService("acz", "Claude", "Claude", _d("17"), _d("4")),
)

# Pairs seeded with no stock, so "out of stock" shows up without any setup.
EMPTY_STOCK: frozenset[tuple[str, str]] = frozenset({("187", "vk")})

CENT = Decimal("0.01")


def seed_price(country: SeedCountry, service: SeedService) -> Decimal:
    return (service.base_price * country.factor).quantize(CENT, rounding=ROUND_HALF_UP)


def seed_rent_hour(country: SeedCountry, service: SeedService) -> Decimal:
    return (service.rent_hour * country.factor).quantize(CENT, rounding=ROUND_HALF_UP)


def seed_stock(country: SeedCountry, service: SeedService) -> int:
    """A deterministic, varied stock figure (no randomness: tests must be repeatable)."""
    if (country.id, service.code) in EMPTY_STOCK:
        return 0
    return 40 + (int(country.id) * 7 + sum(map(ord, service.code)) * 3) % 900
