"""Deprecated alias of :mod:`transportbench.backends.local`, kept for one release.

The paper's local equation was the backend ``"lindblad"``; it is ``"local"`` now, so that it cannot be confused
with QmeQ's Lindblad approach (``"qmeq:Lindblad"``).
"""

import warnings

from transportbench.backends.local import *  # noqa: F403  (the whole public interface, under the old name)

warnings.warn("transportbench.backends.lindblad is deprecated; import transportbench.backends.local",
              DeprecationWarning, stacklevel=2)
