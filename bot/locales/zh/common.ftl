app-name = 短信接码机器人

page-of = { $page }/{ $pages }
