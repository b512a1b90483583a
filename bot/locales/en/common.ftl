app-name = SMS activation bot

page-of = { $page }/{ $pages }

card-moved = ⤵️ This card moved below.
