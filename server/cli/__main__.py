"""``python -m peaksql.server.cli``: the ``peaksql`` command."""

import sys

from peaksql.server.cli import main

sys.exit(main())
