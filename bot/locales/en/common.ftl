app-name = SMS activation bot
