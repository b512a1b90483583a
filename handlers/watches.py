"""🔔 Watches: arm one from an offer that is out of stock (or above the user's maximum), list
them (main menu), remove one. The poller (`bot.watches.WatchPoller`) does the watching; its
notices are drawn by `handlers.watch_notifier` with the same views.
"""

from __future__ import annotations

from decimal import Decimal

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.catalog import CatalogService
from bot.errors import NoActiveKey
from bot.i18n import Translate
from bot.watches import WATCHES_PER_USER, WatchLimit, WatchService
from handlers.activation.flow import parse_max_price
from handlers.activation.views import no_key_view
from handlers.common import (
    ActiveKeyLoader,
    MenuAction,
    MenuCb,
    answer_quietly,
    input_flags,
    remember_prompt,
    show,
)
from handlers.fsm_storage import enter_screen
from handlers.names import Names, names_for
from handlers.watch_callbacks import WatchAction, WatchCb, WatchStates
from handlers.watch_views import (
    Draft,
    WatchLine,
    render_armed,
    render_ask_max,
    render_draft,
    render_list,
)
from storage import KeyProfile, User


async def _names(
    catalog: CatalogService, key: KeyProfile | None, lang: str, service: str, country: str
) -> Names:
    return await names_for(catalog, key, lang, service, country)


def _cap(callback_data: WatchCb) -> tuple[bool, Decimal | None]:
    """(valid, maximum price) from the button: "" is any price; anything else must be a price
    (a tampered value is refused, never read as "any price")."""
    if not callback_data.mx:
        return True, None
    value = parse_max_price(callback_data.mx)
    return value is not None, value


# ------------------------------------------------------------------ the list


async def show_list(
    event: CallbackQuery | Message,
    user: User,
    lang: str,
    t: Translate,
    watches: WatchService,
    catalog: CatalogService,
    active_key: ActiveKeyLoader,
    *,
    notice: str = "",
) -> None:
    key = await active_key()
    lines = [
        WatchLine(
            watch,
            await _names(catalog, key, lang, watch.service, watch.country),
            key.currency if key is not None else None,
        )
        for watch in await watches.armed(user.id)
    ]
    await show(event, *render_list(t, lines, lang=lang, tz=user.timezone, notice=notice))


async def on_menu_watches(
    query: CallbackQuery,
    user: User,
    lang: str,
    t: Translate,
    watches: WatchService,
    catalog: CatalogService,
    active_key: ActiveKeyLoader,
    state: FSMContext,
) -> None:
    await answer_quietly(query)
    await state.set_state(None)
    await show_list(query, user, lang, t, watches, catalog, active_key)


async def on_remove(
    query: CallbackQuery,
    callback_data: WatchCb,
    user: User,
    lang: str,
    t: Translate,
    watches: WatchService,
    catalog: CatalogService,
    active_key: ActiveKeyLoader,
) -> None:
    removed = await watches.remove(user.id, callback_data.id)
    notice = t("watch-removed") if removed else t("watch-gone")
    await answer_quietly(query, notice)
    await show_list(query, user, lang, t, watches, catalog, active_key)


# ------------------------------------------------------------------ the draft and arming


async def show_draft(
    event: CallbackQuery | Message,
    *,
    service: str,
    country: str,
    max_price: Decimal | None,
    auto_buy: bool,
    lang: str,
    t: Translate,
    watches: WatchService,
    catalog: CatalogService,
    active_key: ActiveKeyLoader,
) -> None:
    key = await active_key()
    if key is None:
        await show(event, *no_key_view(t))
        return
    draft = Draft(
        service=service,
        country=country,
        names=await _names(catalog, key, lang, service, country),
        max_price=max_price,
        auto_buy=auto_buy and max_price is not None,
        currency=key.currency,
        hours=watches.hours,
    )
    await show(event, *render_draft(t, draft, lang=lang))


async def on_draft(
    query: CallbackQuery,
    callback_data: WatchCb,
    lang: str,
    t: Translate,
    watches: WatchService,
    catalog: CatalogService,
    active_key: ActiveKeyLoader,
    state: FSMContext,
) -> None:
    valid, cap = _cap(callback_data)
    if not valid:
        await answer_quietly(query, t("error-stale"), alert=True)
        return
    await answer_quietly(query)
    await state.set_state(None)
    await show_draft(
        query,
        service=callback_data.s,
        country=callback_data.c,
        max_price=cap,
        auto_buy=callback_data.ab,
        lang=lang,
        t=t,
        watches=watches,
        catalog=catalog,
        active_key=active_key,
    )


async def on_ask_max(
    query: CallbackQuery, callback_data: WatchCb, t: Translate, state: FSMContext
) -> None:
    await answer_quietly(query)
    await enter_screen(
        state, WatchStates.max_price, s=callback_data.s, c=callback_data.c, ab=callback_data.ab
    )
    view = render_ask_max(t, callback_data.s, callback_data.c, callback_data.ab)
    await remember_prompt(state, await show(query, *view))


async def on_max_typed(
    message: Message,
    lang: str,
    t: Translate,
    watches: WatchService,
    catalog: CatalogService,
    active_key: ActiveKeyLoader,
    state: FSMContext,
) -> None:
    value = parse_max_price(message.text or "")
    if value is None:  # the prompt stays: the next message is read as the price again
        await message.answer(t("buy-bad-max"))
        return
    saved = await state.get_data()
    await state.clear()  # the prompt loses its buttons (the prompt middleware)
    service, country = str(saved.get("s", "")), str(saved.get("c", ""))
    if not service or not country:  # the draft was lost: nothing to set the price of
        await message.answer(t("error-stale"))
        return
    await show_draft(
        message,
        service=service,
        country=country,
        max_price=value,
        auto_buy=bool(saved.get("ab", False)),
        lang=lang,
        t=t,
        watches=watches,
        catalog=catalog,
        active_key=active_key,
    )


async def on_arm(
    query: CallbackQuery,
    callback_data: WatchCb,
    user: User,
    lang: str,
    t: Translate,
    watches: WatchService,
    catalog: CatalogService,
    active_key: ActiveKeyLoader,
) -> None:
    valid, cap = _cap(callback_data)
    if not valid or not callback_data.s or not callback_data.c:
        await answer_quietly(query, t("error-stale"), alert=True)
        return
    message = query.message if isinstance(query.message, Message) else None
    try:
        watch = await watches.create(
            user.id,
            service=callback_data.s,
            country=callback_data.c,
            max_price=cap,
            auto_buy=callback_data.ab,
            chat_id=message.chat.id if message is not None else None,
        )
    except NoActiveKey:
        await answer_quietly(query)
        await show(query, *no_key_view(t))
        return
    except WatchLimit:
        notice = t("watch-limit", limit=str(WATCHES_PER_USER))
        await answer_quietly(query, notice, alert=True)
        await show_list(query, user, lang, t, watches, catalog, active_key, notice=notice)
        return
    await answer_quietly(query, t("watch-armed-short"))
    key = await active_key()
    names = await _names(catalog, key, lang, watch.service, watch.country)
    currency = key.currency if key is not None else None
    await show(query, *render_armed(t, watch, names, currency, lang=lang, tz=user.timezone))


def create_router() -> Router:
    router = Router(name=__name__)
    tap, typed = router.callback_query.register, router.message.register
    tap(on_menu_watches, MenuCb.filter(F.action == MenuAction.WATCHES))
    tap(on_remove, WatchCb.filter(F.action == WatchAction.REMOVE))
    tap(on_draft, WatchCb.filter(F.action == WatchAction.DRAFT))
    tap(on_ask_max, WatchCb.filter(F.action == WatchAction.ASK_MAX))
    typed(
        on_max_typed,
        WatchStates.max_price,
        F.text,
        ~F.text.startswith("/"),
        flags=input_flags(),
    )
    tap(on_arm, WatchCb.filter(F.action == WatchAction.ARM))
    return router
