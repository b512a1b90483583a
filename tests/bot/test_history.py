"""The history use case over a seeded database: newest first, every filter, pages, and the
exports (CSV and JSON) parsed back equal to the database rows, in the user's zone."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from bot import history as history_module
from bot.history import ExportFormat, HistoryQuery, HistoryService, Period
from tests.harness import SqlTrace
from tests.seeded_history import DAY, database_rows, seed_history

USER, OTHER = 111, 222
SECRET = "HISTORYSECRETKEY0123456789"
PLUS_3 = timezone(timedelta(hours=3))


@pytest.fixture
async def seeded(services: Any, clock: Any) -> Any:
    db = services.db
    await db.users.update(USER, timezone="UTC+03:00")
    key = await db.keys.add(
        USER, label="main", base_url="http://127.0.0.1:1", api_key=SECRET, currency="RUB"
    )
    other = await db.keys.add(
        OTHER, label="theirs", base_url="http://127.0.0.1:1", api_key="X" * 20
    )
    await seed_history(db, OTHER, other.id, clock())
    return await seed_history(db, USER, key.id, clock())


def _ids(page: Any) -> list[tuple[str, int]]:
    return [(e.kind, e.id) for e in page.entries]


async def test_newest_first_in_pages(services: Any, seeded: Any) -> None:
    history: HistoryService = services.history
    first = await history.page(USER, HistoryQuery(), 0, 5)
    second = await history.page(USER, HistoryQuery(), 1, 5)
    assert first.total == 7 and first.pages == 2 and second.page == 1
    assert _ids(first) + _ids(second) == seeded.newest_first
    # An old or crafted page number shows the last page.
    assert _ids(await history.page(USER, HistoryQuery(), 99, 5)) == _ids(second)


async def test_outcomes(services: Any, seeded: Any) -> None:
    by_outcome = {}
    for outcome in ("live", "code", "refunded", "expired"):
        found = await services.history.page(USER, HistoryQuery(outcome=outcome), 0, 10)
        by_outcome[outcome] = {(e.kind, e.id) for e in found.entries}
    ids = seeded.ids
    assert by_outcome["live"] == {("activation", ids["live"])}
    assert by_outcome["code"] == {
        ("activation", ids["code"]),
        ("activation", ids["old_code"]),
        ("rental", ids["rental_sms"]),
    }
    assert by_outcome["refunded"] == {
        ("activation", ids["refunded"]),
        ("rental", ids["rental_refunded"]),
    }
    assert by_outcome["expired"] == {("activation", ids["expired"])}


async def test_service_country_and_period_filters(services: Any, seeded: Any) -> None:
    history, ids = services.history, seeded.ids
    tg = await history.page(USER, HistoryQuery(service="tg"), 0, 10)
    assert {e.id for e in tg.entries if e.kind == "activation"} == {
        ids["live"],
        ids["code"],
        ids["refunded"],
    }
    assert {e.id for e in tg.entries if e.kind == "rental"} == {ids["rental_refunded"]}
    country = await history.page(USER, HistoryQuery(country="187"), 0, 10)
    assert _ids(country) == [("activation", ids["expired"]), ("rental", ids["rental_refunded"])]
    week = await history.page(USER, HistoryQuery(period=Period.WEEK), 0, 10)
    assert week.total == 4
    month = await history.page(USER, HistoryQuery(period=Period.MONTH, service="wa"), 0, 10)
    assert _ids(month) == [("rental", ids["rental_sms"]), ("activation", ids["expired"])]
    combined = HistoryQuery(service="tg", country="0", outcome="code", period=Period.YEAR)
    assert _ids(await history.page(USER, combined, 0, 10)) == [("activation", ids["code"])]
    assert (await history.page(USER, HistoryQuery(service="nope"), 0, 10)).total == 0


async def test_entries_carry_cost_codes_and_sms(services: Any, seeded: Any) -> None:
    found = await services.history.page(USER, HistoryQuery(), 0, 10)
    by_id = {(e.kind, e.id): e for e in found.entries}
    code = by_id[("activation", seeded.ids["code"])]
    assert code.codes == ("11111",) and code.cost == Decimal("10.5") and code.currency == "RUB"
    rental = by_id[("rental", seeded.ids["rental_sms"])]
    assert rental.cost == Decimal("50") and rental.sms == 2 and rental.hours == 8


async def test_filter_choices_most_used_first(services: Any, seeded: Any) -> None:
    assert await services.history.services(USER) == ["tg", "wa", "vk"]
    assert await services.history.countries(USER) == ["0", "187"]


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, PLUS_3).isoformat(timespec="seconds")


def _expected(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The database rows as an export must give them back: times in the user's zone."""
    return [
        {**row, "created_at": _iso(row["created_at"]), "ended_at": _iso(row["ended_at"])}
        for row in rows
    ]


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": record["kind"],
        "id": int(record["id"]),
        "service": record["service"],
        "country": record["country"],
        "phone": record["phone"],
        "status": record["status"],
        "cost": Decimal(record["cost"]),
        "created_at": record["created_at"],
        "ended_at": record["ended_at"] or None,
        "codes": record["codes"].split() if record["codes"] else [],
    }


async def test_csv_round_trips_to_the_database_rows(services: Any, seeded: Any) -> None:
    user = await services.db.users.get(USER)
    export = await services.history.export(user, HistoryQuery(), ExportFormat.CSV)
    assert export.filename.endswith(".csv") and export.rows == export.total == 7
    text = export.data.decode("utf-8-sig")
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [_comparable(r) for r in parsed] == _expected(await database_rows(services.db, USER))
    # Dates in the user's zone (UTC+03:00), and never the key itself: only its label.
    assert all(r["created_at"].endswith("+03:00") for r in parsed)
    assert {r["key"] for r in parsed} == {"main"}
    assert SECRET not in text


async def test_json_round_trips_to_the_database_rows(services: Any, seeded: Any) -> None:
    user = await services.db.users.get(USER)
    export = await services.history.export(user, HistoryQuery(), ExportFormat.JSON)
    parsed = json.loads(export.data)
    assert [_comparable(r) for r in parsed] == _expected(await database_rows(services.db, USER))
    assert SECRET.encode() not in export.data


async def test_export_follows_the_filter_and_is_bounded(
    services: Any, seeded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await services.db.users.get(USER)
    refunded = await services.history.export(
        user, HistoryQuery(outcome="refunded"), ExportFormat.JSON
    )
    assert {r["id"] for r in json.loads(refunded.data)} == {
        seeded.ids["refunded"],
        seeded.ids["rental_refunded"],
    }
    monkeypatch.setattr(history_module, "EXPORT_LIMIT", 3)
    cut = await services.history.export(user, HistoryQuery(), ExportFormat.CSV)
    assert cut.rows == 3 and cut.total == 7
    newest = [int(r["id"]) for r in csv.DictReader(io.StringIO(cut.data.decode("utf-8-sig")))]
    assert newest == [number for _kind, number in seeded.newest_first[:3]]


async def test_a_formula_in_a_label_stays_text(services: Any, clock: Any) -> None:
    db = services.db
    key = await db.keys.add(
        USER, label="=HYPERLINK(1)", base_url="http://127.0.0.1:1", api_key=SECRET
    )
    await seed_history(db, USER, key.id, clock())
    user = await db.users.get(USER)
    export = await services.history.export(user, HistoryQuery(), ExportFormat.CSV)
    labels = {r["key"] for r in csv.DictReader(io.StringIO(export.data.decode("utf-8-sig")))}
    assert labels == {"'=HYPERLINK(1)"}


async def test_older_than_the_period_is_left_out(services: Any, seeded: Any, clock: Any) -> None:
    year = await services.history.page(USER, HistoryQuery(period=Period.YEAR), 0, 10)
    assert year.total == 7
    clock.advance(400 * DAY)
    assert (await services.history.page(USER, HistoryQuery(period=Period.YEAR), 0, 10)).total == 0


async def test_a_page_walks_the_user_time_indexes(services: Any, seeded: Any) -> None:
    """Each kind is read in (user, time) order and stopped after the page, not sorted whole."""
    trace = await SqlTrace.start(services.db)
    await services.history.page(USER, HistoryQuery(), 0, 5)
    await services.db.connection.set_trace_callback(None)
    (sql,) = trace.matching("UNION ALL")
    async with services.db.connection.execute(f"EXPLAIN QUERY PLAN {sql}") as cur:
        plan = " ".join(str(row[3]) for row in await cur.fetchall())
    assert "ix_activations_user_time" in plan and "ix_rentals_user_time" in plan
