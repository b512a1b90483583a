# Сообщения, которые трекер отправляет сам (коды, SMS аренды, напоминания, завершение).
tracker-code = 🔑 Код для { $service } ({ $phone }): <code>{ $code }</code>
tracker-code-next = 🔑 Новый код для { $service } ({ $phone }): <code>{ $code }</code>
tracker-code-sms = 💬 { $text }
tracker-cancelled-refunded = ↩️ На номер { $phone } ({ $service }) код не пришёл, поэтому номер отменён, а { $amount } вернулись на баланс.
tracker-expired-refunded = ⌛ Срок номера { $phone } ({ $service }) истёк без кода; { $amount } вернулись на баланс.
tracker-finished = ✅ Номер { $phone } ({ $service }) завершён.
tracker-cancelled = ✖️ Номер { $phone } ({ $service }) отменён.
tracker-adopted = ℹ️ В аккаунте провайдера нашёлся номер, который бот вам ещё не показывал: { $phone } ({ $service }, { $country }). Теперь он отслеживается, код придёт сюда.
tracker-rental-sms =
    📨 SMS на { $phone } от { $sender }:
    { $text }
tracker-rental-reminder = ⏰ Аренда номера { $phone } ({ $service }) закончится через { $left }.
tracker-rental-ended = 🏁 Аренда номера { $phone } ({ $service }) закончилась.
tracker-pending = ⚠️ Покупку номера { $service } ({ $country }) не удалось подтвердить, и в аккаунте провайдера такого номера нет. Скорее всего, покупка не состоялась; проверьте баланс.
tracker-pending-rental = ⚠️ Аренду номера { $service } ({ $country }) не удалось подтвердить. Проверьте аккаунт провайдера и баланс, прежде чем пробовать снова.
tracker-card = 📱 { $phone } · { $service } · { $country }
tracker-card-status = Статус: { $status }
tracker-status-waiting = ожидание кода
tracker-status-retry = ожидание следующего кода
tracker-status-received = код получен
tracker-status-finished = завершён
tracker-status-cancelled = отменён
tracker-status-expired = истёк
tracker-status-active = активна
tracker-key-revoked = 🔑 Провайдер больше не принимает API-ключ «{ $label }»: вероятно, его сменили или отозвали на сайте провайдера. Пока ключ не заработает, я не могу проверять купленные с ним номера, и их коды сюда не придут. Я буду пробовать ключ каждые несколько минут и продолжу сам, как только он заработает; если ввести его снова в разделе 🔑 API-ключи, продолжу сразу.
