keys-title = <b>🔑 API 密钥</b>
keys-empty = 您还没有 API 密钥。请添加服务商账户的 API 密钥以开始使用。
keys-hint = ✅ 表示当前使用的密钥：购买将通过它进行。点击密钥即可管理。
keys-line = { $marker } <b>{ $label }</b> · { $provider } · <code>{ $masked }</code> · { $balance }
key-card = <b>🔑 { $label }</b>
    服务商：{ $provider }
    密钥：<code>{ $masked }</code>
    余额：{ $balance }
    { $state }
key-state-active = ✅ 使用中：购买将通过此密钥进行。
key-state-inactive = 未使用。
btn-key-add = ➕ 添加密钥
btn-key-use = ✅ 设为当前密钥
btn-key-rename = ✏️ 重命名
btn-key-delete = 🗑 删除
btn-key-delete-yes = 🗑 确认删除
btn-key-delete-no = « 不，保留
btn-keys-back = « API 密钥
btn-custom-url = 🌐 其他服务商（URL）
btn-keep-label = ✔️ 保留此名称：“{ $label }”
keys-choose-provider = 请选择服务商。任何支持 sms-activate 协议的服务商都可以：选择“其他服务商”并发送其地址。
keys-send-url = 请发送服务商的 API 地址，例如 <code>https://provider.example/stubs/handler_api.php</code>
keys-bad-url = 这看起来不是网址。请发送类似 <code>https://provider.example/stubs/handler_api.php</code> 的地址
keys-internal-url = 该地址位于服务器内部网络，不能用作服务商。请发送服务商的公网地址。
keys-send-key = 请以消息形式发送您的 <b>{ $provider }</b> API 密钥。可在服务商网站的账户中找到。
    我会立即删除您的消息，密钥将加密保存。
keys-bad-format = 这看起来不是 API 密钥（应为由字母和数字组成的一串字符）。请重新发送。
keys-try-again = 请重新发送密钥，或点击“取消”。
keys-delete-yourself = ⚠️ 无法删除您包含密钥的消息：请手动删除。
keys-added = ✅ 密钥已添加并启用：<b>{ $label }</b>，余额 { $balance }。
    请发送一个名称，或保留当前名称。
keys-bad-label = 请发送一个简短的名称（最多 32 个字符）。
keys-label-saved = 已保存为 <b>{ $label }</b>。
keys-rename-prompt = 请发送 <b>{ $label }</b> 的新名称。
keys-delete-confirm = 删除密钥 <b>{ $label }</b>？用它购买的号码在结束前仍会被跟踪。
keys-deleted = 密钥 { $label } 已删除。
keys-now-active = { $label } 现已启用。
keys-unasked-deleted = 🔒 这条消息看起来像 API 密钥，所以我已将它从聊天中删除。要添加密钥：🔑 API 密钥 → ➕ 添加密钥。
keys-rejected = 服务商拒绝了此 API 密钥。请在服务商账户中核对后重新发送，或点击“取消”。
keys-send-url-again = 请重新发送服务商的 API 地址，或点击“取消”。
btn-key-continue = ➡️ 继续购买
