"""QmeQ 1.1's own test suite (installed as qmeq.tests) passes against our build.

It runs in a separate pytest process with its own minimal configuration, so our pytest settings do
not apply to it. The only exceptions are two round-off cases, marked as strict expected failures by
qmeq_suite_plugin.py with their measured deviation; their size is checked here directly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.qmeq

TESTS_DIR = Path(__file__).resolve().parent
#: Outcome counts of QmeQ 1.1's suite against our build.
EXPECTED_OUTCOMES = {"passed": 75, "xfailed": 2}


def run_qmeq_suite(workdir: Path) -> subprocess.CompletedProcess:
    """Run ``pytest --pyargs qmeq.tests`` in a fresh process, isolated from our pytest configuration."""
    ini = workdir / "pytest.ini"
    ini.write_text("[pytest]\n")
    python_path = [str(TESTS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(python_path)}
    command = [sys.executable, "-m", "pytest", "--pyargs", "qmeq.tests", "-c", str(ini),
               "--rootdir", str(workdir), "-p", "no:cacheprovider", "-p", "qmeq_suite_plugin",
               "-q", "-rfEXx", "--no-header"]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def outcome_counts(summary: str) -> dict[str, int]:
    """Parse pytest's closing line, e.g. '75 passed, 2 xfailed in 3.1s'."""
    last_line = summary.strip().splitlines()[-1]
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", last_line)}


def test_qmeq_own_suite_passes(tmp_path):
    """All of QmeQ's tests pass, except the two strict round-off xfails."""
    completed = run_qmeq_suite(tmp_path)
    report = completed.stdout + completed.stderr
    assert completed.returncode == 0, report
    assert outcome_counts(completed.stdout) == EXPECTED_OUTCOMES, report


@pytest.mark.parametrize(("name", "stored"),
                         [("diff_phi", 42.54546520657971), ("diff2_phi", -423.8096493945452)])
def test_round_off_cases_stay_at_round_off(name, stored):
    """The two expected failures differ from QmeQ's stored values by round-off only (<= 4 ulp)."""
    from qmeq.specfunc import c_specfunc, specfunc

    compiled = getattr(c_specfunc, f"c_{name}")(-0.1, 1000)
    python = getattr(specfunc, name)(-0.1, 1000)
    assert abs(compiled - stored) <= 4 * np.spacing(abs(stored))
    assert abs(python - stored) <= 4 * np.spacing(abs(stored))
