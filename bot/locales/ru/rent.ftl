# Аренда номеров: выбор и карточка аренды.

rent-choose-service = 🏠 <b>Аренда номера</b> на часы или дни, чтобы получать много SMS.
    Выберите сервис (страница { $page } из { $pages }):
rent-no-services = Сейчас нет номеров для аренды. Попробуйте позже.
rent-choose-country = 🏠 <b>{ $service }</b>
    Выберите страну (цена за 4 часа, сколько номеров):
rent-no-countries = Сейчас ни в одной стране нет номеров в аренду для { $service }. Выберите другой сервис.
rent-choose-duration = 🏠 <b>{ $service }</b>, { $country }
    На какой срок? Цена указана за весь срок.
rent-no-durations = В этой стране сейчас нет номеров в аренду для этого сервиса. Выберите другую страну.
rent-price-unknown = Провайдер не назвал цену за этот срок. Выберите другой.
rent-country-option = { $country } · { $price } · { $count } шт.
rent-option = { $duration } — { $price }
rent-dur-hours = { $n } ч
rent-dur-days = { $n } д
rent-confirm = <b>Подтвердите аренду</b>
    Сервис: { $service }
    Страна: { $country }
    Срок: { $duration }
    Цена: <b>{ $price }</b>
    Баланс: { $balance }
rent-low-balance = ⚠️ Баланс меньше цены. Сначала пополните счёт у провайдера.
rent-btn-confirm = ✅ Арендовать за { $price }
rent-done = ✅ Номер арендован. Его карточка ниже.
rent-pending = ⏳ Провайдер не ответил, арендован ли номер. Мы проверяем и сообщим здесь. До тех пор не арендуйте снова.

rent-card-title = 🏠 <b>Арендованный номер</b>
rent-card-service = Сервис: { $service }
rent-card-price = Цена аренды: { $price }
rent-card-country = Страна: { $country }
rent-card-ended-at = Завершена: { $at }
rent-card-status = Статус: { $status }
rent-card-no-sms = 💬 SMS пока нет. Они появятся здесь сами.
rent-card-no-sms-ended = 💬 На этот номер SMS не приходили.
rent-card-latest = 💬 Последнее SMS от { $sender }, { $date }:
rent-status-active = 🟢 активна
rent-status-finished = ⚪ завершена
rent-status-cancelled = ↩️ отменена, деньги возвращены
rent-status-expired = ⌛ срок истёк

rent-btn-sms = 💬 SMS
rent-btn-extend = ⏳ Продлить
rent-btn-history = 📜 История
rent-btn-refresh = 🔄 Обновить
rent-btn-finish = 🏁 Завершить
rent-btn-cancel = ✖️ Отменить
rent-btn-card = « К номеру
rent-refreshed = Обновлено.

rent-sms-title = 💬 <b>SMS на { $phone }</b> (страница { $page } из { $pages })
rent-sms-empty = SMS пока нет. Новые также придут в этот чат сами.
rent-sms-item = 🕒 { $date } · { $sender }

rent-extend-choose = ⏳ На сколько продлить { $phone }?
rent-extend-none = Провайдер сейчас не предлагает продление этого номера. Попробуйте позже.
rent-extend-confirm = ⏳ <b>Продление { $phone }</b>
    На: { $duration }
    Цена: <b>{ $price }</b>
    Баланс: { $balance }
rent-btn-extend-confirm = ✅ Продлить за { $price }
rent-extended = ✅ Продлено. Теперь окончание { $at }.

rent-finish-confirm = 🏁 Завершить аренду { $phone } сейчас? Номер перестанет получать SMS, оставшееся время не возвращается.
rent-btn-finish-yes = 🏁 Да, завершить
rent-btn-finish-no = « Нет, оставить
rent-finished = Аренда завершена.
rent-cancelled = Аренда отменена, деньги вернулись на баланс.
rent-cancel-reason-window = Отменить уже нельзя: с начала аренды прошло больше 20 минут. Вместо этого нажмите «Завершить».
rent-cancel-reason-sms = Отменить уже нельзя: SMS уже пришло. Вместо этого нажмите «Завершить».
rent-stale = Эта кнопка устарела: ничего не арендовано. Откройте меню аренды заново.
rent-pending-unlisted = ⏳ Провайдер не ответил, арендован ли номер, и у него нет списка аренд, чтобы найти его. Я слежу за вашим балансом и сообщу результат здесь. Не арендуйте снова до этого.
rent-extend-pending = ⏳ Провайдер не ответил, продлена ли аренда. Я проверяю и сообщу результат здесь. Не продлевайте снова до этого.
rent-card-paid = Оплачено всего: { $total }

rent-periods-title = 📜 <b>История { $phone }</b>: первая аренда и каждое продление (страница { $page } из { $pages })
rent-periods-empty = Провайдер пока не показывает периодов аренды этого номера.
rent-period-item = 🕒 { $date } · { $duration } · { $price }

rent-renting = ⏳ Арендуем номер… Это займёт несколько секунд; его карточка появится ниже.
rent-still-renting = ⏳ Всё ещё арендуем… Карточка номера появится ниже.
rent-already-done = Эта аренда уже выполнена: карточка номера есть в чате.
rent-extending = ⏳ Продлеваем…
rent-still-extending = ⏳ Всё ещё продлеваем…
rent-extend-done = Это продление уже выполнено.
rent-card-ends-at = Окончание: { $at }
rent-card-cancel-until = ↩️ Отменить с возвратом денег можно до { $at } (пока не пришло ни одного SMS).
rent-cancel-confirm = ✖️ Отменить аренду { $phone }? Деньги вернутся на баланс, а номер перестанет принимать SMS.
rent-btn-cancel-yes = ✖️ Да, отменить
rent-extend-until = Тогда аренда закончится: { $at }
rent-reminder = ⏰ Аренда номера { $phone } ({ $service }) закончится в { $at }.
rent-btn-my-numbers = « Мои номера
rent-btn-rental-history = « История аренды
rent-sms-code = 🔑 Код: <code>{ $code }</code>
rent-repeat-failed = Эта аренда не состоялась, деньги не списаны. Откройте меню аренды, чтобы попробовать снова.
rent-repeat-unconfirmed = Результат этой аренды не удалось подтвердить. Проверьте аккаунт у провайдера, прежде чем арендовать снова.
rent-extend-repeat-failed = Это продление не состоялось, деньги не списаны.
rent-extend-repeat-unconfirmed = Результат этого продления не удалось подтвердить. Проверьте аккаунт у провайдера, прежде чем продлевать снова.
