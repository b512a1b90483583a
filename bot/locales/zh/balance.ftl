balance-text = <b>💰 余额：{ $balance }</b>
    密钥：{ $label }（{ $provider }）
balance-stale = <b>💰 最近一次已知余额：{ $balance }</b>
    密钥：{ $label }（{ $provider }）
balance-updated = 余额已更新。
btn-balance-refresh = 🔄 刷新
