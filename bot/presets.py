"""Provider presets: GrizzlySMS first, a few providers speaking the same protocol, the sandbox.

A preset only names a base URL; every provider is driven by the same protocol client.
Preset ids travel in callback data, so they stay at most 8 characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo
from urllib.parse import urlsplit, urlunsplit

from bot.config import DEFAULT_PROVIDER_URL, Settings
from bot.formatting import user_timezone
from bot.provider.guard import AddressPolicy

HANDLER_PATH = "/stubs/handler_api.php"
SANDBOX_ID = "sandbox"
CUSTOM_ID = "custom"


# protocol.md §10: timestamps without a zone (SMS dates, activation times, BANNED dates) are in
# the provider's local time, Moscow for the sms-activate family unless a provider says otherwise.
MOSCOW = "Europe/Moscow"
# The in-process and external sandbox keep UTC unless started with another tz_offset_hours.
SANDBOX_TZ = "UTC"


@dataclass(frozen=True, slots=True)
class Preset:
    id: str  # <= 8 chars: it travels in callback data
    name: str
    base_url: str
    tz: str = MOSCOW  # the zone of the provider's timestamps


# protocol.md §6: providers serving the sms-activate handler_api.php protocol.
COMPATIBLE: tuple[Preset, ...] = (
    Preset("hero", "HeroSMS", "https://hero-sms.com/stubs/handler_api.php"),
    Preset("smshub", "SMSHub", "https://smshub.org/stubs/handler_api.php"),
    Preset("5sim", "5SIM", "http://api1.5sim.net/stubs/handler_api.php"),
    Preset("smsman", "SMS-Man", "https://api.sms-man.com/stubs/handler_api.php"),
    Preset("vaksms", "Vak-SMS", "https://vak-sms.com/stubs/handler_api.php"),
    Preset("tiger", "Tiger SMS", "https://api.tiger-sms.com/stubs/handler_api.php"),
    Preset("bower", "SMSBower", "https://smsbower.page/stubs/handler_api.php"),
)


def grizzly(settings: Settings | None = None) -> Preset:
    """GrizzlySMS, at PROVIDER_URL when the operator pointed it elsewhere."""
    url = (settings.provider_url if settings is not None else None) or DEFAULT_PROVIDER_URL
    return Preset("grizzly", "GrizzlySMS", url)


def sandbox_preset(settings: Settings | None) -> Preset | None:
    if settings is None or not settings.sandbox or not settings.sandbox_url:
        return None
    return Preset(SANDBOX_ID, "Sandbox", settings.sandbox_url, SANDBOX_TZ)


def presets(settings: Settings | None) -> list[Preset]:
    """GrizzlySMS first; the sandbox only when SANDBOX is on."""
    found = [grizzly(settings), *COMPATIBLE]
    box = sandbox_preset(settings)
    if box is not None:
        found.append(box)
    return found


def preset_by_id(settings: Settings | None, preset_id: str) -> Preset | None:
    return next((p for p in presets(settings) if p.id == preset_id), None)


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def preset_of(base_url: str, settings: Settings | None = None) -> Preset | None:
    """The preset whose address `base_url` is (the sandbox's only when `settings` say so)."""
    known = [grizzly(settings), *COMPATIBLE]
    if settings is not None:
        box = sandbox_preset(settings)
        if box is not None:
            known.append(box)
    return next((preset for preset in known if _same_url(preset.base_url, base_url)), None)


def preset_name(base_url: str, settings: Settings | None = None) -> str:
    """'GrizzlySMS' for a known provider ('Sandbox' when `settings` say so); else the host."""
    preset = preset_of(base_url, settings)
    if preset is not None:
        return preset.name
    if _same_url(base_url, DEFAULT_PROVIDER_URL):
        return "GrizzlySMS"
    host = urlsplit(base_url).netloc.rsplit("@", 1)[-1]
    return host or base_url


def provider_zone(base_url: str, settings: Settings | None = None) -> tzinfo:
    """The zone a provider's own timestamps are in: its preset's, else (a custom address) the
    operator's CUSTOM_PROVIDER_TZ setting, Moscow by default like the sms-activate family."""
    preset = preset_of(base_url, settings)
    if preset is not None:
        return user_timezone(preset.tz)
    custom = settings.custom_provider_tz if settings is not None else None
    return user_timezone(custom or MOSCOW)


def address_policy(settings: Settings | None) -> AddressPolicy:
    """Where provider requests may go. Loopback only in sandbox mode (the sandbox itself lives on
    127.0.0.1); the operator's own SANDBOX_URL, and a PROVIDER_URL other than GrizzlySMS's
    public one, are trusted wherever they point. Everything else, the built-in presets
    included, passes the guard."""
    if settings is None:
        return AddressPolicy.trusting([], allow_loopback=False)
    sandbox = settings.sandbox
    trusted: list[str | None] = []
    if settings.provider_url and not _same_url(settings.provider_url, DEFAULT_PROVIDER_URL):
        trusted.append(settings.provider_url)
    if sandbox:
        trusted.append(settings.sandbox_url)
    return AddressPolicy.trusting(trusted, allow_loopback=sandbox)


def is_internal_address(base_url: str, settings: Settings | None = None) -> bool:
    """True when a custom provider at this address would be refused as inside the server's
    network. The early, friendly form of the guard every connection passes
    (bot.provider.guard), with the same rule; names that resolve inward are caught when
    connecting."""
    return address_policy(settings).refuses_url(base_url)


def normalize_base_url(text: str) -> str | None:
    """A user-typed provider address as a base URL, or None when it is not one.

    `api.example.com` and `https://api.example.com/` gain the standard handler path; a query
    string or fragment is dropped (it could carry a key), and so are credentials in the host."""
    raw = text.strip()
    if not raw or any(ch.isspace() for ch in raw) or len(raw) > 200:
        return None
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:  # "host:abc", or an IPv6 address without its brackets
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address keeps its brackets
    if port:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    if not path.endswith(".php"):
        path = path + HANDLER_PATH
    return urlunsplit((parts.scheme, host, path, "", ""))
