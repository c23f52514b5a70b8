"""The parameter vocabulary of a machine: names such as ``mu``, ``T_cold`` or ``epsilon_1`` and what they set.

The constructors' keywords (``U``, ``mu_hot``, ``T_hot``, ``gamma_cold``, ``epsilon``, ...), the sweep's
axes and the CLI's flags (``--U``, ``--mu-hot``, ``--T-hot``) use the same words. All values are in the
machine's energy unit (ħ = k_B = 1). This module holds the words;
:meth:`~transportbench.model.Machine.with_parameters` sets them.
"""

from __future__ import annotations

PARAMETERS: dict[str, str] = {
    "mu": "chemical potential of the reservoir 'hot' (alias of mu_hot)",
    "U": "Coulomb energy of every Coulomb pair",
    "g": "every flip-flop coupling",
    "epsilon": "every qubit energy",
    "gamma": "rate of every reservoir",
    "T": "temperature of every reservoir",
    "mu_<reservoir>": "chemical potential of one reservoir (also mu.<reservoir>)",
    "T_<reservoir>": "temperature of one reservoir (also T.<reservoir>)",
    "gamma_<reservoir>": "rate of one reservoir (also gamma.<reservoir>)",
    "epsilon_<qubit>": "energy of one qubit, 0-based index (also epsilon.<qubit>)",
    "dephasing_<qubit>": "pure-dephasing rate of one qubit (also dephasing.<qubit>)",
}
"""Parameter names (all in the machine's energy unit) with what each sets."""
TARGETED = ("mu", "T", "gamma", "epsilon", "dephasing")
"""Parameters that may name one reservoir or qubit: ``<parameter>_<target>`` or ``<parameter>.<target>``."""
RESERVOIR_FIELDS = {"mu": "chemical_potential", "T": "temperature", "gamma": "rate"}
"""The :class:`~transportbench.model.Reservoir` field each reservoir parameter sets."""


def split_parameter(name: str) -> tuple[str, str]:
    """The parameter and its target: ``"mu_hot"`` / ``"mu.hot"`` / ``"mu"`` → ("mu", "hot"); ``"U"`` → ("U", "").

    Parameters
    ----------
    name : str
        A name of :data:`PARAMETERS`, spelt with ``_`` or ``.`` before a target.

    Returns
    -------
    tuple of str
        The parameter (``"mu"``, ``"T"``, ``"U"``, ...) and the reservoir or qubit it names ("" for all).
    """
    if name == "mu":
        return "mu", "hot"
    for head in TARGETED:
        for separator in ("_", "."):
            if name.startswith(head + separator) and len(name) > len(head) + 1:
                return head, name[len(head) + 1:]
    return name, ""
