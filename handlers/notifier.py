"""The Telegram face of the tracker: codes, rental SMS, reminders and ended numbers in the chat.

Implements `bot.tracker.notifier.Notifier`. Every event names its `Recipient` (the owner and
the key, as the tracker holds them) and hands over the stored row as it is after the change,
so nothing is read again here: the language comes from `to.user`, the names from `to.key`.
Cards are drawn by the card presenters, the same the tap handlers use.

Nothing here waits for Telegram: each event draws its message and puts it in the send queue
(`handlers.send_queue`), which sends it within Telegram's limits, codes first. A code or an SMS
is settled through the tracker's `settle` once Telegram took it (marked delivered then) or
refused it (offered again on a later pass); a code already queued is not queued twice. Telegram
errors: a 429 holds the chat (or, for the whole bot, every chat) and the message goes again; a
user who blocked the bot is reported by the queue (the tracker keeps tracking and cancelling
their numbers); "message is not modified" is no error; a card that cannot be edited any more is
sent again on the chat's next turn (`NextTurn`: one message per turn, never two at once) and
remembered through the use case.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from enum import StrEnum
from html import escape

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup

from bot.catalog import CatalogService
from bot.config import Settings
from bot.errors import UseCaseError
from bot.formatting import (
    MESSAGE_LIMIT,
    clip_escaped,
    format_money,
    format_time,
    split_escaped,
    user_timezone,
)
from bot.i18n import Translate, Translator
from bot.orders import OrderService
from bot.rentals import RentalService
from bot.tracker.notifier import Recipient, Settle
from handlers.activation.presenter import (
    activation_card_data,
    reason_message,
    render_activation_card,
)
from handlers.common import is_not_modified
from handlers.live_card import retire_card
from handlers.names import names_for
from handlers.outcome import outcome_data, phone_text, render_outcome
from handlers.rent.presenter import render_rental_card, rental_card_data
from handlers.rent.views import code_line
from handlers.send_queue import Call, Job, NextTurn, Priority, SendQueue
from storage.chains import ReplaceChain
from storage.models import (
    Activation,
    ActivationCode,
    KeyProfile,
    PendingPurchase,
    Rental,
    RentalSms,
)

log = logging.getLogger(__name__)

CODE_LIMIT = 1500  # escaped characters of a code in its message
SMS_LIMIT = 1800  # escaped characters of the SMS text under a code
CARD_GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")

CARD_MEMO = 10_000  # cards this process sent anew, remembered (see _Cards)
Remember = Callable[[int, int], Awaitable[None]]  # (chat, message id) now shows the card


class Edit(StrEnum):
    OK = "ok"  # the chat shows the text (edited, or it already did)
    GONE = "gone"  # the message cannot be edited any more: send a new one
    FAILED = "failed"  # leave it (a later change edits it again)


class _Cards:
    """Cards this process sent anew, by (kind, id): which message they replaced and the new one.

    The queue sends a card later than the event that drew it, so a row handed over meanwhile
    may still name the old message (or none): the card it stands for is the new one. A row
    naming any other message (a tap handler showed the card since) is believed. Bounded."""

    def __init__(self, size: int = CARD_MEMO) -> None:
        self._size = size
        self._sent: OrderedDict[tuple[str, int], tuple[int | None, int]] = OrderedDict()

    def current(self, card: tuple[str, int], message_id: int | None) -> int | None:
        known = self._sent.get(card)
        if known is not None and message_id in (None, known[0]):
            return known[1]
        return message_id

    def replaced(self, card: tuple[str, int], old: int | None, new: int) -> None:
        self._sent[card] = (old, new)
        self._sent.move_to_end(card)
        while len(self._sent) > self._size:
            self._sent.popitem(last=False)


class TelegramNotifier:
    def __init__(
        self,
        bot: Bot,
        translator: Translator,
        catalog: CatalogService | None,
        *,
        orders: OrderService,
        rentals: RentalService,
        queue: SendQueue,
        clock: Callable[[], float] = time.time,
        settings: Settings | None = None,
    ) -> None:
        self.bot = bot
        self.translator = translator
        self.catalog = catalog
        self.orders = orders
        self.rentals = rentals
        self.queue = queue
        self.clock = clock
        self.settings = settings  # which zone each provider's timestamps are in
        self._cards = _Cards()
        self._notices = itertools.count()

    # ------------------------------------------------------------------ activations

    async def code_received(
        self, activation: Activation, code: ActivationCode, to: Recipient, settle: Settle
    ) -> None:
        key = ("code", activation.id, code.round)
        if self.queue.holds(key):
            return  # on its way already: the job queued first settles it
        lang, t = self.language(to)
        names = await names_for(self.catalog, to.key, lang, activation.service, activation.country)
        template = "tracker-code-next" if code.round > 0 else "tracker-code"
        # Cut after escaping: Fluent refuses values over 2,500 characters and Telegram
        # messages over 4,096; the code keeps the larger share.
        text = t(
            template,
            code=clip_escaped(code.code, CODE_LIMIT),
            service=escape(names.service),
            phone=escape(phone_text(activation.phone)),
        )
        if code.text and code.text.strip() and code.text.strip() != code.code:
            text += "\n" + t("tracker-code-sms", text=clip_escaped(code.text.strip(), SMS_LIMIT))

        async def taken(delivered: bool) -> None:
            await settle(delivered)
            if delivered:  # the card shows the code too, once its message is there
                await self._show_activation_card(activation, to)

        chat = _chat(activation)
        calls = [self._message(chat, text, notify=True)]
        await self.queue.put(
            Job(activation.user_id, chat, key, Priority.DELIVERY, calls, settle=taken)
        )

    async def activation_changed(self, activation: Activation, to: Recipient) -> None:
        await self._show_activation_card(activation, to)

    async def activation_ended(self, activation: Activation, refunded: bool, to: Recipient) -> None:
        await self._show_activation_card(activation, to)
        lang, t = self.language(to)
        names = await names_for(self.catalog, to.key, lang, activation.service, activation.country)
        args = {"phone": escape(phone_text(activation.phone)), "service": escape(names.service)}
        if refunded:
            amount = format_money(activation.cost, activation.currency, lang=lang)
            key = (
                "tracker-expired-refunded"
                if activation.status == "expired"
                else "tracker-cancelled-refunded"
            )
            text = t(key, amount=escape(amount), **args)
        elif activation.status == "finished":
            text = t("tracker-finished", **args)
        else:
            text = t("tracker-cancelled", **args)
        await self._notice(activation.user_id, _chat(activation), text, notify=refunded)

    async def activation_adopted(self, activation: Activation, to: Recipient) -> None:
        """A purchase whose answer was lost went through: the "checking" message (the card's
        message id, set from the intent) becomes the normal number card — price, countdown,
        buttons. Without that message a new card is sent."""
        await self._show_activation_card(activation, to)

    # ------------------------------------------------------------------ rentals

    async def rental_sms(
        self, rental: Rental, sms: RentalSms, to: Recipient, settle: Settle
    ) -> None:
        """The SMS as one message, or, when too long for one, as several that together carry
        every character (a rented number may receive anything). Settled True only when
        Telegram took every part: otherwise the tracker offers it again later."""
        key = ("sms", sms.id)
        if self.queue.holds(key):
            return
        _lang, t = self.language(to)
        phone = escape(phone_text(rental.phone))
        head = t(
            "tracker-rental-sms-head", phone=phone, sender=clip_escaped(sms.phone_from or "?", 200)
        )
        code = code_line(t, sms.text)  # tap-to-copy; the whole text follows
        if code:
            head += "\n" + code
        more = t("tracker-rental-sms-more", phone=phone, part="99", parts="99")
        room = MESSAGE_LIMIT - max(len(head), len(more)) - 1
        pieces = split_escaped(sms.text, room)
        chat = _chat(rental)
        calls: list[Call] = []
        for number, piece in enumerate(pieces, start=1):
            if number > 1:
                head = t(
                    "tracker-rental-sms-more", phone=phone, part=str(number), parts=str(len(pieces))
                )
            calls.append(self._message(chat, f"{head}\n{piece}", notify=number == 1))
        await self.queue.put(
            Job(rental.user_id, chat, key, Priority.DELIVERY, calls, settle=settle)
        )

    async def rental_changed(self, rental: Rental, to: Recipient) -> None:
        await self._show_rental_card(rental, to)

    async def rental_reminder(self, rental: Rental, seconds_left: int, to: Recipient) -> None:
        """The end as a moment in the owner's zone: the message stays true as it sits there."""
        lang, t = self.language(to)
        names = await names_for(self.catalog, to.key, lang, rental.service, rental.country)
        tz = user_timezone(to.user.timezone if to.user is not None else None)
        text = t(
            "rent-reminder",
            phone=escape(phone_text(rental.phone)),
            service=escape(names.service),
            at=format_time(rental.ends_at, tz),
        )
        await self._notice(rental.user_id, _chat(rental), text, notify=True)

    async def rental_ended(self, rental: Rental, to: Recipient) -> None:
        await self._show_rental_card(rental, to)
        lang, t = self.language(to)
        names = await names_for(self.catalog, to.key, lang, rental.service, rental.country)
        text = t(
            "tracker-rental-ended",
            phone=escape(phone_text(rental.phone)),
            service=escape(names.service),
        )
        await self._notice(rental.user_id, _chat(rental), text, notify=False)

    # ------------------------------------------------------------------ keys

    async def replace_stopped(self, chain: ReplaceChain, to: Recipient) -> None:
        """An auto-replace chain ended without a code: why, after how many numbers, and what
        they were charged (the last number's card stays as it was)."""
        lang, t = self.language(to)
        names = await names_for(self.catalog, to.key, lang, chain.service, chain.country)
        currency = to.key.currency if to.key is not None else None
        text = "\n".join(
            (
                t(
                    "replace-stopped",
                    service=escape(names.service),
                    flag=names.flag,
                    country=escape(names.country),
                    attempts=str(chain.attempts_used),
                    spent=escape(format_money(chain.spent, currency, lang=lang)),
                ),
                t(reason_message(chain.reason or "error")),
            )
        )
        chat_id = chain.chat_id if chain.chat_id is not None else chain.user_id
        await self._notice(chain.user_id, chat_id, text, notify=True)

    async def key_revoked(self, key: KeyProfile, to: Recipient) -> None:
        _lang, t = self.language(to)
        text = t("tracker-key-revoked", label=escape(key.label))
        await self._notice(key.user_id, key.user_id, text, notify=True)

    # ------------------------------------------------------------------ reconciliation

    async def pending_unresolved(self, pending: PendingPurchase, to: Recipient) -> None:
        """A purchase intent closed without a number to show: the unknown-outcome presenter
        says what happened, replacing the "checking" message when there is one."""
        lang, t = self.language(to)
        data = await outcome_data(
            pending,
            to,
            lang=lang,
            catalog=self.catalog,
            rental_phone=await self._rental_phone(pending),
        )
        text = render_outcome(data, t)
        chat_id = pending.chat_id if pending.chat_id is not None else pending.user_id

        async def send() -> bool:
            await self.bot.send_message(chat_id, text)
            return True

        call = self._edit_or_send(chat_id, pending.message_id, text, None, send, {Edit.OK})
        key = ("outcome", pending.id)
        await self.queue.put(Job(pending.user_id, chat_id, key, Priority.NOTICE, [call]))

    async def _rental_phone(self, pending: PendingPurchase) -> str | None:
        """The phone of the rental an extension was for (extensions only)."""
        if pending.rental_id is None:
            return None
        try:
            return (await self.rentals.get(pending.user_id, pending.rental_id)).phone
        except UseCaseError:
            return None

    # ------------------------------------------------------------------ cards

    async def _activation_view(
        self, a: Activation, to: Recipient
    ) -> tuple[str, InlineKeyboardMarkup]:
        lang, t = self.language(to)
        data = await activation_card_data(
            a, to, lang=lang, catalog=self.catalog, orders=self.orders, now=self.clock()
        )
        return render_activation_card(data, t)

    async def _show_activation_card(
        self, a: Activation, to: Recipient, *, anew: bool = False
    ) -> None:
        text, markup = await self._activation_view(a, to)
        old = a.message_id

        async def remember(chat: int, message_id: int) -> None:
            await self.orders.card_shown(a.id, chat, message_id)
            a.chat_id, a.message_id = chat, message_id
            if anew and old is not None and old != message_id:
                await self._retire(a.user_id, chat, old, message_id, to)

        await self._show_card(
            a.user_id, _chat(a), ("a", a.id), a.message_id, text, markup, remember, anew=anew
        )

    async def _retire(self, user_id: int, chat: int, old: int, new: int, to: Recipient) -> None:
        """One live card per number: the one left above turns into a stub, on the chat's next
        turn (the new card's message took this one). Best effort, as `retire_card` is."""
        _lang, t = self.language(to)

        async def call() -> bool:
            await retire_card(self.bot, chat, old, new, t)
            return True

        await self.queue.put(Job(user_id, chat, ("retire", chat, old), Priority.CARD, [call]))

    async def _rental_view(self, r: Rental, to: Recipient) -> tuple[str, InlineKeyboardMarkup]:
        lang, t = self.language(to)
        data = await rental_card_data(
            r,
            to,
            lang=lang,
            rentals=self.rentals,
            catalog=self.catalog,
            settings=self.settings,
            now=self.clock(),
        )
        return render_rental_card(data, t)

    async def _show_rental_card(self, r: Rental, to: Recipient, *, anew: bool = False) -> None:
        text, markup = await self._rental_view(r, to)

        async def remember(chat: int, message_id: int) -> None:
            await self.rentals.card_shown(r.id, chat, message_id)
            r.chat_id, r.message_id = chat, message_id

        await self._show_card(
            r.user_id, _chat(r), ("r", r.id), r.message_id, text, markup, remember, anew=anew
        )

    async def resend_cards(self, user_id: int) -> None:
        """A user who had blocked the bot is back: a fresh card for each live number, at the
        bottom of the chat, remembered so that later changes edit it."""
        user = await self.orders.owner(user_id)
        for activation in await self.orders.live(user_id):
            to = Recipient(user=user, key=await self.orders.key_of(activation))
            await self._show_activation_card(activation, to, anew=True)
        for rental in await self.rentals.live_rentals(user_id):
            key = await self.rentals.key_of(user_id, rental)
            await self._show_rental_card(rental, Recipient(user=user, key=key), anew=True)

    async def _show_card(
        self,
        user_id: int,
        chat: int,
        card: tuple[str, int],
        message_id: int | None,
        text: str,
        markup: InlineKeyboardMarkup,
        remember: Remember,
        *,
        anew: bool,
    ) -> None:
        """Queue the card: edited in place, or, when there is none (or it is gone, or `anew`),
        sent as a new message that `remember` records. One job per (chat, message): a newer
        state of the same card replaces the one waiting."""
        shown = None if anew else self._cards.current(card, message_id)
        replaced = message_id if shown is None else shown

        async def send() -> bool:
            sent = await self.bot.send_message(
                chat, text, reply_markup=markup, disable_notification=True
            )
            self._cards.replaced(card, replaced, sent.message_id)
            await remember(chat, sent.message_id)
            return True

        call = self._edit_or_send(chat, shown, text, markup, send, {Edit.OK, Edit.FAILED})
        key = ("card", chat, shown) if shown is not None else ("new card", chat, card)
        await self.queue.put(Job(user_id, chat, key, Priority.CARD, [call]))

    # ------------------------------------------------------------------ Telegram calls

    def _edit_or_send(
        self,
        chat_id: int,
        message_id: int | None,
        text: str,
        markup: InlineKeyboardMarkup | None,
        send: Call,
        final: set[Edit],
    ) -> Call:
        """Edit `message_id` in place (when there is one); an edit whose outcome is not in
        `final` took the chat's turn for nothing, so `send` goes on the chat's next one
        (`NextTurn`: a second message at once would be refused, and its retry would edit
        again). An edit that ends in `final` is the call's answer (taken when OK)."""
        editing = message_id is not None

        async def call() -> bool:
            nonlocal editing
            if editing and message_id is not None:
                outcome = await self._edit(chat_id, message_id, text, markup)
                if outcome in final:
                    return outcome is Edit.OK
                editing = False
                raise NextTurn
            return await send()

        return call

    def _message(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        notify: bool,
    ) -> Call:
        async def call() -> bool:
            await self.bot.send_message(
                chat_id, text, reply_markup=markup, disable_notification=not notify
            )
            return True

        return call

    async def _notice(self, user_id: int, chat_id: int, text: str, *, notify: bool) -> None:
        key = ("notice", next(self._notices))
        calls = [self._message(chat_id, text, notify=notify)]
        await self.queue.put(Job(user_id, chat_id, key, Priority.NOTICE, calls))

    async def _edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
    ) -> Edit:
        """429, a blocked bot and other Telegram errors are the queue's to handle."""
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        except TelegramBadRequest as error:
            if is_not_modified(error):
                return Edit.OK
            if any(marker in str(error.message).lower() for marker in CARD_GONE):
                return Edit.GONE
            log.warning("notifier: editMessageText refused: %s", error.message)
            return Edit.FAILED
        return Edit.OK

    # ------------------------------------------------------------------ language

    def language(self, to: Recipient) -> tuple[str, Translate]:
        lang = (to.user.language if to.user is not None else None) or "en"
        if lang not in self.translator.languages:
            lang = "en"
        return lang, self.translator.bind(lang)


def _chat(item: Activation | Rental) -> int:
    return item.chat_id if item.chat_id is not None else item.user_id
