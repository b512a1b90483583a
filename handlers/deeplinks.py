"""Deep links: `t.me/<bot>?start=buy-<service>-<country>` (e.g. `buy-tg-0`) names a purchase;
a favourite on the confirm screen can be shared as such a link.

The links themselves live here (parsing, making, sharing); `handlers.start` opens them. The
payload comes from anyone who can post a link: it is read only when it has exactly this form,
and the offer it names is opened only when the provider knows both the service and the country.
Anything else gets the normal welcome. A user without a key sees the no-key screen; the link
waits in their dialogue state (`PENDING_BUY`) until their key is added, then one tap goes on.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import quote

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate

log = logging.getLogger(__name__)

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


def with_share_row(
    markup: InlineKeyboardMarkup, share: InlineKeyboardButton | None
) -> InlineKeyboardMarkup:
    """`markup` with a Share row above its last row (the way back), when there is a share."""
    if share is None:
        return markup
    rows = list(markup.inline_keyboard)
    return InlineKeyboardMarkup(inline_keyboard=[*rows[:-1], [share], *rows[-1:]])


async def bot_username(bot: Bot | None) -> str | None:
    """The bot's @username for its links (aiogram asks getMe once and keeps the answer); None
    when Telegram cannot say, and the link is left out."""
    if bot is None:
        return None
    try:
        return (await bot.me()).username
    except TelegramAPIError as exc:
        log.info("no username for a share link: %s", type(exc).__name__)
        return None
