app-name = 短信接码机器人

page-of = { $page }/{ $pages }

card-moved = ⤵️ 此卡片已移到下方。

btn-share = 🔗 分享
share-text = 一键购买 { $what }：
