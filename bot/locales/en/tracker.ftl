# Messages the tracker sends by itself (codes, rental SMS, reminders, ended numbers).
tracker-code = 🔑 Code for { $service } ({ $phone }): <code>{ $code }</code>
tracker-code-next = 🔑 New code for { $service } ({ $phone }): <code>{ $code }</code>
tracker-code-sms = 💬 { $text }
tracker-cancelled-refunded = ↩️ No code came to { $phone } ({ $service }), so the number was cancelled and { $amount } went back to your balance.
tracker-expired-refunded = ⌛ The number { $phone } ({ $service }) expired without a code; { $amount } went back to your balance.
tracker-finished = ✅ The number { $phone } ({ $service }) is finished.
tracker-cancelled = ✖️ The number { $phone } ({ $service }) was cancelled.
tracker-adopted = ℹ️ Your provider account has a number the bot had not shown you: { $phone } ({ $service }, { $country }). It is tracked now; its code will arrive here.
tracker-rental-sms =
    📨 SMS to { $phone } from { $sender }:
    { $text }
tracker-rental-reminder = ⏰ The rental of { $phone } ({ $service }) ends in { $left }.
tracker-rental-ended = 🏁 The rental of { $phone } ({ $service }) has ended.
tracker-pending = ⚠️ The purchase of a { $service } number ({ $country }) could not be confirmed, and your provider account shows no such number. Most likely nothing was bought; please check your balance.
tracker-pending-rental = ⚠️ The rental of a { $service } number ({ $country }) could not be confirmed. Please check your provider account and your balance before trying again.
tracker-card = 📱 { $phone } · { $service } · { $country }
tracker-card-status = Status: { $status }
tracker-status-waiting = waiting for the code
tracker-status-retry = waiting for another code
tracker-status-received = code received
tracker-status-finished = finished
tracker-status-cancelled = cancelled
tracker-status-expired = expired
tracker-status-active = active
tracker-key-revoked = 🔑 Your provider no longer accepts the API key «{ $label }»: it was probably changed or revoked on the provider's site. Until it works again I cannot check the numbers bought with it, and their codes cannot reach you here. I will try the key again every few minutes and carry on by myself once it works; if you enter it again in 🔑 API keys, I carry on at once.
