keys-title = <b>🔑 API keys</b>
keys-empty = You have no API keys yet. Add the API key of your provider account to start.
keys-hint = ✅ marks the active key: purchases use it. Tap a key to manage it.
keys-line = { $marker } <b>{ $label }</b> · { $provider } · <code>{ $masked }</code> · { $balance }
key-card = <b>🔑 { $label }</b>
    Provider: { $provider }
    Key: <code>{ $masked }</code>
    Balance: { $balance }
    { $state }
key-state-active = ✅ Active: purchases use this key.
key-state-inactive = Not active.
btn-key-add = ➕ Add a key
btn-key-use = ✅ Make active
btn-key-rename = ✏️ Rename
btn-key-delete = 🗑 Delete
btn-key-delete-yes = 🗑 Yes, delete
btn-key-delete-no = « No, keep it
btn-keys-back = « API keys
btn-custom-url = 🌐 Other provider (URL)
btn-keep-label = ✔️ Keep this name: “{ $label }”
keys-choose-provider = Choose your provider. Any provider speaking the sms-activate protocol works: pick "Other provider" and send its address.
keys-send-url = Send the provider's API address, for example <code>https://provider.example/stubs/handler_api.php</code>
keys-bad-url = That does not look like a web address. Send something like <code>https://provider.example/stubs/handler_api.php</code>
keys-internal-url = That address is inside this server's own network, so it cannot be used as a provider. Send the provider's public address.
keys-send-key = Send your <b>{ $provider }</b> API key as a message. You find it in your account on the provider's website.
    I will delete your message right away, and the key is stored encrypted.
keys-bad-format = That does not look like an API key (one word of letters and digits). Send the key again.
keys-try-again = Send the key again, or tap Cancel.
keys-delete-yourself = ⚠️ I could not delete your message with the key: please delete it yourself.
keys-added = ✅ Key added and active: <b>{ $label }</b>, balance { $balance }.
    Send a name for it, or keep this one.
keys-bad-label = Send a short name (up to 32 characters).
keys-label-saved = Saved as <b>{ $label }</b>.
keys-rename-prompt = Send a new name for <b>{ $label }</b>.
keys-delete-confirm = Delete the key <b>{ $label }</b>? Numbers bought with it are still tracked until they end.
keys-deleted = Key { $label } deleted.
keys-now-active = { $label } is now active.
keys-unasked-deleted = 🔒 That message looked like an API key, so I deleted it from the chat. To add a key: 🔑 API keys → ➕ Add a key.
keys-rejected = The provider rejected this API key. Check it in your provider account and send it again, or tap Cancel.
keys-send-url-again = Send the provider's API address again, or tap Cancel.
btn-key-continue = ➡️ Go on to the purchase
