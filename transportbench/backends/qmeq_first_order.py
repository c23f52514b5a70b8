"""The QmeQ backend's first-order approaches (Pauli, Lindblad, Redfield, 1vN): one solve of QmeQ's kernel.

Part of the ``qmeq`` backend (conventions in :mod:`transportbench.backends.qmeq`).
"""

from __future__ import annotations

import numpy as np

from transportbench.backends.qmeq_options import QmeqOptions, band_half_width
from transportbench.backends.qmeq_system import Outcome, build, dband, estimate, observe, require_success, uniqueness
from transportbench.model import Machine


def solve_first_order(machine: Machine, options: QmeqOptions) -> Outcome:
    """Solve a first-order approach; the residual is ‖K φ₀‖ in QmeQ's own kernel K.

    The residual leaves out the equation QmeQ replaces by the normalisation Tr ρ = 1 (it follows from the
    others when K preserves the trace). K acts on QmeQ's real representation of ρ (populations, and real
    and imaginary parts of ρ_bb' for b before b'); energy units.
    """
    kerntype = options.approach
    system = build(machine, kerntype, options.lamb_shift, dband(machine, kerntype), None)
    system.appr.make_kern_copy = True  # LAPACK then factorises a copy, and K survives the solve
    system.solve()
    require_success(system, f"the {kerntype} approach")
    equations = system.kern @ system.phi0
    equations[system.appr.funcp.norm_row] = 0.0
    unique, note = uniqueness(system)
    stats = {"kernel_size": int(system.kern.shape[0]),
             "memory_estimate_bytes": estimate(machine, kerntype, band_half_width(machine)).bytes}
    return Outcome(observe(system, machine), float(np.linalg.norm(equations)), True, unique,
                    () if note is None else (note,), stats)
