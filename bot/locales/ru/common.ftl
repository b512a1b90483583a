app-name = Бот SMS-активаций

page-of = { $page }/{ $pages }

card-moved = ⤵️ Карточка перенесена ниже.
