"""Property tests: random valid machines give valid density matrices with the local Lindblad backend."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_examples import examples

from transportbench.backends import local
from transportbench.model import Machine, Reservoir


@st.composite
def machines(draw):
    n = draw(st.integers(1, 4))
    energy = st.floats(-2.0, 5.0)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    couplings = {p: draw(st.floats(-0.3, 0.3)) for p in pairs if draw(st.booleans())}
    coulomb = {p: draw(st.floats(0.0, 20.0)) for p in pairs if draw(st.booleans())}
    # every qubit on a reservoir (the ideal limit is left out: with two filled reservoirs on Coulomb partners it
    # has absorbing states, see test_lindblad's degeneracy test); a cold reservoir far from its level can still
    # make the steady state numerically degenerate (rates ~e^-32 of the others), which the backend must declare
    reservoirs = tuple(Reservoir(f"r{q}", q, draw(st.floats(0.01, 1.0)), draw(st.floats(-10.0, 20.0)),
                                 draw(st.floats(0.05, 10.0))) for q in range(n))
    return Machine(energies=tuple(draw(energy) for _ in range(n)), couplings=couplings, coulomb=coulomb,
                   reservoirs=reservoirs, dephasing=tuple(draw(st.floats(0.0, 0.2)) for _ in range(n)),
                   statistics=draw(st.sampled_from(["qubit", "fermion"])))


@pytest.mark.property
@pytest.mark.filterwarnings("ignore::transportbench.result.DegenerateSteadyStateWarning")
@settings(max_examples=examples(60))
@given(machine=machines())
def test_random_machines_give_valid_steady_states(machine):
    result = local.solve_steady(machine, basis="full")
    if result.health.unique is False:  # declared, never silent
        assert "not unique" in result.health.status()
        return
    assert result.health.is_physical(1e-9), result.health
    assert result.health.residual < 1e-10
    assert abs(sum(result.particle_currents.values())) < 1e-10  # particles are conserved


@pytest.mark.property
@settings(max_examples=examples(15))
@given(machine=machines())
def test_random_dynamics_stays_physical(machine):
    evolution = local.evolve(machine, np.linspace(0.0, 20.0, 5), basis="full")
    for rho in evolution.states:
        assert abs(np.trace(rho) - 1) < 1e-10
        assert np.linalg.eigvalsh((rho + rho.conj().T) / 2).min() > -1e-10
