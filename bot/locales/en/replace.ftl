replace-toggle-on = 🔁 Auto-replace: on (tap to turn off)
replace-toggle-off = 🔁 Auto-replace: off (tap to turn on)
replace-terms = 🔁 Auto-replace: no code within { $minutes } min → cancel and buy another, { $attempts } numbers at most
replace-terms-cap = 🔁 Auto-replace: no code within { $minutes } min → cancel and buy another, { $attempts } numbers at most, { $cap } in all at most
replace-card-attempt = 🔁 Auto-replace: attempt { $attempt } of { $attempts }
replace-card-next-at = No code by { $at }: this number is cancelled and another one bought.
replace-btn-stop = ⏹ Stop auto-replace
replace-stop-stale = Auto-replace is not running for this number any more.
replace-stopped-tap = Auto-replace stopped: this number stays.
replace-stopped = 🔁 Auto-replace stopped for { $service } { $flag } { $country } after { $attempts } attempts ({ $spent } charged, cancelled numbers are refunded).
replace-reason-no-balance = Reason: not enough balance for another number.
replace-reason-banned = Reason: the provider has banned this account for now.
replace-reason-channels-limit = Reason: the account has too many numbers at once.
replace-reason-no-numbers = Reason: no numbers are left for this offer.
replace-reason-wrong-max-price = Reason: the price went above the maximum.
replace-reason-cap = Reason: the spending cap is reached.
replace-reason-attempts = Reason: every attempt was used.
replace-reason-unknown = Reason: a purchase's answer was lost and could not be settled, so nothing more is bought.
replace-reason-refused = Reason: the provider refused the purchase.
replace-reason-error = Reason: it cannot go on (the key is gone, or the offer has no price).
replace-settings-button = 🔁 Auto-replace
replace-settings-text = <b>🔁 Auto-replace</b>
    When a number gets no code in time, the bot cancels it (the money comes back) and buys another of the same offer, at most at the same price.
    For new purchases: { $enabled } (the confirm screen can switch it for one purchase)
    Wait for a code: { $minutes } min
    Numbers at most: { $attempts }
    Spending cap: { $cap }
    Next cheapest country after "no numbers": { $next_country }
replace-settings-cap-none = the numbers × the price
replace-settings-turn-on = ✅ Turn on for new purchases
replace-settings-turn-off = ⏹ Turn off for new purchases
replace-settings-minutes = { $minutes } min
replace-settings-cap-price = × price
replace-settings-next-on = 🌍 Try the next cheapest country after "no numbers"
replace-settings-next-off = 🌍 Stay in the same country after "no numbers"
