"""transportbench: one quantum-dot thermal machine, several master equations, side by side.

Units and conventions (used everywhere in the package)
------------------------------------------------------
* ħ = k_B = 1. Energies (ε, g, U, μ, T, γ) share one unit of the user's choice (the paper uses
  ε = 1 GHz); times are in its inverse.
* Qubits are indexed from 0 (qubit 0 is the paper's qubit 1). Basis: computational states |n_0 n_1 … n_{N−1}⟩
  with n_i ∈ {0, 1}; qubit 0 is the most significant bit, so the index of a basis state is Σ_i n_i 2^(N−1−i).
* Currents are positive when they flow from a reservoir into the system.
* A result's reduced states follow the model it solved (``Result.model``): the plain partial trace for spins,
  the fermionic partial trace for fermionic dots (independent of the Jordan–Wigner order).

Top-level names
---------------
``from transportbench import Machine, compare, sweep`` gives the classes ``Band``, ``Machine``, ``Reservoir``
(:mod:`transportbench.model`), ``Result`` (:mod:`transportbench.result`), the functions ``compare``
(:func:`transportbench.comparison.compare`), ``sweep`` (:func:`transportbench.sweeps.sweep`) and
``validate_regime`` (:func:`transportbench.regime.validate_regime`). Each is imported from its module on first
use (a module-level ``__getattr__``), so ``import transportbench`` itself loads neither NumPy nor any backend.
"""

__version__ = "0.1.0"


class TransportbenchWarning(UserWarning):
    """Base class of every warning this package emits (e.g. an unconverged 2vN grid)."""


_LAZY = {
    "Band": "transportbench.model",
    "Machine": "transportbench.model",
    "Reservoir": "transportbench.model",
    "Result": "transportbench.result",
    "compare": "transportbench.comparison",
    "sweep": "transportbench.sweeps",
    "validate_regime": "transportbench.regime",
}
"""Public names of the package and the module that defines each (imported on first use)."""


def __getattr__(name: str) -> object:
    """Import the public names on first use, so ``import transportbench`` stays light.

    ``import transportbench`` loads none of NumPy, xarray, the backends' registry or the solvers; the names in
    ``__all__`` (``Machine``, ``compare``, ``sweep``, …) are looked up in their modules when first asked for,
    e.g. by ``from transportbench import compare, sweep``. ``compare`` is
    :func:`transportbench.comparison.compare`, ``sweep`` is :func:`transportbench.sweeps.sweep`; their modules
    have other names, so the functions never hide a module.
    """
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'transportbench' has no attribute {name!r}")


__all__ = ["TransportbenchWarning", "__version__", *_LAZY]
