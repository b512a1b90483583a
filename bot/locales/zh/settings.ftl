settings-text = <b>⚙️ 设置</b>
    语言：{ $language }
    自动取消：{ $auto }（未收到验证码的号码会在到期前 { $margin } 自动取消，费用退回）
    时区：{ $timezone }
settings-on = 开启
settings-off = 关闭
btn-language = 🌐 语言
btn-auto-on = ✅ 开启自动取消
btn-auto-off = ⏹ 关闭自动取消
btn-margin = ⏱ 自动取消提前量
btn-timezone = 🕒 时区
settings-choose-language = 请选择语言：
settings-choose-margin = 如果未收到验证码，在号码到期前多久取消？
settings-choose-timezone = 请选择您的时区（用于显示租用的结束时间）：
settings-saved = 已保存。
