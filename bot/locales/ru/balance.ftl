balance-text = <b>💰 Баланс: { $balance }</b>
    Ключ: { $label } ({ $provider })
balance-stale = <b>💰 Последний известный баланс: { $balance }</b>
    Ключ: { $label } ({ $provider })
balance-updated = Баланс обновлён.
btn-balance-refresh = 🔄 Обновить
