admin-stats =
    <b>📊 Состояние бота</b>
    Активных номеров: { $live_activations }
    Активных аренд: { $live_rentals }
    Покупок на сверке: { $pending }
    С запуска: доставлено кодов — { $codes }, SMS аренды — { $rental_sms }; автоотмен — { $auto_cancels }; ошибок провайдера — { $errors }.
