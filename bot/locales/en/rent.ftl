# Renting numbers: the rent flow and the rental card.

rent-choose-service = 🏠 <b>Rent a number</b> for hours or days, to receive many SMS.
    Choose a service (page { $page } of { $pages }):
rent-no-services = No numbers can be rented right now. Try again later.
rent-choose-country = 🏠 <b>{ $service }</b>
    Choose a country (price for 4 hours, numbers available):
rent-no-countries = No country has numbers to rent for { $service } right now. Try another service.
rent-choose-duration = 🏠 <b>{ $service }</b>, { $country }
    For how long? The price is for the whole time.
rent-no-durations = This country has no numbers to rent for this service now. Pick another country.
rent-price-unknown = The provider gave no price for this duration. Pick another one.
rent-country-option = { $country } · { $price } · { $count } pcs
rent-option = { $duration } — { $price }
rent-dur-hours = { $n } h
rent-dur-days = { $n } d
rent-confirm = <b>Confirm the rent</b>
    Service: { $service }
    Country: { $country }
    Duration: { $duration }
    Price: <b>{ $price }</b>
    Balance: { $balance }
rent-low-balance = ⚠️ Your balance is lower than the price. Top up your account with the provider first.
rent-btn-confirm = ✅ Rent for { $price }
rent-done = ✅ Number rented. Its card is below.
rent-pending = ⏳ The provider did not say whether the number was rented. We are checking and will tell you here. Do not rent again until then.

rent-card-title = 🏠 <b>Rented number</b>
rent-card-service = Service: { $service }
rent-card-price = Rent price: { $price }
rent-card-country = Country: { $country }
rent-card-ended-at = Ended: { $at }
rent-card-status = Status: { $status }
rent-card-no-sms = 💬 No SMS yet. They will appear here by themselves.
rent-card-no-sms-ended = 💬 No SMS came to this number.
rent-card-latest = 💬 Latest SMS from { $sender }, { $date }:
rent-status-active = 🟢 active
rent-status-finished = ⚪ finished
rent-status-cancelled = ↩️ cancelled, money returned
rent-status-expired = ⌛ time is over

rent-btn-sms = 💬 SMS
rent-btn-extend = ⏳ Extend
rent-btn-history = 📜 History
rent-btn-refresh = 🔄 Refresh
rent-btn-finish = 🏁 Finish
rent-btn-cancel = ✖️ Cancel
rent-btn-card = « Back to the number
rent-refreshed = Updated.

rent-sms-title = 💬 <b>SMS to { $phone }</b> (page { $page } of { $pages })
rent-sms-empty = No SMS yet. New ones also come to this chat by themselves.
rent-sms-item = 🕒 { $date } · { $sender }

rent-extend-choose = ⏳ Extend { $phone } by how long?
rent-extend-none = The provider offers no extension for this number now. Try again later.
rent-extend-confirm = ⏳ <b>Extend { $phone }</b>
    By: { $duration }
    Price: <b>{ $price }</b>
    Balance: { $balance }
rent-btn-extend-confirm = ✅ Extend for { $price }
rent-extended = ✅ Extended. It now ends { $at }.

rent-finish-confirm = 🏁 Finish the rent of { $phone } now? The number stops receiving SMS and the time left is not refunded.
rent-btn-finish-yes = 🏁 Yes, finish
rent-btn-finish-no = « No, keep it
rent-finished = The rent is finished.
rent-cancelled = The rent is cancelled and the money is back on your balance.
rent-cancel-reason-window = Cancelling is no longer possible: more than 20 minutes have passed since renting. Use Finish instead.
rent-cancel-reason-sms = Cancelling is no longer possible: an SMS has already arrived. Use Finish instead.
rent-stale = This button is out of date: nothing was rented. Open the rent menu again.
rent-pending-unlisted = ⏳ The provider did not say whether the number was rented, and it offers no list of rentals to look it up in. I am watching your balance and will tell you the result here. Do not rent again until then.
rent-extend-pending = ⏳ The provider did not say whether the rental was extended. I am checking and will tell you the result here. Do not extend again until then.
rent-card-paid = Paid in total: { $total }

rent-periods-title = 📜 <b>History of { $phone }</b>: the first rent and each extension (page { $page } of { $pages })
rent-periods-empty = The provider lists no rent periods for this number yet.
rent-period-item = 🕒 { $date } · { $duration } · { $price }

rent-renting = ⏳ Renting the number… This takes a few seconds; its card will appear below.
rent-still-renting = ⏳ Still renting… Its card will appear below.
rent-already-done = This rent is already done: its card is in the chat.
rent-extending = ⏳ Extending…
rent-still-extending = ⏳ Still extending…
rent-extend-done = This extension is already done.
rent-card-ends-at = Ends: { $at }
rent-card-cancel-until = ↩️ Cancel for a refund possible until { $at } (while no SMS came).
rent-cancel-confirm = ✖️ Cancel the rent of { $phone }? The money comes back to your balance and the number stops receiving SMS.
rent-btn-cancel-yes = ✖️ Yes, cancel it
rent-extend-until = It will then end: { $at }
rent-reminder = ⏰ The rental of { $phone } ({ $service }) ends at { $at }.
rent-btn-my-numbers = « My numbers
rent-btn-rental-history = « Rental history
rent-sms-code = 🔑 Code: <code>{ $code }</code>
rent-repeat-failed = This rent did not go through and nothing was charged. Open the rent menu to try again.
rent-repeat-unconfirmed = The result of this rent could not be confirmed. Check your provider account before renting again.
rent-extend-repeat-failed = This extension did not go through and nothing was charged.
rent-extend-repeat-unconfirmed = The result of this extension could not be confirmed. Check your provider account before extending again.
