keys-title = <b>🔑 API-ключи</b>
keys-empty = У вас ещё нет API-ключей. Добавьте API-ключ аккаунта провайдера, чтобы начать.
keys-hint = ✅ — активный ключ: покупки идут через него. Нажмите на ключ, чтобы управлять им.
keys-line = { $marker } <b>{ $label }</b> · { $provider } · <code>{ $masked }</code> · { $balance }
key-card = <b>🔑 { $label }</b>
    Провайдер: { $provider }
    Ключ: <code>{ $masked }</code>
    Баланс: { $balance }
    { $state }
key-state-active = ✅ Активен: покупки идут через этот ключ.
key-state-inactive = Не активен.
btn-key-add = ➕ Добавить ключ
btn-key-use = ✅ Сделать активным
btn-key-rename = ✏️ Переименовать
btn-key-delete = 🗑 Удалить
btn-key-delete-yes = 🗑 Да, удалить
btn-key-delete-no = « Нет, оставить
btn-keys-back = « API-ключи
btn-custom-url = 🌐 Другой провайдер (URL)
btn-keep-label = ✔️ Оставить это имя: «{ $label }»
keys-choose-provider = Выберите провайдера. Подойдёт любой провайдер с протоколом sms-activate: нажмите «Другой провайдер» и пришлите его адрес.
keys-send-url = Пришлите адрес API провайдера, например <code>https://provider.example/stubs/handler_api.php</code>
keys-bad-url = Это не похоже на веб-адрес. Пришлите что-то вроде <code>https://provider.example/stubs/handler_api.php</code>
keys-internal-url = Этот адрес во внутренней сети сервера, его нельзя использовать как провайдера. Пришлите публичный адрес провайдера.
keys-send-key = Пришлите API-ключ <b>{ $provider }</b> сообщением. Он есть в вашем кабинете на сайте провайдера.
    Я сразу удалю ваше сообщение, а ключ хранится в зашифрованном виде.
keys-bad-format = Это не похоже на API-ключ (одно слово из букв и цифр). Пришлите ключ ещё раз.
keys-try-again = Пришлите ключ ещё раз или нажмите «Отмена».
keys-delete-yourself = ⚠️ Не удалось удалить ваше сообщение с ключом: удалите его, пожалуйста, сами.
keys-added = ✅ Ключ добавлен и активен: <b>{ $label }</b>, баланс { $balance }.
    Пришлите для него имя или оставьте это.
keys-bad-label = Пришлите короткое имя (до 32 символов).
keys-label-saved = Сохранено как <b>{ $label }</b>.
keys-rename-prompt = Пришлите новое имя для <b>{ $label }</b>.
keys-delete-confirm = Удалить ключ <b>{ $label }</b>? Купленные через него номера отслеживаются до завершения.
keys-deleted = Ключ { $label } удалён.
keys-now-active = { $label } теперь активен.
keys-unasked-deleted = 🔒 Это сообщение похоже на API-ключ, поэтому я удалил его из чата. Чтобы добавить ключ: 🔑 API-ключи → ➕ Добавить ключ.
keys-rejected = Провайдер отклонил этот API-ключ. Проверьте его в кабинете провайдера и пришлите ещё раз или нажмите «Отмена».
keys-send-url-again = Пришлите адрес API провайдера ещё раз или нажмите «Отмена».
btn-key-continue = ➡️ Продолжить покупку
