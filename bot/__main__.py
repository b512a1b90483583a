import sys

from bot.telegram_models import import_aiogram

import_aiogram()  # before anything imports aiogram: its models built on first use

from bot import migrate_db  # noqa: E402
from bot.main import main  # noqa: E402

if __name__ == "__main__":
    if sys.argv[1:2] == [migrate_db.COMMAND]:
        raise SystemExit(migrate_db.main(sys.argv[2:]))
    main()
