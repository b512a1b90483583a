balance-text = <b>💰 Balance: { $balance }</b>
    Key: { $label } ({ $provider })
balance-stale = <b>💰 Last known balance: { $balance }</b>
    Key: { $label } ({ $provider })
balance-updated = Balance updated.
btn-balance-refresh = 🔄 Refresh
