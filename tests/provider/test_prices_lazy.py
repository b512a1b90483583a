"""getPrices parsing: lazy per-entry conversion, §7 tolerance and exact Decimal money."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest

from bot.catalog import index_prices
from bot.provider import parsing
from bot.provider.errors import ProviderError
from bot.provider.models import PriceInfo
from bot.provider.parsing import Body, Reply, ServicePrices, parse_prices, screen


def parse(text: str) -> Any:
    return parse_prices(screen(Reply(200, {"Content-Type": "text/html"}, text)))


def plain(prices: Any) -> dict[str, dict[str, PriceInfo]]:
    return {country: dict(row) for country, row in prices.items()}


# Every quirk of protocol.md §7 in one table, with what an eager conversion gives.
QUIRKY = """{
 "0": {"tg": {"cost": 12.30, "count": 5}, "wa": {"cost": "7.10", "count": "3"},
       "vk": {"cost": " 4.5 ", "count": 2.0}, "ok": {"cost": 8},
       "blank": "", "nul": null, "arr": [], "empty": {}, "nocost": {"count": 9},
       "junk": {"cost": "abc", "count": 1}, "inf": {"cost": "Infinity", "count": 1},
       "price": {"price": 3.25, "count": 4}, "quant": {"cost": 2, "quant": {"current": 6}},
       "tg ": {"cost": 99, "count": 1}, "bool": {"cost": true, "count": 1}},
 "1 ": {"tg": {"cost ": "1.5", "count ": 11}},
 "2": {"tg": "", "wa": null},
 "3": "",
 "4": [],
 "5": {"tg": {"cost": 6, "count": true}}
}"""

QUIRKY_EXPECTED = {
    "0": {
        "tg": PriceInfo(Decimal("99"), 1),  # "tg " strips to "tg"; the later key wins
        "wa": PriceInfo(Decimal("7.10"), 3),
        "vk": PriceInfo(Decimal("4.5"), 2),
        "ok": PriceInfo(Decimal("8"), 0),  # a missing count is zero
        "price": PriceInfo(Decimal("3.25"), 4),
        "quant": PriceInfo(Decimal("2"), 6),
    },
    "1": {"tg": PriceInfo(Decimal("1.5"), 11)},
    "5": {"tg": PriceInfo(Decimal("6"), 0)},
}


def test_quirks_read_as_an_eager_conversion_would() -> None:
    prices = parse(QUIRKY)
    assert plain(prices) == QUIRKY_EXPECTED
    assert set(prices) == {"0", "1", "5"}  # rows without one usable entry are left out
    assert prices == QUIRKY_EXPECTED  # Mapping equality against plain dicts


def test_lazy_row_behaves_like_a_dict() -> None:
    row = parse(QUIRKY)["0"]
    assert isinstance(row, ServicePrices)
    assert row["wa"] == PriceInfo(Decimal("7.10"), 3)
    assert row.get("blank") is None and row.get("nope", "x") == "x"
    assert "blank" not in row and "nocost" not in row and "wa" in row and 1 not in row
    with pytest.raises(KeyError):
        row["junk"]
    assert list(row) == ["tg", "wa", "vk", "ok", "price", "quant"]
    assert len(row) == 6
    assert dict(row.items()) == QUIRKY_EXPECTED["0"]
    assert "7.10" in repr(row)


@pytest.mark.parametrize("text", ["[]", "{}"])
def test_empty_answers(text: str) -> None:
    assert parse(text) == {}


@pytest.mark.parametrize("text", ['"x"', "[1]", "5"])
def test_non_table_json_is_garbled(text: str) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_prices(Body(text=text, data=json.loads(text), is_json=True))
    assert caught.value.code == "GARBLED"


def test_errors_still_raise() -> None:
    with pytest.raises(ProviderError) as caught:
        parse('{"status":"false","msg":"service is incorrect"}')
    assert caught.value.code == "BAD_SERVICE"
    with pytest.raises(ProviderError) as caught:
        parse("BAD_KEY")
    assert caught.value.code == "BAD_KEY"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("0.1", "0.1"),
        ("12.30", "12.30"),
        ("1.00000000000000000001", "1.00000000000000000001"),  # 21 digits: a float says 1.0
        ("12345678901234567.5", "12345678901234567.5"),
        ("0.12345678901234567", "0.12345678901234567"),
        ("2.5e1", "25"),
        ("1e-400", "1E-400"),  # underflows a double to 0.0
        ("123456789012345678901234567890", "123456789012345678901234567890"),
    ],
)
def test_costs_are_exact_decimals_of_the_json_text(number: str, expected: str) -> None:
    info = parse(f'{{"0":{{"tg":{{"cost":{number},"count":1}}}}}}')["0"]["tg"]
    assert info.cost == Decimal(expected)


def test_exact_path_keeps_the_digits_of_the_text() -> None:
    row = parse('{"0":{"a":{"cost":1.10000000000000000000,"count":1},"b":{"cost":0.1,"count":2}}}')
    assert str(row["0"]["a"].cost) == "1.10000000000000000000"
    assert str(row["0"]["b"].cost) == "0.1"


def test_float_fast_path_agrees_with_the_text_for_up_to_15_digits() -> None:
    """What the gate relies on: ≤15 significant digits survive text -> float -> Decimal."""
    rng = random.Random(7)
    for _ in range(5000):
        digits = str(rng.randrange(1, 10 ** rng.randint(1, 15)))
        point = rng.randint(0, len(digits))
        text = f"{digits[:point] or '0'}.{digits[point:] or '0'}"
        info = parsing._price_info({"cost": float(text), "count": 1})
        assert info is not None and info.cost == Decimal(text), text


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ('{"0":{"tg":{"cost":1234567890123.5,"count":1}}}', True),  # 15 characters
        ('{"0":{"tg":{"cost":12345678901234.5,"count":1}}}', False),  # 16: could be 16 digits
        ('{"0":{"tg":{"cost":1234567890123456,"count":1}}}', False),
        ('{"0":{"tg":{"cost":1E5,"count":1}}}', False),
        ('{"0":{"tg":{"cost":1e-5,"count":1}}}', False),
        ('{"0":{"tg":{"cost":0.0000000000000001,"count":1}}}', False),
        ('{"0":{"ee":{"cost":0.25,"count":1}}}', True),  # letters alone are no exponent
    ],
)
def test_gate_sends_long_numbers_and_exponents_down_the_exact_path(text: str, exact: bool) -> None:
    assert parsing._floats_are_exact(text) is exact


def test_entries_are_converted_only_when_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    conversions: list[Any] = []
    convert = parsing._price_info

    def counting(entry: Any) -> PriceInfo | None:
        conversions.append(entry)
        return convert(entry)

    monkeypatch.setattr(parsing, "_price_info", counting)
    table = {
        str(c): {f"s{s}": {"cost": 1.5 + s, "count": c + 1} for s in range(50)} for c in range(40)
    }
    prices = parse(json.dumps(table))
    assert len(conversions) == 40  # one per country: is there any usable entry?
    index = index_prices(prices)
    rows = index.service_rows("s7")
    assert len(rows) == 40 and rows[0] == (Decimal("8.5"), -40, "39")
    assert len(conversions) == 80
    index.service_rows("s7")
    assert prices["3"]["s7"] == PriceInfo(Decimal("8.5"), 4)
    assert len(conversions) == 80  # memoised
    assert index.covers_many_services()
    assert len(conversions) == 81  # stops at the second distinct service


def _whole_table(countries: int, services: int) -> str:
    rng = random.Random(3)
    table = {
        str(c): {
            f"s{s}": {"cost": round(rng.uniform(0.5, 60), 2), "count": rng.randint(0, 5000)}
            for s in range(services)
        }
        for c in range(countries)
    }
    return json.dumps(table, separators=(",", ":"))


def test_whole_table_parses_and_indexes_exactly() -> None:
    """A provider that ignores the filter: 200 countries × 500 services, one service indexed.
    (Its speed is a figure of `python -m benchmarks.catalog`, not a test: budgets fail on a busy
    machine.) Only the indexed service's entries are converted."""
    text = _whole_table(200, 500)
    assert len(text) > 3_000_000
    eager = json.loads(text, parse_float=Decimal)
    index = index_prices(parse(text))
    expected = sorted(
        (Decimal(e["cost"]), -e["count"], c)
        for c, row in eager.items()
        if (e := row["s1"])["count"] > 0
    )
    assert index.service_rows("s1") == expected
