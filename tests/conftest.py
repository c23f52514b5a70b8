"""Hypothesis profiles: the same examples on every run in ``make test`` (CI), many random ones in ``make properties``.

``HYPOTHESIS_PROFILE=ci`` (the default) derandomises the property tests and keeps no example database, so a
run never replays a failure drawn by an earlier run and CI cannot fail at random. ``HYPOTHESIS_PROFILE=thorough``
(``make properties``) draws fresh random examples, ``property_examples.THOROUGH_FACTOR`` times as many,
and stores failures in ``.hypothesis/``.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("thorough", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
