help-title = <b>❓ How this bot works</b>
help-how = 1. Add the API key of your provider account (🔑 API keys). GrizzlySMS is the default; any provider speaking the same protocol works.
    2. 📱 Buy number: pick a service and a country, confirm the price. You get a phone number at once.
    3. Enter the number where the service asks for it. The SMS code arrives here by itself; no need to refresh.
    4. Tap Done when you are finished. If no code comes, cancel the number and the money returns to your balance (auto-cancel does it for you).
    🏠 Rent number keeps a number for hours or days, for services that send codes again later.
help-key = <b>How to get an API key</b>
    Sign in on your provider's website (for GrizzlySMS: grizzlysms.com), open your profile or the API section, and copy the API key. Top up your balance there: the bot spends your provider balance, never its own.
help-money = <b>Your money and your key</b>
    One tap buys one number, never two. Your key is stored encrypted, its message is deleted from the chat, and the bot never shows it again.
