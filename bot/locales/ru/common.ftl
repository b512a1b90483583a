app-name = Бот SMS-активаций
