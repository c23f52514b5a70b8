"""Time QmeQ's compiled 2vN kernels against its pure-Python ones on the paper's triple dot.

Baseline: QmeQ's own pure-Python 2vN (kerntype 'py2vN'), which QmeQ falls back to silently when its
Cython modules do not import. Both runs solve the same problem (the Fig. 3 working point, see
transportbench.demo) with the same energy grid and number of iterations, and must agree.

Usage::

    python benchmarks/qmeq_kernels.py [--kpnt 256] [--niter 10] [--repeat 3] [--min-ratio 30]

Exits with status 1 if the two kernels disagree or the speed-up is below ``--min-ratio``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np
from table_format import markdown_table

from transportbench.backends.qmeq import build_system
from transportbench.model import Band, Machine

AGREEMENT_RTOL = 1e-9
DBAND = 1000.0
"""Band half-width of the leads (energy units): far above every transition of the triple dot."""


def time_2vN(kerntype: str, kpnt: int, niter: int) -> tuple[float, np.ndarray]:
    """Solve the triple dot once; return the wall time of the solve and the currents."""
    system = build_system(Machine.triple_dot(band=Band.flat(DBAND)), approach=kerntype.removeprefix("py"), kpnt=kpnt,
                          python_kernels=kerntype.startswith("py"))
    with warnings.catch_warnings():
        # QmeQ's Fermi function overflows to exp(+inf) -> f = 0 far above μ, which is the right limit.
        warnings.filterwarnings("ignore", "overflow encountered in exp", RuntimeWarning)
        start = time.perf_counter()
        system.solve(niter=niter)
        elapsed = time.perf_counter() - start
    return elapsed, np.asarray(system.current)


def best_time(kerntype: str, kpnt: int, niter: int, repeat: int) -> tuple[float, np.ndarray]:
    """Return the fastest of ``repeat`` solves and the currents of the last one."""
    runs = [time_2vN(kerntype, kpnt, niter) for _ in range(repeat)]
    return min(elapsed for elapsed, _ in runs), runs[-1][1]


def parse_arguments() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kpnt", type=int, default=256, help="2vN energy grid points (default 256)")
    parser.add_argument("--niter", type=int, default=10, help="2vN iterations (default 10)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions of the compiled run; the best is reported (Python runs once)")
    parser.add_argument("--min-ratio", type=float, default=30.0, help="required speed-up (default 30)")
    return parser.parse_args()


def main() -> int:
    """Run both kernels, print the table, return the exit status."""
    arguments = parse_arguments()
    compiled_time, compiled_current = best_time("2vN", arguments.kpnt, arguments.niter, arguments.repeat)
    python_time, python_current = best_time("py2vN", arguments.kpnt, arguments.niter, 1)
    ratio = python_time / compiled_time
    deviation = np.max(np.abs(compiled_current - python_current)) / np.max(np.abs(python_current))

    print(f"QmeQ 2vN, paper's triple dot: kpnt={arguments.kpnt}, niter={arguments.niter}, dband={DBAND:g}")
    print(f"(Python {platform.python_version()}, NumPy {np.__version__}, {os.cpu_count()} cores; "
          f"compiled: best of {arguments.repeat}, Python: 1 run)")
    rows = [("kernels", "kerntype", "time [s]"),
            ("compiled (Cython, our build)", "2vN", f"{compiled_time:.2f}"),
            ("pure Python (QmeQ's fallback)", "py2vN", f"{python_time:.2f}"),
            ("ratio Python / compiled", "", f"{ratio:.0f}x")]
    print()
    print(markdown_table(rows, right_aligned=[-1]))
    print()
    print(f"currents agree to {deviation:.1e} (relative); required speed-up >= {arguments.min_ratio:g}x")

    if deviation > AGREEMENT_RTOL:
        print("FAIL: compiled and Python 2vN disagree", file=sys.stderr)
        return 1
    if ratio < arguments.min_ratio:
        print(f"FAIL: speed-up {ratio:.1f}x is below {arguments.min_ratio:g}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
