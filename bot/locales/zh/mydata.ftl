cmd-mydata = 机器人保存的您的数据；删除它们
mydata-summary = <b>🗂 您的数据</b>
    本机器人保存的关于您的数据：
    🔑 API 密钥：{ $keys } 个（已加密）
    📱 一次性号码：{ $activations } 个（验证码：{ $codes } 条）
    🏠 租用：{ $rentals } 个（短信：{ $sms } 条）
    ⏳ 当前进行中：{ $live } 个
    ⭐ 收藏：{ $favourites } 个 · 最近选择：{ $recents } 个
    ⚙️ 设置（语言、时区、自动取消）：{ $settings }

    您可以删除全部数据。进行中的号码会先被结束。
mydata-yes = 已保存
mydata-no = 无
mydata-btn-delete = 🗑 删除我的数据
mydata-confirm = <b>🗑 删除全部？</b>
    您的 API 密钥、号码历史（含验证码和短信）、收藏和设置将被永久删除，无法恢复。
mydata-confirm-live = ⚠️ 您有 { $live } 个进行中的号码：每个都会先被结束，没有验证码的取消（退款），否则完成。
mydata-btn-confirm = 🗑 是的，全部删除
mydata-hold-locked = • <code>{ $phone }</code>：服务商 { $left } 后才允许取消，已安排取消。请到时再试。
mydata-hold-checking = • <code>{ $phone }</code>：服务商的回复丢失，正在核实。请一分钟后再试。
mydata-hold-provider = • <code>{ $phone }</code>：服务商现在无法结束它。请稍后再试。
mydata-hold-purchase = • 一笔购买仍在与服务商核实中。请几分钟后再试。
mydata-erased = ✅ 您的数据已删除。已结束的进行中号码：{ $ended } 个。发送 /start 可再次使用本机器人。
mydata-not-erased = <b>尚未删除任何数据</b>：有些号码现在无法结束。
mydata-ended-some = 已结束的号码：{ $ended } 个。
