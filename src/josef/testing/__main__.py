"""``python -m josef.testing``: run the mock cluster until Ctrl-C (see :mod:`josef.testing.serve`)."""

import sys

from josef.testing.serve import main

sys.exit(main())
