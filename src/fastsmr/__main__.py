"""``python -m fastsmr``: the same as the ``fastsmr`` command."""

import sys

from .cli import main

sys.exit(main())
