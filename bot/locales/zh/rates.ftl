rates-badge = {" "}· ✅ { $percent }%
rates-sort-best = 🎯 成功率优先
rates-sort-cheapest = 💲 价格优先
rates-sorted-best = 🎯 成功率优先：最近几天本机器人所有用户在此购买的号码中收到验证码的比例。
