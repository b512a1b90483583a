app-name = SMS activation bot

page-of = { $page }/{ $pages }

card-moved = ⤵️ This card moved below.

btn-share = 🔗 Share
share-text = Buy { $what } in one tap:
