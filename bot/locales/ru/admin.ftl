admin-stats =
    <b>📊 Состояние бота</b>
    Активных номеров: { $live_activations }
    Активных аренд: { $live_rentals }
    Покупок на сверке: { $pending }
    С запуска: доставлено кодов — { $codes }, SMS аренды — { $rental_sms }; автоотмен — { $auto_cancels }; ошибок провайдера — { $errors }.
admin-chart-title = Все пользователи: расходы по дням, последние { $days } дн. (UTC)
admin-chart-caption = 📈 Сколько все пользователи тратили в день за последние { $days } дн. (UTC), по исходам; валюты раздельно.
