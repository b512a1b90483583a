admin-stats =
    <b>📊 Bot status</b>
    Live activations: { $live_activations }
    Live rentals: { $live_rentals }
    Purchases being reconciled: { $pending }
    Since start: { $codes } codes and { $rental_sms } rental SMS delivered, { $auto_cancels } auto-cancels, { $errors } provider errors.
admin-chart-title = All users: spending per day, last { $days } days (UTC)
admin-chart-caption = 📈 What all users spent per day over the last { $days } days (UTC), by outcome; currencies apart.
