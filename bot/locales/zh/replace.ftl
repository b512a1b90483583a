replace-toggle-on = 🔁 自动更换：开启（点按关闭）
replace-toggle-off = 🔁 自动更换：关闭（点按开启）
replace-terms = 🔁 自动更换：{ $minutes } 分钟内未收到验证码 → 取消并再买一个，最多 { $attempts } 个号码
replace-terms-cap = 🔁 自动更换：{ $minutes } 分钟内未收到验证码 → 取消并再买一个，最多 { $attempts } 个号码，总计最多 { $cap }
replace-card-attempt = 🔁 自动更换：第 { $attempt } 次，共 { $attempts } 次
replace-card-next-at = 若到 { $at } 仍无验证码，此号码将被取消并另购一个。
replace-btn-stop = ⏹ 停止自动更换
replace-stop-stale = 此号码的自动更换已不再运行。
replace-stopped-tap = 自动更换已停止：此号码保留。
replace-stopped = 🔁 { $service } { $flag } { $country } 的自动更换在 { $attempts } 次尝试后停止（已扣费 { $spent }，取消的号码会退款）。
replace-reason-no-balance = 原因：余额不足以购买下一个号码。
replace-reason-banned = 原因：服务商暂时封禁了此账户。
replace-reason-channels-limit = 原因：账户同时拥有的号码过多。
replace-reason-no-numbers = 原因：此报价已无号码。
replace-reason-wrong-max-price = 原因：价格超过了上限。
replace-reason-cap = 原因：已达到花费上限。
replace-reason-attempts = 原因：所有尝试均已用完。
replace-reason-unknown = 原因：一次购买的回应丢失且无法确认，因此不再购买。
replace-reason-refused = 原因：服务商拒绝了购买。
replace-reason-error = 原因：无法继续（密钥已删除，或报价没有价格）。
replace-settings-button = 🔁 自动更换
replace-settings-text = <b>🔁 自动更换</b>
    号码未按时收到验证码时，机器人会取消它（费用退回），并以不高于原价的价格购买同一报价的另一个号码。
    新购买：{ $enabled }（可在确认页面为单次购买切换）
    等待验证码：{ $minutes } 分钟
    最多号码数：{ $attempts }
    花费上限：{ $cap }
    无号码时尝试下一个最便宜的国家：{ $next_country }
replace-settings-cap-none = 号码数 × 价格
replace-settings-turn-on = ✅ 为新购买开启
replace-settings-turn-off = ⏹ 为新购买关闭
replace-settings-minutes = { $minutes } 分钟
replace-settings-cap-price = × 价格
replace-settings-next-on = 🌍 无号码时尝试下一个最便宜的国家
replace-settings-next-off = 🌍 无号码时留在同一国家
