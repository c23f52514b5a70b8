"""How many examples a property test draws: its CI count, times ``THOROUGH_FACTOR`` in ``make properties``."""

import os

THOROUGH_FACTOR = 20
"""Examples per CI example under ``HYPOTHESIS_PROFILE=thorough``."""


def examples(ci_count: int) -> int:
    """``ci_count`` in CI (the default profile), ``THOROUGH_FACTOR`` × it under the thorough profile."""
    return ci_count * (THOROUGH_FACTOR if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 1)
