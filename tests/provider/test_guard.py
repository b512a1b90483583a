"""The outbound-address guard (item 29): a custom provider URL cannot reach the server's network.

The provider stand-in listens on 127.0.0.1 and must receive no request at all: the guard sees
the address each socket is about to connect to, whatever spelling of the URL led there.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from bot.config import load_settings
from bot.presets import address_policy, is_internal_address, normalize_base_url
from bot.provider.errors import AddressRefused, ProviderUnavailable, UnknownOutcome
from bot.provider.factory import ProviderFactory
from bot.provider.guard import AddressPolicy, literal_address, origin, refused_address
from tests.provider.conftest import API_KEY, FakeProvider

INWARD_SPELLINGS = (
    "http://0x7f.1:{port}/stubs/handler_api.php",  # hex-dotted, never seen by aiohttp as an IP
    "http://127.0x0.1:{port}/stubs/handler_api.php",
    "http://127.0.0.1:{port}/stubs/handler_api.php",  # a literal IP: no resolver involved
    "http://localhost:{port}/stubs/handler_api.php",  # a name that resolves inward
    "http://[::ffff:127.0.0.1]:{port}/stubs/handler_api.php",  # IPv4-mapped IPv6
)


def _port(fake: FakeProvider) -> int:
    return int(fake.url.split(":")[2].split("/")[0])


@pytest.mark.parametrize("spelling", INWARD_SPELLINGS)
async def test_inward_addresses_receive_no_request(fake: FakeProvider, spelling: str) -> None:
    fake.answer("getBalance", "ACCESS_BALANCE:100")
    fake.answer("getNumber", "ACCESS_NUMBER:1:79990001122")
    factory = ProviderFactory(timeout=2.0, read_retries=2, retry_delay=0.001)
    try:
        client = factory.client(spelling.format(port=_port(fake)), API_KEY)
        with pytest.raises(ProviderUnavailable) as caught:
            await client.get_balance()
        assert caught.value.code == "ADDRESS_REFUSED"
        assert API_KEY not in str(caught.value)
        # A purchase that was never sent is not an unknown outcome.
        with pytest.raises(AddressRefused) as bought:
            await client.get_number("tg", "0")
        assert not isinstance(bought.value, UnknownOutcome)
    finally:
        await factory.close()
    assert fake.requests == []


async def test_sandbox_mode_allows_loopback(fake: FakeProvider) -> None:
    fake.answer("getBalance", "ACCESS_BALANCE:100")
    factory = ProviderFactory(timeout=2.0, address_policy=AddressPolicy(allow_loopback=True))
    try:
        for spelling in INWARD_SPELLINGS[:4]:
            client = factory.client(spelling.format(port=_port(fake)), API_KEY)
            assert (await client.get_balance()).amount == 100
    finally:
        await factory.close()
    assert len(fake.requests) == 4


async def test_the_operators_own_urls_are_trusted_and_nothing_else(fake: FakeProvider) -> None:
    fake.answer("getBalance", "ACCESS_BALANCE:100")
    settings = load_settings(bot_token="123456:" + "x" * 30, sandbox=True, sandbox_url=fake.url)
    policy = address_policy(settings)
    # Sandbox mode trusts SANDBOX_URL (a docker-compose sandbox lives at a private address).
    policy = AddressPolicy(trusted=policy.trusted)  # without the loopback allowance
    factory = ProviderFactory(timeout=2.0, read_retries=0, address_policy=policy)
    try:
        assert (await factory.client(fake.url, API_KEY).get_balance()).amount == 100
        other_port = fake.url.replace(f":{_port(fake)}/", f":{_port(fake) + 1}/")
        with pytest.raises(AddressRefused):
            await factory.client(other_port, API_KEY).get_balance()
    finally:
        await factory.close()
    assert len(fake.requests) == 1


def test_policy_from_settings() -> None:
    token = "123456:" + "x" * 30
    plain = address_policy(load_settings(bot_token=token, sandbox=False))
    assert not plain.allow_loopback
    assert not plain.trusted  # GrizzlySMS and the other presets pass the guard like any URL
    own = address_policy(
        load_settings(bot_token=token, provider_url="http://10.0.0.7/stubs/handler_api.php")
    )
    assert not own.refuses_url("http://10.0.0.7/stubs/handler_api.php")  # the operator's choice
    assert own.refuses_url("http://10.0.0.8/stubs/handler_api.php")
    box = address_policy(
        load_settings(
            bot_token=token, sandbox=True, sandbox_url="http://sandbox:8081/stubs/handler_api.php"
        )
    )
    assert box.allow_loopback and ("http", "sandbox", 8081) in box.trusted
    assert not box.refuses_url("http://sandbox:8081/stubs/handler_api.php")
    assert box.refuses_url("http://sandbox:22/stubs/handler_api.php")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "239.255.255.250",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "104.16.1.1", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert not refused_address(ipaddress.ip_address(address))


def test_loopback_allowance_covers_loopback_only() -> None:
    assert not refused_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert not refused_address(ipaddress.ip_address("::1"), allow_loopback=True)
    assert refused_address(ipaddress.ip_address("10.0.0.1"), allow_loopback=True)
    assert refused_address(ipaddress.ip_address("::ffff:127.0.0.1"), allow_loopback=True)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0x7f.1", "127.0.0.1"),
        ("127.0x0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("[::1]", "::1"),
        ("api.grizzlysms.com", None),
        ("deadbeef.com", None),
    ],
)
def test_literal_addresses_in_every_spelling(host: str, expected: str | None) -> None:
    found = literal_address(host)
    assert (str(found) if found else None) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://0x7f.1:8080/stubs/handler_api.php",
        "http://127.0x0.1:8080/stubs/handler_api.php",
        "http://2130706433/x.php",
        "http://[::ffff:127.0.0.1]/x.php",
        "http://[::1]:8080/x.php",
        "http://169.254.169.254/latest",
        "http://db/x.php",
        "http://printer.local/x.php",
    ],
)
def test_the_add_time_check_refuses_every_inward_spelling(url: str) -> None:
    assert is_internal_address(url)


def test_the_add_time_check_in_sandbox_mode_allows_loopback_only() -> None:
    settings: Any = load_settings(bot_token="123456:" + "x" * 30, sandbox=True)
    assert not is_internal_address("http://127.0.0.1:8081/stubs/handler_api.php", settings)
    assert not is_internal_address("http://localhost:8081/stubs/handler_api.php", settings)
    assert is_internal_address("http://10.0.0.5/stubs/handler_api.php", settings)
    assert not is_internal_address("https://api.grizzlysms.com/stubs/handler_api.php", settings)


def test_ipv6_provider_urls_keep_their_brackets() -> None:
    assert normalize_base_url("http://[2606:4700::1111]:8080") == (
        "http://[2606:4700::1111]:8080/stubs/handler_api.php"
    )
    assert normalize_base_url("[2606:4700::1111]/x.php") == "https://[2606:4700::1111]/x.php"
    assert normalize_base_url("2606:4700::1111") is None  # unbracketed: not an address
    assert origin("http://[::1]:8080/x.php") == ("http", "::1", 8080)
