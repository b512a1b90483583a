"""The Telegram face of the low-balance notice: `bot.low_balance` says it is due, this sends it.

The notice goes as a message of its own, with the key's screen (to change or turn off the
notice) and the main menu under it. It is sent in answer to something the user just did (a
purchase, a balance read on a screen), so it rides that moment, not the tracker's send queue.
"""

from __future__ import annotations

import html
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.formatting import format_money
from bot.i18n import Translate, Translator, pick_language
from bot.low_balance import LowBalanceNotice
from handlers.common import menu_button
from handlers.keys import KeyAction, KeyCb

log = logging.getLogger(__name__)


def render_low_balance(
    t: Translate, notice: LowBalanceNotice, lang: str
) -> tuple[str, InlineKeyboardMarkup]:
    text = t(
        "low-balance-notice",
        label=html.escape(notice.key_label),
        balance=format_money(notice.balance, notice.currency, lang=lang),
        threshold=format_money(notice.threshold, notice.currency, lang=lang),
    )
    key = InlineKeyboardButton(
        text=f"🔑 {notice.key_label}",
        callback_data=KeyCb(action=KeyAction.OPEN, id=notice.key_id).pack(),
    )
    return text, InlineKeyboardMarkup(inline_keyboard=[[key], [menu_button(t)]])


class LowBalanceSender:
    """Listens to `LowBalanceService` and sends each notice to its key's owner."""

    def __init__(self, bot: Bot, translator: Translator) -> None:
        self._bot = bot
        self._translator = translator

    async def send(self, notice: LowBalanceNotice) -> None:
        lang = pick_language(notice.language)
        text, markup = render_low_balance(self._translator.bind(lang), notice, lang)
        try:
            await self._bot.send_message(notice.user_id, text, reply_markup=markup)
        except TelegramAPIError as error:
            log.info("low-balance notice to %s not sent: %s", notice.user_id, type(error).__name__)
