replace-toggle-on = 🔁 Автозамена: вкл. (нажмите, чтобы выключить)
replace-toggle-off = 🔁 Автозамена: выкл. (нажмите, чтобы включить)
replace-terms = 🔁 Автозамена: нет кода за { $minutes } мин → отмена и покупка другого, не больше { $attempts } номеров
replace-terms-cap = 🔁 Автозамена: нет кода за { $minutes } мин → отмена и покупка другого, не больше { $attempts } номеров и не больше { $cap } всего
replace-card-attempt = 🔁 Автозамена: попытка { $attempt } из { $attempts }
replace-card-next-at = Если кода не будет к { $at }, номер отменится и будет куплен другой.
replace-btn-stop = ⏹ Остановить автозамену
replace-stop-stale = Автозамена для этого номера уже не работает.
replace-stopped-tap = Автозамена остановлена: этот номер остаётся.
replace-stopped = 🔁 Автозамена для { $service } { $flag } { $country } остановлена после { $attempts } попыток (списано { $spent }, за отменённые номера деньги возвращаются).
replace-reason-no-balance = Причина: на балансе не хватает денег на следующий номер.
replace-reason-banned = Причина: провайдер временно заблокировал аккаунт.
replace-reason-channels-limit = Причина: у аккаунта слишком много номеров одновременно.
replace-reason-no-numbers = Причина: номеров по этому предложению больше нет.
replace-reason-wrong-max-price = Причина: цена поднялась выше максимальной.
replace-reason-cap = Причина: достигнут лимит расходов.
replace-reason-attempts = Причина: все попытки использованы.
replace-reason-unknown = Причина: ответ на покупку потерялся и не прояснился, поэтому больше ничего не покупается.
replace-reason-refused = Причина: провайдер отказал в покупке.
replace-reason-error = Причина: продолжать нельзя (ключ удалён или у предложения нет цены).
replace-settings-button = 🔁 Автозамена
replace-settings-text = <b>🔁 Автозамена</b>
    Если на номер не пришёл код вовремя, бот отменяет его (деньги возвращаются) и покупает другой по тому же предложению, не дороже.
    Для новых покупок: { $enabled } (на экране подтверждения можно переключить для одной покупки)
    Ждать код: { $minutes } мин
    Номеров не больше: { $attempts }
    Лимит расходов: { $cap }
    Следующая по цене страна, если номеров нет: { $next_country }
replace-settings-cap-none = число номеров × цена
replace-settings-turn-on = ✅ Включить для новых покупок
replace-settings-turn-off = ⏹ Выключить для новых покупок
replace-settings-minutes = { $minutes } мин
replace-settings-cap-price = × цена
replace-settings-next-on = 🌍 Пробовать следующую по цене страну, если номеров нет
replace-settings-next-off = 🌍 Оставаться в той же стране, если номеров нет
