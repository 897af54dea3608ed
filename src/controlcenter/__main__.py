"""``python -m controlcenter``: the same as the ``controlcenter`` command."""

import sys

from controlcenter.cli import main

sys.exit(main())
