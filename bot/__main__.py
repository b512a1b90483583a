import sys

from bot import migrate_db
from bot.main import main

if __name__ == "__main__":
    if sys.argv[1:2] == [migrate_db.COMMAND]:
        raise SystemExit(migrate_db.main(sys.argv[2:]))
    main()
