"""Hypothesis profiles.

Locally every run draws fresh examples (Hypothesis' default), which is how property tests find new bugs.
CI (``.ci/run`` sets ``HYPOTHESIS_PROFILE=ci``) derandomizes: each test draws the same examples on every
run of a given Hypothesis version, so a gate never fails on an example nobody has seen locally, and a
failure it does report reproduces with the same command.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
