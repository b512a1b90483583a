"""Names on cards and screens: a service's and a country's name in the user's language and the
country's flag, made in ONE place so that every path drawing a card or a list (a tap handler,
the tracker's notifier, the buy flow's lists) shows the same thing.

Names are a nicety: the catalog may be slow or down, and a card or a code must never wait for
it long or fail because of it, so every failure falls back to the raw codes and 🌐.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.catalog import CatalogService
from bot.flags import FALLBACK_FLAG, country_flag
from bot.provider.models import Country
from storage.models import KeyProfile

log = logging.getLogger(__name__)

NAME_TIMEOUT = 2.0  # a slow catalog must not hold a card or a code back
NAME_LIMIT = 100  # characters of a provider's name: enough for any real one, and bounded


@dataclass(frozen=True, slots=True)
class Names:
    service: str
    country: str  # in the user's language
    flag: str  # from the country's English name, so the same in every language

    @property
    def country_with_flag(self) -> str:
        return f"{self.flag} {self.country}"


def country_label(country: Country | None, country_id: str, lang: str) -> tuple[str, str]:
    """(flag, name in `lang` where the provider has it); 🌐 and the raw id when unknown."""
    if country is None:
        return FALLBACK_FLAG, country_id
    return country_flag(country.name("en")), country.name(lang)[:NAME_LIMIT]


async def names_for(
    catalog: CatalogService | None, key: KeyProfile | None, lang: str, service: str, country: str
) -> Names:
    """The names of one (service, country) pair as `key`'s provider spells them in `lang`."""
    fallback = Names(str(service), str(country), FALLBACK_FLAG)
    if catalog is None or key is None:
        return fallback
    try:
        async with asyncio.timeout(NAME_TIMEOUT):
            services = await catalog.services(key, lang)
            countries = await catalog.countries(key)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # names are cosmetic: the codes stand in
        log.debug("catalog names unavailable: %s", type(error).__name__)
        return fallback
    service_name = next((s.name for s in services or [] if s.code == service), str(service))
    flag, country_name = country_label((countries or {}).get(country), str(country), lang)
    return Names(service_name[:NAME_LIMIT], country_name, flag)
