"""``python -m transportbench``: the command line (:mod:`transportbench.cli`)."""

import sys

from transportbench.cli import main

sys.exit(main())
