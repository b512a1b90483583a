"""The unknown-outcome presenter: the "checking" message and every result it can say."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.i18n import Translator
from bot.tracker.notifier import Recipient
from handlers.names import Names
from handlers.outcome import (
    OutcomeData,
    PurchaseKind,
    checking_text,
    checking_view,
    outcome_data,
    render_outcome,
)
from storage.models import KeyProfile, PendingPurchase

TRANSLATOR = Translator()
NAMES = Names("Telegram", "Poland", "🇵🇱")


def pending(**fields: Any) -> PendingPurchase:
    values: dict[str, Any] = {
        "id": 1,
        "user_id": 111,
        "key_id": 1,
        "service": "tg",
        "country": "15",
        "chat_id": 111,
        "created_at": 0.0,
    }
    values.update(fields)
    return PendingPurchase(**values)


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_checking_says_what_was_being_bought(lang: str) -> None:
    t = TRANSLATOR.bind(lang)
    assert checking_text(t, PurchaseKind.ACTIVATION) == t("buy-checking")
    assert checking_text(t, PurchaseKind.RENT) == t("rent-pending")
    assert checking_text(t, PurchaseKind.RENT, findable=False) == t("rent-pending-unlisted")
    assert checking_text(t, PurchaseKind.EXTEND) == t("rent-extend-pending")
    text, markup = checking_view(t, PurchaseKind.ACTIVATION)
    assert text == t("buy-checking")
    assert [b.text for row in markup.inline_keyboard for b in row] == [t("btn-main-menu")]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"outcome": "not_bought"}, "tracker-not-bought"),
        ({"outcome": "not_bought", "kind": "rent"}, "tracker-not-rented"),
        ({"outcome": "unknown"}, "tracker-pending"),
        ({"outcome": "unknown", "kind": "rent"}, "tracker-pending-rental"),
        ({"outcome": "unknown", "kind": "extend"}, "tracker-pending-rental"),
    ],
)
def test_each_result_names_the_service_and_country(fields: dict[str, Any], message: str) -> None:
    t = TRANSLATOR.bind("en")
    data = OutcomeData(pending(**fields), NAMES, "RUB", None)
    assert render_outcome(data, t) == t(message, service="Telegram", country="Poland")


def test_a_charged_rent_says_the_amount_and_why_it_is_not_shown() -> None:
    t = TRANSLATOR.bind("en")
    charged = pending(outcome="bought", kind="rent", expected_cost=Decimal("40"))
    unlisted = render_outcome(OutcomeData(charged, NAMES, "RUB", None), t)
    assert unlisted == t(
        "tracker-rent-charged-unlisted", amount="40.00 ₽", service="Telegram", country="Poland"
    )
    listed = pending(outcome="bought", kind="rent", expected_cost=Decimal("40"), rent_snapshot=())
    assert "another number" in render_outcome(OutcomeData(listed, NAMES, "RUB", None), t)


def test_an_extension_not_made_names_the_rented_phone() -> None:
    t = TRANSLATOR.bind("en")
    extend = pending(outcome="not_bought", kind="extend", rental_id=5)
    text = render_outcome(OutcomeData(extend, NAMES, None, "79005550000"), t)
    assert text == t("tracker-not-extended", phone="+79005550000")
    unknown_phone = render_outcome(OutcomeData(extend, NAMES, None, None), t)
    assert unknown_phone == t("tracker-not-extended", phone="?")


async def test_the_data_takes_names_and_currency_from_the_recipient() -> None:
    key = KeyProfile(1, 111, "k", "http://127.0.0.1:1", "x", True, None, "USD", 0.0)
    data = await outcome_data(pending(), Recipient(None, key), lang="en", catalog=None)
    assert data.names == Names("tg", "15", "🌐") and data.currency == "USD"
