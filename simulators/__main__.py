"""``python -m simulators``: the same CLI as ``controlcenter-sim``."""

import sys

from simulators.cli import main

sys.exit(main())
