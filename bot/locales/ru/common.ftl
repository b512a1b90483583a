app-name = Бот SMS-активаций

page-of = { $page }/{ $pages }
