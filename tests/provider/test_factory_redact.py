"""ProviderFactory sharing and key redaction."""

from __future__ import annotations

import pytest

from bot.provider.errors import ProviderError
from bot.provider.factory import ProviderFactory
from bot.provider.guard import AddressPolicy
from bot.provider.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET http://h/stubs/handler_api.php?api_key=abc123&action=getBalance failed",
            "GET http://h/stubs/handler_api.php?api_key=***&action=getBalance failed",
        ),
        ("URL('http://h/x?action=a&api_key=abc123')", "URL('http://h/x?action=a&api_key=***')"),
        ('{"api_key": "abc123", "x": 1}', '{"api_key": "***", "x": 1}'),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact_masks_api_key(text, expected):
    assert redact(text) == expected


def test_redact_masks_literal_secrets():
    assert redact("echo abc123 back", "abc123") == "echo *** back"


def test_error_text_is_redacted():
    error = ProviderError("UNRECOGNISED", "see ?api_key=abc123&x", action="getBalance")
    assert "abc123" not in str(error) and "abc123" not in repr(error)


async def test_factory_shares_session_and_unsupported_per_base_url(fake):
    factory = ProviderFactory(
        timeout=1.0, read_retries=0, address_policy=AddressPolicy(allow_loopback=True)
    )
    try:
        first = factory.client(fake.url, "key-one")
        second = factory.client(fake.url + "/", "key-two")
        other = factory.client("http://127.0.0.1:9/stubs/handler_api.php", "key-one")
        assert first._session is second._session is other._session
        fake.answer("getActiveActivations", "BAD_ACTION")
        with pytest.raises(ProviderError):
            await first.get_active_activations()
        assert not second.supports("getActiveActivations")  # same provider, another key
        assert other.supports("getActiveActivations")  # another provider
        assert factory.unsupported(fake.url) == {"getActiveActivations"}
    finally:
        await factory.close()
    assert first._session.closed


async def test_factory_does_not_close_a_borrowed_session(session):
    factory = ProviderFactory(session=session)
    assert factory.client("http://127.0.0.1:9/x", "k")._session is session
    await factory.close()
    assert not session.closed
