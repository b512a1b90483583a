app-name = 短信接码机器人

page-of = { $page }/{ $pages }

card-moved = ⤵️ 此卡片已移到下方。
