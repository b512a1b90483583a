# 跟踪器主动发送的消息（验证码、租用短信、提醒、结束通知）。
tracker-code = 🔑 { $service } 的验证码（{ $phone }）：<code>{ $code }</code>
tracker-code-next = 🔑 { $service } 的新验证码（{ $phone }）：<code>{ $code }</code>
tracker-code-sms = 💬 { $text }
tracker-cancelled-refunded = ↩️ 号码 { $phone }（{ $service }）没有收到验证码，已取消，{ $amount } 已退回余额。
tracker-expired-refunded = ⌛ 号码 { $phone }（{ $service }）已过期且未收到验证码，{ $amount } 已退回余额。
tracker-finished = ✅ 号码 { $phone }（{ $service }）已完成。
tracker-cancelled = ✖️ 号码 { $phone }（{ $service }）已取消。
tracker-adopted = ℹ️ 您的服务商账户中有一个机器人尚未显示的号码：{ $phone }（{ $service }，{ $country }）。现已开始跟踪，验证码会发到这里。
tracker-rental-sms =
    📨 发往 { $phone } 的短信，来自 { $sender }：
    { $text }
tracker-rental-reminder = ⏰ 号码 { $phone }（{ $service }）的租用将在 { $left } 后结束。
tracker-rental-ended = 🏁 号码 { $phone }（{ $service }）的租用已结束。
tracker-pending = ⚠️ 无法确认 { $service } 号码（{ $country }）的购买，服务商账户中也没有该号码。很可能没有购买成功，请检查余额。
tracker-pending-rental = ⚠️ 无法确认 { $service } 号码（{ $country }）的租用。请先检查服务商账户和余额再重试。
tracker-card = 📱 { $phone } · { $service } · { $country }
tracker-card-status = 状态：{ $status }
tracker-status-waiting = 等待验证码
tracker-status-retry = 等待下一个验证码
tracker-status-received = 已收到验证码
tracker-status-finished = 已完成
tracker-status-cancelled = 已取消
tracker-status-expired = 已过期
tracker-status-active = 租用中
tracker-key-revoked = 🔑 服务商已不再接受 API 密钥「{ $label }」：它可能已在服务商网站上被更换或吊销。在它恢复之前，我无法查询用它购买的号码，这些号码的验证码也无法发送到这里。我会每隔几分钟重试一次该密钥，一旦可用便自动继续；如果你在 🔑 API 密钥 中重新输入它，我会立即继续。
