app-name = SMS activation bot

page-of = { $page }/{ $pages }
