# 租用号码：租用流程和租用卡片。

rent-choose-service = 🏠 <b>租用号码</b>（按小时或天），可接收多条短信。
    请选择服务（第 { $page } / { $pages } 页）：
rent-no-services = 目前没有可租用的号码。请稍后再试。
rent-choose-country = 🏠 <b>{ $service }</b>
    请选择国家（4 小时价格，可用号码数）：
rent-no-countries = 目前没有国家可为 { $service } 提供租用号码。请换一个服务。
rent-choose-duration = 🏠 <b>{ $service }</b>，{ $country }
    租用多长时间？价格为整个时长的总价。
rent-no-durations = 该国家目前没有此服务的租用号码。请选择其他国家。
rent-price-unknown = 服务商没有给出此时长的价格。请选择其他时长。
rent-country-option = { $country } · { $price } · { $count } 个
rent-option = { $duration } — { $price }
rent-dur-hours = { $n } 小时
rent-dur-days = { $n } 天
rent-confirm = <b>确认租用</b>
    服务：{ $service }
    国家：{ $country }
    时长：{ $duration }
    价格：<b>{ $price }</b>
    余额：{ $balance }
rent-low-balance = ⚠️ 余额低于价格。请先在服务商处充值。
rent-btn-confirm = ✅ 以 { $price } 租用
rent-done = ✅ 号码已租用，卡片见下方。
rent-pending = ⏳ 服务商没有说明号码是否已租用。我们正在核实，结果会在这里告诉您。在此之前请不要重复租用。

rent-card-title = 🏠 <b>已租用号码</b>
rent-card-service = 服务：{ $service }
rent-card-price = 租金:{ $price }
rent-card-country = 国家：{ $country }
rent-card-ended-at = 已结束：{ $at }
rent-card-status = 状态：{ $status }
rent-card-no-sms = 💬 还没有短信。短信到达后会自动显示在这里。
rent-card-no-sms-ended = 💬 此号码没有收到短信。
rent-card-latest = 💬 最新短信，来自 { $sender }，{ $date }：
rent-status-active = 🟢 使用中
rent-status-finished = ⚪ 已结束
rent-status-cancelled = ↩️ 已取消，费用已退回
rent-status-expired = ⌛ 已到期

rent-btn-sms = 💬 短信
rent-btn-extend = ⏳ 续租
rent-btn-history = 📜 历史
rent-btn-refresh = 🔄 刷新
rent-btn-finish = 🏁 结束
rent-btn-cancel = ✖️ 取消
rent-btn-card = « 返回号码
rent-refreshed = 已更新。

rent-sms-title = 💬 <b>发送到 { $phone } 的短信</b>（第 { $page } / { $pages } 页）
rent-sms-empty = 还没有短信。新短信也会自动发到此聊天。
rent-sms-item = 🕒 { $date } · { $sender }

rent-extend-choose = ⏳ { $phone } 续租多长时间？
rent-extend-none = 服务商目前不提供此号码的续租。请稍后再试。
rent-extend-confirm = ⏳ <b>续租 { $phone }</b>
    时长：{ $duration }
    价格：<b>{ $price }</b>
    余额：{ $balance }
rent-btn-extend-confirm = ✅ 以 { $price } 续租
rent-extended = ✅ 已续租。新的结束时间：{ $at }。

rent-finish-confirm = 🏁 现在结束 { $phone } 的租用吗？号码将不再接收短信，剩余时间不退款。
rent-btn-finish-yes = 🏁 是，结束
rent-btn-finish-no = « 不，保留
rent-finished = 租用已结束。
rent-cancelled = 租用已取消，费用已退回余额。
rent-cancel-reason-window = 已无法取消：租用已超过 20 分钟。请改用“结束”。
rent-cancel-reason-sms = 已无法取消：已经收到短信。请改用“结束”。
rent-stale = 此按钮已过期：未租用任何号码。请重新打开租用菜单。
rent-pending-unlisted = ⏳ 服务商没有说明号码是否已租用，而且它不提供可供查找的租用列表。我正在关注您的余额，结果会在这里告诉您。在此之前请不要再次租用。
rent-extend-pending = ⏳ 服务商没有说明租用是否已延长。我正在核实，结果会在这里告诉您。在此之前请不要再次延长。
rent-card-paid = 共支付：{ $total }

rent-periods-title = 📜 <b>{ $phone } 的历史</b>：首次租用及每次续租（第 { $page } / { $pages } 页）
rent-periods-empty = 服务商暂未列出此号码的租用时段。
rent-period-item = 🕒 { $date } · { $duration } · { $price }

rent-renting = ⏳ 正在租用号码… 需要几秒钟；号码卡片将显示在下方。
rent-still-renting = ⏳ 仍在租用中… 号码卡片将显示在下方。
rent-already-done = 此次租用已完成：号码卡片就在聊天中。
rent-extending = ⏳ 正在续租…
rent-still-extending = ⏳ 仍在续租中…
rent-extend-done = 此次续租已完成。
rent-card-ends-at = 结束时间：{ $at }
rent-card-cancel-until = ↩️ 在 { $at } 之前可取消并退款（尚未收到短信时）。
rent-cancel-confirm = ✖️ 取消 { $phone } 的租用？费用将退回余额，号码将不再接收短信。
rent-btn-cancel-yes = ✖️ 是，取消
rent-extend-until = 续租后结束时间：{ $at }
rent-reminder = ⏰ 号码 { $phone }（{ $service }）的租用将于 { $at } 结束。
rent-btn-my-numbers = « 我的号码
rent-btn-rental-history = « 租用历史
rent-sms-code = 🔑 验证码：<code>{ $code }</code>
rent-repeat-failed = 此次租用未成功，未扣除任何费用。请打开租用菜单重试。
rent-repeat-unconfirmed = 无法确认此次租用的结果。再次租用前请先检查您的服务商账户。
rent-extend-repeat-failed = 此次续租未成功，未扣除任何费用。
rent-extend-repeat-unconfirmed = 无法确认此次续租的结果。再次续租前请先检查您的服务商账户。
