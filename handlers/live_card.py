"""One live card per number or rental: when a card is drawn anew in another message, the old
message is turned into a short stub without buttons, so exactly one message can be tapped."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.i18n import Translate

log = logging.getLogger(__name__)


async def retire_card(
    bot: Bot, chat_id: int, old_message_id: int | None, new_message_id: int | None, t: Translate
) -> bool:
    """Edits the card's previous message into the "moved below" stub. Call it after the new
    message is sent and its id stored. Best effort: a message the user deleted, one too old to
    edit or a network fault leaves the old buttons, which then answer as stale taps. True when
    the old message was retired."""
    if old_message_id is None or old_message_id == new_message_id:
        return False
    try:
        await bot.edit_message_text(
            chat_id=chat_id, message_id=old_message_id, text=t("card-moved"), reply_markup=None
        )
    except TelegramAPIError as exc:
        log.debug("old card %s in chat %s not retired: %s", old_message_id, chat_id, exc)
        return False
    return True
