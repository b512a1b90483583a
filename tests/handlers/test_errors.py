"""error_text: every provider and use-case error is one short sentence in every language."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.errors import NoActiveKey, NotFound, Stale
from bot.i18n import LANGUAGES, Translator
from bot.provider.errors import (
    ActionNotSupported,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UnknownOutcome,
)
from handlers.errors import error_text

TRANSLATOR = Translator()

# Issue 4 and issue 5 codes, each with words its English sentence must contain.
CODES: dict[str, str] = {
    "BAD_KEY": "rejected this API key",
    "NO_NUMBERS": "No numbers left",
    "NO_BALANCE": "Top it up",
    "EARLY_CANCEL_DENIED": "does not allow cancelling yet",
    "SERVICE_UNAVAILABLE_REGION": "not sold to your region",
    "SERVICE_PROHIBITED": "does not sell this service in this country",
    "BAD_COUNTRY": "does not know this country",
    "BAD_SERVICE": "does not know this service",
    "INVALID_TIME": "rent duration",
    "NO_ID_RENT": "no longer knows this rental",
    "INVALID_PHONE": "does not recognise this number",
    "INCORECT_STATUS": "refused this change of status",
    "ALREADY_FINISH": "already been finished",
    "ALREADY_CANCEL": "already been cancelled",
    "CANT_CANCEL": "no longer allows cancelling",
    "RENT_DIE": "can no longer be extended",
    "SQL_ERROR": "internal database error",
    "ERROR_SQL": "internal database error",
    "SERVER_ERROR": "server error",
    "CHANNELS_LIMIT": "Too many numbers",
    "ACCOUNT_INACTIVE": "not active",
    "ACK_MISMATCH": "answered something unexpected",
}


@pytest.mark.parametrize(("code", "words"), sorted(CODES.items()))
def test_each_code_has_its_own_sentence(code: str, words: str) -> None:
    english = error_text(TRANSLATOR.bind("en"), ProviderError(code))
    assert words in english
    for lang in LANGUAGES:
        text = error_text(TRANSLATOR.bind(lang), ProviderError(code))
        assert text and not text.startswith("error-"), (lang, code)
        assert code not in text  # a known code gets a sentence, not the code
        assert len(text) <= 200  # fits a callback answer


def test_wrong_max_price_names_the_minimum() -> None:
    exc = ProviderError("WRONG_MAX_PRICE", "0.500000")
    assert exc.min_price == Decimal("0.5")
    for lang in LANGUAGES:
        assert "0.50" in error_text(TRANSLATOR.bind(lang), exc)
    assert "Raise the maximum" in error_text(
        TRANSLATOR.bind("en"), ProviderError("WRONG_MAX_PRICE")
    )


def test_banned_names_the_date() -> None:
    exc = ProviderError("BANNED", "'2026-1-2 3-4-5'")
    for lang in LANGUAGES:  # the provider's Moscow time, shown labelled (item 9)
        assert "2026-01-02 00:04 UTC" in error_text(TRANSLATOR.bind(lang), exc)
    assert "blocked" in error_text(TRANSLATOR.bind("en"), ProviderError("BANNED"))


def test_transport_and_outcome_errors() -> None:
    t = TRANSLATOR.bind("en")
    assert "Do not buy again" in error_text(t, UnknownOutcome("TIMEOUT", action="getNumberV2"))
    assert "not answering" in error_text(t, ProviderUnavailable("HTTP_502"))
    assert "not answering" in error_text(t, ProviderError("TIMEOUT"))
    assert "slow down" in error_text(t, RateLimited("HTTP_429"))
    assert "in 7 s" in error_text(t, RateLimited("HTTP_429", retry_after=6.6))
    assert "does not support" in error_text(t, ActionNotSupported("BAD_ACTION"))


def test_unknown_codes_are_named_and_escaped() -> None:
    t = TRANSLATOR.bind("en")
    assert "WEIRD_THING" in error_text(t, ProviderError("WEIRD_THING"))
    assert "&lt;b&gt;" in error_text(t, ProviderError("<b>"))


def test_use_case_errors() -> None:
    t = TRANSLATOR.bind("en")
    assert "Add one under API keys" in error_text(t, NoActiveKey())
    assert "not available" in error_text(t, NotFound())
    assert "out of date" in error_text(t, Stale())
    assert "went wrong" in error_text(t, RuntimeError("x"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_busy_provider_and_refused_address_say_what_to_do(language: str) -> None:
    from bot.provider.errors import AddressRefused

    t = TRANSLATOR.bind(language)
    busy = error_text(t, ProviderUnavailable("HTTP_503", retry_after=7.2))
    assert "7" in busy and busy != error_text(t, ProviderUnavailable("HTTP_503"))
    refused = error_text(t, AddressRefused("ADDRESS_REFUSED"))
    assert refused not in (error_text(t, ProviderUnavailable("NETWORK")), t("error-generic"))
    assert len(refused) <= 200 and len(busy) <= 200
