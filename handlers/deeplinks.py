"""Deep links: `t.me/<bot>?start=buy-<service>-<country>` (e.g. `buy-tg-0`) opens the confirm
screen of that purchase, and a favourite can be shared as such a link.

The payload comes from anyone who can post a link: it is read only when it has exactly this
form, and the offer it names is opened only when the provider knows both the service and the
country. Anything else gets the normal welcome (`handlers.start`). A user without a key sees
the no-key screen; the link waits in their dialogue state (`PENDING_BUY`) until their key is
added, then one tap goes on to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message

from bot.i18n import Translate
from bot.provider.errors import ProviderError
from handlers.activation.flow import BuyContext, show_confirm
from handlers.activation.views import no_key_view
from handlers.common import show

BUY_PREFIX = "buy"
# Telegram allows [A-Za-z0-9_-], 64 characters, in a start payload. Service codes are short
# lower-case words (`tg`, `wa`, `ot`), country ids numbers: anything else is not our link.
_BUY_PAYLOAD = re.compile(r"buy-([a-z0-9_]{1,24})-([0-9]{1,6})")
# FSM data: a buy link that waits for the user's first key.
PENDING_BUY = "then_buy"


@dataclass(frozen=True, slots=True)
class BuyLink:
    service: str
    country: str

    @property
    def payload(self) -> str:
        return f"{BUY_PREFIX}-{self.service}-{self.country}"


def parse_buy_payload(payload: str | None) -> BuyLink | None:
    """The offer a start payload names, or None for anything that is not exactly a buy link."""
    match = _BUY_PAYLOAD.fullmatch(payload or "")
    return BuyLink(match.group(1), match.group(2)) if match else None


def buy_link(bot_username: str, service: str, country: str) -> str | None:
    """`https://t.me/<bot>?start=buy-tg-0`, or None when the offer's codes cannot travel in a
    start payload (a provider's odd service code)."""
    link = BuyLink(service, country)
    if parse_buy_payload(link.payload) != link:
        return None
    return f"https://t.me/{bot_username}?start={link.payload}"


def share_button(
    t: Translate, bot_username: str | None, service: str, country: str, what: str
) -> InlineKeyboardButton | None:
    """A "Share" button: Telegram's share sheet with the buy link of this offer and a line
    naming it (`what`, e.g. "Telegram · 🇷🇺 Russia"); None when no link can be made."""
    link = buy_link(bot_username, service, country) if bot_username else None
    if link is None:
        return None
    text = t("share-text", what=what)
    url = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(text, safe='')}"
    return InlineKeyboardButton(text=t("btn-share"), url=url)


async def pending_buy(state: FSMContext) -> BuyLink | None:
    """The buy link that waits for the user's first key, if one does."""
    return parse_buy_payload(str((await state.get_data()).get(PENDING_BUY, "")))


async def open_buy_link(event: Message | CallbackQuery, ctx: BuyContext, link: BuyLink) -> bool:
    """Show the confirm screen of the offer `link` names (the buy flow's own screen); without
    a key, the no-key screen, and the link waits for the key. False, with nothing shown, when
    the provider knows no such service or country: the caller shows what it would have."""
    key = await ctx.key()
    if key is None:
        await ctx.state.set_data({PENDING_BUY: link.payload})
        await show(event, *no_key_view(ctx.t))
        return True
    try:
        services = await ctx.catalog.service_names(key, ctx.lang)
        countries = await ctx.catalog.countries(key)
    except ProviderError:
        pass  # the confirm screen asks again and says what the provider answered
    else:
        if link.service not in services or link.country not in countries:
            return False
    await show_confirm(event, ctx, service=link.service, country=link.country)
    return True
