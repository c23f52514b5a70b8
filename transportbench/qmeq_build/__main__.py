"""``python -m transportbench.qmeq_build``: build QmeQ 1.1 with compiled kernels and install it."""

import sys

from transportbench.qmeq_build.cli import main

sys.exit(main())
