"""The Telegram face of the watch poller: its notices through the notifier's send queue.

Implements `bot.watches.WatchNotifier`. A number an auto-buy bought gets the normal card, drawn
by the Telegram notifier exactly as for a number whose lost purchase answer was reconciled
(`activation_adopted`): the same presenter, remembered so the tracker edits it later.
"""

from __future__ import annotations

import itertools

from aiogram.types import InlineKeyboardMarkup

from bot.i18n import Translate
from bot.tracker.notifier import Recipient
from bot.watches import StockOffer
from handlers.errors import error_text
from handlers.names import Names, names_for
from handlers.notifier import TelegramNotifier
from handlers.send_queue import Job, Priority
from handlers.watch_views import (
    render_bought,
    render_checking,
    render_expired,
    render_failed,
    render_in_stock,
)
from storage import Activation, Watch


class TelegramWatchNotifier:
    def __init__(self, notifier: TelegramNotifier) -> None:
        self._notifier = notifier
        self._seq = itertools.count()

    def _bind(self, to: Recipient) -> tuple[str, Translate]:
        return self._notifier.language(to)

    async def _names(self, watch: Watch, to: Recipient, lang: str) -> Names:
        return await names_for(self._notifier.catalog, to.key, lang, watch.service, watch.country)

    async def _send(
        self, watch: Watch, text: str, markup: InlineKeyboardMarkup, *, notify: bool
    ) -> None:
        bot, chat = self._notifier.bot, watch.chat

        async def call() -> bool:
            await bot.send_message(chat, text, reply_markup=markup, disable_notification=not notify)
            return True

        key = ("watch", watch.id, next(self._seq))
        await self._notifier.queue.put(Job(watch.user_id, chat, key, Priority.NOTICE, [call]))

    async def watch_in_stock(
        self, watch: Watch, offer: StockOffer, token: str, to: Recipient
    ) -> None:
        lang, t = self._bind(to)
        names = await self._names(watch, to, lang)
        currency = to.key.currency if to.key is not None else None
        view = render_in_stock(t, watch, offer, token, names, currency, lang=lang)
        await self._send(watch, *view, notify=True)

    async def watch_bought(self, watch: Watch, activation: Activation, to: Recipient) -> None:
        lang, t = self._bind(to)
        names = await self._names(watch, to, lang)
        currency = activation.currency or (to.key.currency if to.key is not None else None)
        await self._send(watch, *render_bought(t, watch, names, currency, lang=lang), notify=True)
        await self._notifier.activation_adopted(activation, to)

    async def watch_checking(self, watch: Watch, to: Recipient) -> None:
        lang, t = self._bind(to)
        names = await self._names(watch, to, lang)
        await self._send(watch, *render_checking(t, watch, names), notify=True)

    async def watch_failed(self, watch: Watch, error: Exception, to: Recipient) -> None:
        lang, t = self._bind(to)
        names = await self._names(watch, to, lang)
        reason = error_text(t, error, user=to.user, settings=self._notifier.settings)
        await self._send(watch, *render_failed(t, watch, names, reason), notify=True)

    async def watch_expired(self, watch: Watch, to: Recipient) -> None:
        lang, t = self._bind(to)
        names = await self._names(watch, to, lang)
        await self._send(watch, *render_expired(t, watch, names), notify=False)
