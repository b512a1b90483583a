settings-text = <b>⚙️ Settings</b>
    Language: { $language }
    Auto-cancel: { $auto } (a number that got no code is cancelled { $margin } before it expires, so the money comes back)
    Time zone: { $timezone }
settings-on = on
settings-off = off
btn-language = 🌐 Language
btn-auto-on = ✅ Turn auto-cancel on
btn-auto-off = ⏹ Turn auto-cancel off
btn-margin = ⏱ Auto-cancel margin
btn-timezone = 🕒 Time zone
settings-choose-language = Choose the language:
settings-choose-margin = How long before a number expires should it be cancelled if no code came?
settings-choose-timezone = Choose your time zone (used for the end times of rentals):
settings-saved = Saved.
