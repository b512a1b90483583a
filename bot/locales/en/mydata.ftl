cmd-mydata = What the bot keeps about you; delete it
mydata-summary = <b>🗂 Your data</b>
    What this bot keeps about you:
    🔑 API keys: { $keys } (encrypted)
    📱 One-time numbers: { $activations } (codes: { $codes })
    🏠 Rentals: { $rentals } (SMS: { $sms })
    ⏳ Live now: { $live }
    ⭐ Favourites: { $favourites } · recent picks: { $recents }
    ⚙️ Settings (language, time zone, auto-cancel): { $settings }

    You can delete all of it. Live numbers are ended first.
mydata-yes = stored
mydata-no = none
mydata-btn-delete = 🗑 Delete my data
mydata-confirm = <b>🗑 Delete everything?</b>
    Your API keys, the history of your numbers with their codes and SMS, your favourites and settings are deleted for good. This cannot be undone.
mydata-confirm-live = ⚠️ You have { $live } live numbers: each is ended first, cancelled (refunded) while it has no code, finished otherwise.
mydata-btn-confirm = 🗑 Yes, delete everything
mydata-hold-locked = • <code>{ $phone }</code>: the provider allows a cancel in { $left }; it is scheduled. Try again then.
mydata-hold-checking = • <code>{ $phone }</code>: the provider's answer was lost and is being checked. Try again in a minute.
mydata-hold-provider = • <code>{ $phone }</code>: the provider could not end it now. Try again later.
mydata-hold-purchase = • A purchase is still being checked with the provider. Try again in a few minutes.
mydata-erased = ✅ Your data has been deleted. Live numbers ended: { $ended }. Send /start to use the bot again.
mydata-not-erased = <b>Nothing was deleted yet</b>: some numbers cannot be ended right now.
mydata-ended-some = Numbers already ended: { $ended }.
