"""AccountService against a real SQLite database and the sandbox provider."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.accounts import AccountService, clean_label, looks_like_key
from bot.errors import NoActiveKey, NotFound
from bot.presets import normalize_base_url, preset_name, presets
from bot.provider.errors import ProviderError, ProviderUnavailable

ALICE, BOB = 1, 2


@pytest.fixture
def accounts(services: Any) -> AccountService:
    return services.accounts


async def test_add_key_checks_the_balance_first(
    accounts: AccountService, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    key = await accounts.add_key(ALICE, base_url=sandbox.url, api_key=sandbox_key, label="Main")
    assert key.active and key.label == "Main" and key.balance == Decimal("100")
    assert any(r["action"] == "getBalance" for r in sandbox.state.requests)
    stored = await services.db.keys.get(ALICE, key.id)
    assert stored is not None and stored.api_key == sandbox_key


async def test_a_rejected_key_is_not_stored(
    accounts: AccountService, sandbox: Any, services: Any
) -> None:
    with pytest.raises(ProviderError) as caught:
        await accounts.add_key(ALICE, base_url=sandbox.url, api_key="nope-nope-nope", label="x")
    assert caught.value.code == "BAD_KEY"
    assert "nope-nope-nope" not in str(caught.value)
    assert await services.db.keys.list(ALICE) == []


async def test_an_unreachable_provider_stores_nothing(
    accounts: AccountService, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    sandbox.state.inject_fault("http500", action="getBalance", count=10)
    with pytest.raises(ProviderUnavailable):
        await accounts.add_key(ALICE, base_url=sandbox.url, api_key=sandbox_key, label="x")
    assert await services.db.keys.list(ALICE) == []


async def test_the_same_key_twice_is_one_profile(
    accounts: AccountService, sandbox: Any, sandbox_key: str
) -> None:
    other = sandbox.state.create_key(balance="5")
    first = await accounts.add_key(ALICE, base_url=sandbox.url, api_key=sandbox_key, label="A")
    await accounts.add_key(ALICE, base_url=sandbox.url, api_key=other, label="B")
    again = await accounts.add_key(ALICE, base_url=sandbox.url, api_key=sandbox_key, label="C")
    assert again.id == first.id and again.active and again.label == "A"
    assert len(await accounts.list_keys(ALICE)) == 2


async def test_refresh_balance_of_the_active_key(
    accounts: AccountService, sandbox: Any, sandbox_key: str
) -> None:
    with pytest.raises(NoActiveKey):
        await accounts.refresh_balance(ALICE)
    key = await accounts.add_key(ALICE, base_url=sandbox.url, api_key=sandbox_key, label="A")
    sandbox.state.set_balance(sandbox_key, "12.34")
    refreshed = await accounts.refresh_balance(ALICE)
    assert refreshed.id == key.id and refreshed.balance == Decimal("12.34")
    assert (await accounts.get_key(ALICE, key.id)).balance == Decimal("12.34")


async def test_another_users_key_is_not_found(
    accounts: AccountService, sandbox: Any, sandbox_key: str
) -> None:
    key = await accounts.add_key(ALICE, base_url=sandbox.url, api_key=sandbox_key, label="A")
    with pytest.raises(NotFound):
        await accounts.refresh_balance(BOB, key.id)
    with pytest.raises(NotFound):
        await accounts.set_active(BOB, key.id)
    with pytest.raises(NotFound):
        await accounts.rename(BOB, key.id, "stolen")
    with pytest.raises(NotFound):
        await accounts.delete(BOB, key.id)
    with pytest.raises(NotFound):
        await accounts.get_key(BOB, key.id)
    still = await accounts.get_key(ALICE, key.id)
    assert still.label == "A" and still.active


async def test_rename_switch_delete(
    accounts: AccountService, sandbox: Any, sandbox_key: str
) -> None:
    a = await accounts.add_key(ALICE, base_url=sandbox.url, api_key=sandbox_key, label="A")
    b_key = sandbox.state.create_key(balance="1")
    b = await accounts.add_key(ALICE, base_url=sandbox.url, api_key=b_key, label="B")
    assert (await accounts.active_key(ALICE)).id == b.id
    await accounts.set_active(ALICE, a.id)
    assert (await accounts.active_key(ALICE)).id == a.id
    renamed = await accounts.rename(ALICE, a.id, "  New\nname  ")
    assert renamed.label == "New"
    with pytest.raises(NotFound):
        await accounts.rename(ALICE, a.id, "   ")
    await accounts.delete(ALICE, a.id)
    assert [k.id for k in await accounts.list_keys(ALICE)] == [b.id]
    assert (await accounts.active_key(ALICE)).id == b.id


def test_labels_and_key_shapes() -> None:
    assert clean_label("x" * 100) == "x" * 32
    assert clean_label("a\u200bb\tc") == "ab c"
    assert clean_label("") == ""
    assert looks_like_key("a1b2c3d4e5f6")
    assert not looks_like_key("short")
    assert not looks_like_key("two words here")
    assert not looks_like_key("ключключключ")


def test_presets_and_names(settings: Any) -> None:
    found = presets(settings)
    assert found[0].name == "GrizzlySMS" and found[-1].id == "sandbox"
    assert all(len(p.id) <= 8 for p in found)
    assert len({p.id for p in found}) == len(found)
    without = presets(settings.model_copy(update={"sandbox": False}))
    assert "sandbox" not in {p.id for p in without}
    assert preset_name("https://api.grizzlysms.com/stubs/handler_api.php") == "GrizzlySMS"
    assert preset_name(settings.sandbox_url, settings) == "Sandbox"
    assert preset_name("https://x.example:8443/stubs/handler_api.php") == "x.example:8443"


def test_custom_urls_are_normalised() -> None:
    assert normalize_base_url("provider.example") == (
        "https://provider.example/stubs/handler_api.php"
    )
    assert normalize_base_url("http://p.example/stubs/handler_api.php?api_key=S3CRET#x") == (
        "http://p.example/stubs/handler_api.php"
    )
    assert normalize_base_url("https://user:pw@p.example/") == (
        "https://p.example/stubs/handler_api.php"
    )
    assert normalize_base_url("ftp://p.example") is None
    assert normalize_base_url("not a url") is None
    assert normalize_base_url("") is None


def test_internal_addresses_are_recognised() -> None:
    from bot.presets import is_internal_address

    for url in (
        "http://127.0.0.1:8081/stubs/handler_api.php",
        "http://localhost/x.php",
        "http://192.168.1.2/x.php",
        "http://[::1]/x.php",
        "http://169.254.169.254/latest",
        "http://db/x.php",
        "http://printer.local/x.php",
    ):
        assert is_internal_address(url), url
    for url in ("https://api.grizzlysms.com/stubs/handler_api.php", "http://8.8.8.8/x.php"):
        assert not is_internal_address(url), url
