settings-text = <b>⚙️ Настройки</b>
    Язык: { $language }
    Автоотмена: { $auto } (номер без кода отменяется за { $margin } до истечения, и деньги возвращаются)
    Часовой пояс: { $timezone }
settings-on = вкл.
settings-off = выкл.
btn-language = 🌐 Язык
btn-auto-on = ✅ Включить автоотмену
btn-auto-off = ⏹ Выключить автоотмену
btn-margin = ⏱ Запас автоотмены
btn-timezone = 🕒 Часовой пояс
settings-choose-language = Выберите язык:
settings-choose-margin = За сколько до истечения отменять номер, если код не пришёл?
settings-choose-timezone = Выберите часовой пояс (для времени окончания аренды):
settings-saved = Сохранено.
