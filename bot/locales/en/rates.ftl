rates-badge = {" "}· ✅ { $percent }%
rates-sort-best = 🎯 Best chance first
rates-sort-cheapest = 💲 Cheapest first
rates-sorted-best = 🎯 Best chance first: the share of numbers bought here lately (last days, all users of this bot) that got a code.
