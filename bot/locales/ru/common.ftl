app-name = Бот SMS-активаций

page-of = { $page }/{ $pages }

card-moved = ⤵️ Карточка перенесена ниже.

btn-share = 🔗 Поделиться
share-text = Купить { $what } в одно касание:
