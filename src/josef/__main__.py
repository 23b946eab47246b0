"""``python -m josef``: the same as the ``josef`` command."""

import sys

from josef.cli import main

if __name__ == "__main__":
    sys.exit(main())
