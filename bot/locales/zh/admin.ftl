admin-stats =
    <b>📊 机器人状态</b>
    进行中的激活：{ $live_activations }
    进行中的租用：{ $live_rentals }
    正在核对的购买：{ $pending }
    自启动以来：已送达 { $codes } 个验证码和 { $rental_sms } 条租用短信，自动取消 { $auto_cancels } 次，服务商错误 { $errors } 次。
admin-chart-title = 所有用户：每日花费，最近 { $days } 天（UTC）
admin-chart-caption = 📈 所有用户最近 { $days } 天（UTC）每天的花费，按结果分类；各货币分开。
