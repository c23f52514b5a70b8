"""The QmeQ backend against exact results and the local Lindblad backend.

Covered: conventions (Γ, current signs, dot order, fermion signs, basis), exact agreement with the local
Lindblad backend where it must hold, the approach to it at weak coupling, and 2vN at the Fig. 3 point.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import warnings

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import expit

from transportbench.backends import get_backend, local, qmeq_options, qmeq_system
from transportbench.backends import qmeq as qmeq_backend
from transportbench.backends.local_model import build_local_model
from transportbench.convergence import ConvergenceWarning
from transportbench.model import Band, Machine, Reservoir
from transportbench.observables import concurrence, dark_state
from transportbench.occupation import full_basis
from transportbench.result import SolveFailure

pytestmark = pytest.mark.qmeq

FIRST_ORDER = ("Pauli", "Lindblad", "Redfield", "1vN")


def c01(result) -> float:
    return concurrence(result.reduced_state([0, 1]))


def trace_distance(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(np.linalg.eigvalsh(a - b)).sum())


def local_fermion(machine: Machine):
    """The local Lindblad result for the fermion model QmeQ solves, on the full basis like QmeQ's."""
    return local.solve_steady(machine.replace(statistics="fermion"), basis="full")


def single_level(epsilon=1.0, left=(0.1, 2.0, 0.5), right=(0.05, -1.0, 0.5)) -> Machine:
    """One level between two leads; ``left``/``right`` are (γ, μ, T)."""
    return Machine(energies=(epsilon,), reservoirs=(Reservoir("left", 0, *left), Reservoir("right", 0, *right)))


def fermi(energy, mu, temperature):
    return expit((mu - energy) / temperature)


# ---------------------------------------------------------------------- Γ and the sign of currents
@pytest.mark.parametrize("approach", FIRST_ORDER)
@pytest.mark.parametrize(("left", "right"), [((0.1, 2.0, 0.5), (0.05, -1.0, 0.5)),
                                             ((0.02, -0.5, 0.3), (0.2, 3.0, 1.5))])
def test_single_level_sequential_current(approach, left, right):
    """I = Γ_L Γ_R / (Γ_L + Γ_R) (f_L − f_R) with Γ = γ (t = √(γ/2π)); into the dot is positive.

    A single level has no coherences, so every first-order approach is the Pauli equation here.
    """
    epsilon = 1.0
    result = qmeq_backend.solve_steady(single_level(epsilon, left, right), approach=approach)
    (gamma_l, mu_l, t_l), (gamma_r, mu_r, t_r) = left, right
    expected = gamma_l * gamma_r / (gamma_l + gamma_r) * (fermi(epsilon, mu_l, t_l) - fermi(epsilon, mu_r, t_r))
    assert result.particle_currents["left"] == pytest.approx(expected, rel=1e-12, abs=1e-17)
    assert result.particle_currents["right"] == pytest.approx(-expected, rel=1e-12, abs=1e-17)
    assert result.energy_currents["left"] == pytest.approx(epsilon * expected, rel=1e-12, abs=1e-17)
    assert np.sign(result.particle_currents["left"]) == np.sign(mu_l - mu_r)  # from the higher μ, into the dot


def test_2vN_is_exact_for_a_noninteracting_level():
    """2vN against the Landauer formula on the same flat band [−D, D] (with the band's real self-energy).

    T(E) = Γ_L Γ_R / ((E − ε − Re Σ)² + (Γ/2)²), Re Σ = (Γ/2π) ln|(E + D)/(E − D)|; measured agreement
    5e-7 (particle) and 6e-6 (energy current) relative at rho_tol=current_rtol=1e-4 (the default wide band is
    represented by the flat band of half-width default_bandwidth, stated in stats).
    """
    epsilon, (gamma_l, mu_l, temperature), (gamma_r, mu_r, _) = 1.0, (0.1, 2.0, 0.5), (0.05, -1.0, 0.5)
    result = qmeq_backend.solve_steady(single_level(), rho_tol=1e-4, current_rtol=1e-4, check_bandwidth=False)
    assert result.health.converged and result.options.rho_tol == 1e-4
    band, gamma = result.stats["band_half_width"], gamma_l + gamma_r
    assert band == qmeq_backend.default_bandwidth(single_level())

    def landauer(energy, power):
        shift = gamma / (2 * np.pi) * np.log(abs((energy + band) / (energy - band)))
        transmission = gamma_l * gamma_r / ((energy - epsilon - shift) ** 2 + (gamma / 2) ** 2)
        window = fermi(energy, mu_l, temperature) - fermi(energy, mu_r, temperature)
        return energy**power * transmission * window / (2 * np.pi)

    for power, currents in ((0, result.particle_currents), (1, result.energy_currents)):
        exact = quad(landauer, -band, band, args=(power,), points=[epsilon, mu_l, mu_r], limit=500, epsabs=1e-14)[0]
        assert currents["left"] == pytest.approx(exact, rel=2e-5)


# -------------------------------------------------------------------------- order, signs, basis
@pytest.mark.parametrize("machine", [
    Machine.triple_dot(),
    Machine.triple_dot(g13=0.03, g23=-0.07, detuning={1: 0.2}).replace(order=(0, 1, 2), statistics="fermion"),
    Machine.w_machine(3, couplings=[(0.05, 0.02), (0.04, 0.06)]),
], ids=["triple-dot-order-021", "triple-dot-order-012", "w-machine-3"])
def test_qmeq_hamiltonian_is_ours_with_fermion_statistics(machine):
    """QmeQ's diagonalised Hamiltonian, mapped back, is the local model's H with fermion statistics.

    The Jordan–Wigner signs are those of machine.order: dot order, hopping signs and Fock-state signs agree.
    """
    system = qmeq_backend.build_system(machine, approach="Pauli")
    system.qd.diagonalise()
    basis = full_basis(machine.n_qubits)
    ours = build_local_model(machine.replace(statistics="fermion"), basis).hamiltonian().toarray()
    assert np.abs(qmeq_system.hamiltonian(system, machine) - ours).max() < 1e-12
    if machine.order == (0, 1, 2):  # the hop (0, 2) crosses dot 1: here the signs matter
        qubit_model = build_local_model(machine.replace(statistics="qubit"), basis).hamiltonian().toarray()
        assert np.abs(qubit_model - ours).max() == pytest.approx(2 * 0.03)


def test_known_eigenstate_comes_back_as_itself():
    """The dark state (|100⟩ − |010⟩)/√2, QmeQ's eigenstate of energy ε, maps to |D⟩⟨D| exactly.

    Every other eigenstate projector of QmeQ maps to a rank-one eigenprojector of our H with its energy.
    """
    machine = Machine.triple_dot()
    system = qmeq_backend.build_system(machine, approach="Pauli")
    system.qd.diagonalise()
    ours = build_local_model(machine.replace(statistics="fermion"), full_basis(3)).hamiltonian().toarray()
    dark = dark_state(0.05, 0.05).dense()
    energies, found_dark = np.asarray(system.qd.Ea), 0
    for charge, states in enumerate(system.si.chargelst[: system.si.ncharge]):
        for position, state in enumerate(states):
            blocks = [np.zeros((len(s), len(s))) for s in system.si.chargelst[: system.si.ncharge]]
            blocks[charge][position, position] = 1.0
            projector = qmeq_system.to_qubit_basis(system, machine, blocks)
            assert np.abs(projector @ projector - projector).max() < 1e-12 and np.trace(projector).real == \
                pytest.approx(1.0)
            assert np.abs(ours @ projector - energies[state] * projector).max() < 1e-12
            if abs(energies[state] - 1.0) < 1e-12 and charge == 1:
                assert np.abs(projector - np.outer(dark, dark.conj())).max() < 1e-12
                found_dark += 1
    assert found_dark == 1


@pytest.mark.parametrize("approach", FIRST_ORDER)
def test_density_matrix_is_physical_and_recorded(approach):
    result = qmeq_backend.solve_steady(Machine.triple_dot(), approach=approach)
    assert result.backend == f"qmeq:{approach}"
    assert result.rho.shape == (8, 8) and np.array_equal(result.occupations, full_basis(3))
    assert result.health.trace_error < 1e-12 and result.health.hermiticity_error < 1e-14
    assert result.health.residual < 1e-15  # ‖K φ₀‖ of QmeQ's own kernel, energy units
    assert result.options["lamb_shift"] is True and result.health.unique is True
    assert result.options.approach == approach and result.options.kpnt is None  # 2vN settings: not applicable
    assert set(result.stats) == {"kernel_size", "memory_estimate_bytes", "blas_threads"}
    assert result.stats["kernel_size"] == (8 if approach == "Pauli" else 20)
    assert not any("band" in note for note in result.health.notes)  # wide band: exact, nothing to say
    if approach == "Pauli":  # populations of eigenstates only: ρ commutes with H
        system = qmeq_backend.build_system(Machine.triple_dot(), approach="Pauli")
        system.qd.diagonalise()
        hamiltonian = qmeq_system.hamiltonian(system, Machine.triple_dot())
        assert np.abs(result.rho @ hamiltonian - hamiltonian @ result.rho).max() < 1e-14


# --------------------------------------------------------------- agreement with the local backend
NO_HOPPING = Machine(energies=(1.0, 1.5, 0.7), coulomb={(0, 1): 3.0, (0, 2): 2.0, (1, 2): 4.0},
                     reservoirs=(Reservoir("hot", 0, 0.1, 2.0, 0.5), Reservoir("cold", 0, 0.05, -0.5, 1.0),
                                 Reservoir("mid", 1, 0.2, 1.0, 0.3), Reservoir("side", 2, 0.07, 3.0, 2.0)))


@pytest.mark.parametrize("machine", [single_level(), NO_HOPPING], ids=["single-level", "g=0-three-qubits"])
@pytest.mark.parametrize("approach", FIRST_ORDER)
def test_first_order_equals_local_lindblad_without_hopping(machine, approach):
    """Without hopping the eigenstates are Fock states and both sides are the same rate equation."""
    local = local_fermion(machine)
    result = qmeq_backend.solve_steady(machine, approach=approach, lamb_shift=False)
    assert np.abs(result.rho - local.rho).max() < 1e-14
    zero = 1e-14 * max(r.rate for r in machine.reservoirs)  # a vanishing current: ρ's round-off times a rate
    for name in local.particle_currents:
        assert result.particle_currents[name] == pytest.approx(local.particle_currents[name], rel=1e-11, abs=zero)
        assert result.energy_currents[name] == pytest.approx(local.energy_currents[name], rel=1e-11, abs=zero)


def weak_triple_dot(scale: float, coulomb: dict | None = None) -> Machine:
    """Fig. 3 triple dot with g = 0.05 s and γ = 0.1 s² (so γ/g → 0 and g/T → 0 together)."""
    machine = Machine.triple_dot(g13=0.05 * scale, g23=0.05 * scale, gamma_hot=0.1 * scale**2,
                                 gamma_cold=0.1 * scale**2)
    return machine if coulomb is None else machine.replace(coulomb=coulomb)


SCALES = (1.0, 0.5, 0.25)
DISTINCT_U = {(0, 1): 14.0, (0, 2): 15.0, (1, 2): 16.0}


@pytest.mark.parametrize(("approach", "lamb_shift", "measured_exponent"), [
    ("Pauli", True, 1.13), ("Lindblad", True, 1.03), ("Redfield", True, 1.28), ("Redfield", False, 1.04),
    ("1vN", True, 1.28), ("1vN", False, 1.00)])
def test_weak_coupling_approaches_local_lindblad(approach, lamb_shift, measured_exponent):
    """Trace distance to the local Lindblad state ∝ s^p along g ∝ s, γ ∝ s² (distinct U_ij, see below).

    Measured p: Pauli 1.13, QmeQ Lindblad 1.03, Redfield/1vN 1.28 with and 1.04/1.00 without principal
    parts (the local slopes with them are 1.38, 1.18: the Lamb shift, O(γ) against a splitting O(g), fades
    as γ/g). All tend to 1: the errors are O(g/T) (local dissipation) and O(γ/g) (secular, Lamb shift).
    """
    distances = [trace_distance(qmeq_backend.solve_steady(weak_triple_dot(s, DISTINCT_U), approach=approach,
                                                          lamb_shift=lamb_shift).rho,
                                local_fermion(weak_triple_dot(s, DISTINCT_U)).rho) for s in SCALES]
    exponent = np.polyfit(np.log(SCALES), np.log(distances), 1)[0]
    assert exponent == pytest.approx(measured_exponent, abs=0.05)
    assert exponent > 0.9


def test_equal_coulomb_energies_leave_a_weak_coupling_gap():
    """Found here: with the paper's equal U, the QmeQ states do not approach the local Lindblad state.

    The local (paper Eq. 2) dissipator has one jump per pattern of Coulomb partners; patterns with equal
    Coulomb energy (e.g. the cold lead filling qubit 2 from |100⟩ and from |010⟩, both at ε + U) are
    separate jumps that cannot carry coherence, while every QmeQ approach lets one lead electron carry the
    coherence of |100⟩ and |010⟩ into |101⟩, |011⟩. The gap (trace distance ≈ 3.0e-4 at the Fig. 3 point)
    stays as g, γ → 0; with distinct U_ij it closes ∝ s (test above).
    """
    distances = [trace_distance(qmeq_backend.solve_steady(weak_triple_dot(s), approach="Lindblad").rho,
                                local_fermion(weak_triple_dot(s)).rho) for s in (1 / 16, 1 / 64)]
    assert distances[0] == pytest.approx(2.98e-4, rel=0.02)
    assert distances[1] == pytest.approx(distances[0], rel=0.01)


# ---------------------------------------------------------------------------- principal parts
def test_principal_parts_change_1vN_but_not_pauli():
    machine = Machine.triple_dot()
    solve = {(approach, shift): qmeq_backend.solve_steady(machine, approach=approach, lamb_shift=shift)
             for approach in ("Pauli", "Lindblad", "1vN", "Redfield") for shift in (True, False)}
    for approach in ("Pauli", "Lindblad"):  # QmeQ has no principal parts in these
        assert np.array_equal(solve[approach, True].rho, solve[approach, False].rho)
    for approach in ("1vN", "Redfield"):  # measured: max |Δρ| 0.012, C 0.9938 -> 0.9909
        assert np.abs(solve[approach, True].rho - solve[approach, False].rho).max() > 5e-3
        assert c01(solve[approach, False]) - c01(solve[approach, True]) == pytest.approx(2.9e-3, abs=3e-4)
    assert solve["1vN", False].options["lamb_shift"] is False


@pytest.mark.parametrize("lamb_shift", [True, False])
def test_first_order_results_do_not_depend_on_the_band(lamb_shift):
    """QmeQ's itype 1 and 3 are wide-band forms: D does not enter (it does for 2vN); a note says so."""
    machine = Machine.triple_dot()
    wide = qmeq_backend.solve_steady(machine, approach="1vN", lamb_shift=lamb_shift)
    for band in (Band.flat(40.0), Band.flat(1e5)):
        flat = qmeq_backend.solve_steady(machine.with_band(band), approach="1vN", lamb_shift=lamb_shift)
        assert np.abs(flat.rho - wide.rho).max() < 1e-12
        for name in ("hot", "cold"):
            assert flat.particle_currents[name] == pytest.approx(wide.particle_currents[name], rel=1e-9)
            assert flat.energy_currents[name] == pytest.approx(wide.energy_currents[name], rel=1e-9)
        assert any("D enters neither rates nor principal parts" in note for note in flat.health.notes)
    mixed = machine.replace(reservoirs=(dataclasses.replace(machine.reservoirs[0], band=Band.flat(40.0)),
                                        dataclasses.replace(machine.reservoirs[1], band=Band.flat(50.0))))
    assert np.abs(qmeq_backend.solve_steady(mixed, approach="1vN", lamb_shift=lamb_shift).rho - wide.rho).max() < 1e-12


# ------------------------------------------------------------------------------------------- 2vN
def test_2vN_fig3_point_converged():
    """Converged 2vN at the Fig. 3 point at the default D = 93.3: the refinement path, and the paper's C > 0.98.

    Doubling D changes the currents by more than current_rtol: hence the BandwidthWarning. The measured values
    and their D dependence are in docs/benchmarks.md (QmeQ backend) and docs/findings/bandwidth_2vn.md.
    """
    with pytest.warns(qmeq_backend.BandwidthWarning, match="depends on the band half-width"):
        result = qmeq_backend.solve_steady(Machine.triple_dot())
    assert result.health.converged and result.health.is_physical(1e-8)
    stats = result.stats
    assert stats["band_half_width"] == pytest.approx(93.3) and "wide band only slowly" in stats["bandwidth"]
    assert stats["kpnt"] == 7473 and stats["iterations"] == 4 and stats["refinement_limit"] is None
    assert [grid["kpnt"] for grid in stats["grids"]] == [935, 1869, 3737, 7473, 7473]  # the last: D = 186.6
    assert result.options.kpnt == 935 and result.options.rho_tol == qmeq_options.DEFAULT_RHO_TOL
    refinement = result.error.stage("grid")
    assert refinement.rho == pytest.approx(1.7e-5, rel=0.1) and refinement.currents < 1e-2
    grid = re.search(r"error estimate from the energy grid: \|ΔC\| (\S+), max \|Δρ_ij\| (\S+), currents (\S+) "
                     r"\(relative\)", " ".join(result.health.notes))
    assert float(grid[2]) == pytest.approx(refinement.rho, rel=0.1) and float(grid[3]) < 1e-2
    assert 0 < refinement.concurrence < 1e-3  # ΔC of the fermionic pair between the last two grids
    iterations = result.error.stage("iterations")
    assert iterations.rho <= qmeq_options.DEFAULT_RHO_TOL / 2 and iterations.currents <= 0.5e-2
    assert c01(result) > 0.98  # paper SI (2vN); the fermionic C of modes 0 and 1
    assert result.particle_currents["hot"] == pytest.approx(1.317e-4, rel=0.01)
    assert any("bandwidth check" in note for note in result.health.notes)
    assert stats["bandwidth_rho_change"] == pytest.approx(6.4e-3, rel=0.1)
    assert stats["bandwidth_current_change"] == pytest.approx(0.035, rel=0.1)


def test_2vN_budget_exhausted_warns():
    with pytest.warns(ConvergenceWarning, match="max_kpnt=65"):
        result = qmeq_backend.solve_steady(Machine.triple_dot(), kpnt=65, max_kpnt=65)
    assert not result.health.converged
    assert any("max_kpnt=65" in note for note in result.health.notes)


def test_2vN_fixed_grid_records_its_settings():
    result = qmeq_backend.solve_steady(Machine.triple_dot(), converge=False, kpnt=129, niter=3)
    assert result.options["kpnt"] == 129 and result.options["niter"] == 3 and result.options["converge"] is False
    assert result.options.max_kpnt is None and result.options.check_bandwidth is None  # refinement only
    assert any(note.startswith("2vN grid D=93.3 kpnt=129") and "3 iterations" in note for note in result.health.notes)
    assert not result.health.converged and "convergence not assessed" in result.health.notes[1]
    assert result.health.notes[0].startswith("2vN band: wide band represented by the flat band [-D, D], D = 93.3")
    assert {"kpnt", "iterations", "grids", "band_half_width", "bandwidth", "blas_threads", "memory_estimate_bytes",
            "seconds_per_iteration_estimate"} <= set(result.stats)
    assert [stage.stage for stage in result.error.stages] == ["iterations"]
    assert result.stats["kpnt"] == 129 and result.stats["iterations"] == 3 and len(result.stats["grids"]) == 1
    assert np.isnan(result.health.residual)


def test_fixed_grid_options_nest_and_validate():
    machine = Machine.triple_dot()
    coarse = qmeq_backend.fixed_grid_options(machine)
    assert set(coarse) == {"converge", "kpnt", "niter"} and coarse["converge"] is False
    assert 2 * 93.3 / (coarse["kpnt"] - 1) <= 2 * 0.1  # spacing ≤ min(T, 2γ) on the default D
    finer = qmeq_backend.fixed_grid_options(machine, halvings=2, niter=5)
    assert finer["kpnt"] - 1 == 4 * (coarse["kpnt"] - 1) and finer["niter"] == 5
    wider = qmeq_backend.fixed_grid_options(machine.with_band(Band.flat(200.0)))
    assert wider["kpnt"] > coarse["kpnt"] and "bandwidth" not in wider
    with pytest.warns(DeprecationWarning, match="bandwidth=D is deprecated|is deprecated"):
        deprecated = qmeq_backend.fixed_grid_options(machine, bandwidth=200.0)
    assert deprecated == {**wider, "bandwidth": 200.0}  # so that solve_steady puts the leads on that band too
    for bad, message in (({"halvings": -1}, "halvings"), ({"niter": 0}, "niter")):
        with pytest.raises(ValueError, match=message):
            qmeq_backend.fixed_grid_options(machine, **bad)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="bandwidth must"):
        qmeq_backend.fixed_grid_options(machine, bandwidth=5.0)


def test_2vN_fermi_overflow_is_exact_and_contained():
    """QmeQ's Fermi table overflows harmlessly, and the backend lets no warning escape.

    1/(exp(x) + 1) overflows for x > 709 (here D = 1000, T = 1): the table is 0 exactly there and equals
    expit elsewhere to round-off.
    """
    machine = single_level(left=(0.1, 2.0, 1.0), right=(0.05, -1.0, 1.0)).with_band(Band.flat(1000.0))
    system = qmeq_backend.build_system(machine, kpnt=2001)
    with pytest.warns(RuntimeWarning, match="overflow encountered in exp"):
        system.solve(niter=1)
    grid = system.appr.Ek_grid
    inside = slice(system.funcp.kpnt_left, system.funcp.kpnt_left + len(grid))
    for lead, reservoir in enumerate(machine.reservoirs):
        table = system.appr.fkp[lead, inside].real
        exact = fermi(grid, reservoir.chemical_potential, reservoir.temperature)
        assert np.abs(table - exact).max() < 1e-15
        assert np.all(table[(grid - reservoir.chemical_potential) > 710] == 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        qmeq_backend.solve_steady(machine, converge=False, kpnt=2001, niter=2)


# ---------------------------------------------------------------------- the compiled kernels, errors
def test_python_fallback_kernel_is_refused(monkeypatch):
    import qmeq.builder.builder_base as builder_base

    monkeypatch.setattr(builder_base, "ApproachPauli", builder_base.ApproachPyPauli)
    with pytest.raises(RuntimeError, match="pure Python"):
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli")


def test_missing_qmeq_names_make_setup(monkeypatch):
    monkeypatch.setitem(sys.modules, "qmeq", None)
    with pytest.raises(ImportError, match="make setup"):
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli")


def test_failed_solve_raises():
    """A qubit with neither reservoir nor hopping: no unique steady state, QmeQ's success flag is False."""
    machine = Machine(energies=(1.0, 1.0), reservoirs=(Reservoir("lead", 0, 0.1, 0.0, 1.0),))
    with pytest.raises(SolveFailure, match="success flag False"):
        qmeq_backend.solve_steady(machine, approach="Pauli")


def test_registry_and_case_insensitive_names():
    assert get_backend("qmeq") is qmeq_backend and qmeq_backend.NAME == "qmeq"
    assert qmeq_backend.solve_steady(single_level(), approach="pAULi").backend == "qmeq:Pauli"


@pytest.mark.parametrize(("machine", "options", "message"), [
    (Machine.triple_dot(), {"approach": "RTD"}, "valid approaches"),
    (Machine.triple_dot(), {"approach": "py2vN"}, "valid approaches"),
    (Machine.triple_dot(), {"approach": "Pauli", "kpnt": 100}, "2vN approach only"),
    (Machine.triple_dot(), {"approach": "1vN", "rho_tol": 1e-4}, "2vN approach only"),
    (Machine.triple_dot(), {"approach": "2vN", "tol": 1e-4}, "unknown QmeqOptions setting"),
    (Machine.triple_dot(), {"approach": "2vN", "lamb_shift": False}, "principal parts"),
    (Machine.triple_dot(band=Band.flat(20.0)), {"approach": "Pauli"}, "must contain every transition"),
    (Machine.triple_dot(band=Band.lorentzian(5.0)), {"approach": "1vN"}, "QmeQ's leads are flat"),
    (Machine.triple_dot(), {"approach": "2vN", "rho_tol": -1.0}, "rho_tol must"),
    (Machine.triple_dot(), {"approach": "2vN", "niter": 0}, "niter must"),
    (Machine.triple_dot(), {"approach": "2vN", "kpnt": 1001, "max_kpnt": 513}, "max_kpnt must"),
    (Machine.triple_dot(), {"approach": "2vN", "converge": False, "max_kpnt": 513}, "solves once"),
    (Machine.triple_dot(ideal_limit=True), {"approach": "Pauli"}, "ideal limit"),
    (Machine.triple_dot(dephasing=(0.0, 0.01, 0.0)), {"approach": "Pauli"}, "dephasing"),
    (Machine.triple_dot(T_cold=0.0), {"approach": "Pauli"}, "T = 0"),
    (Machine(energies=(1.0,)), {"approach": "Pauli"}, "reservoir with a rate"),
])
def test_bad_approaches_options_and_machines_raise(machine, options, message):
    with pytest.raises(ValueError, match=message):
        qmeq_backend.solve_steady(machine, **options)


# ------------------------------------------------------------------------ the backend contract (issue 11)
def test_backend_protocol():
    from transportbench.backends import Backend

    assert isinstance(qmeq_backend, Backend) and qmeq_backend.Options is qmeq_backend.QmeqOptions
    assert qmeq_backend.CAPABILITIES.bands == ("wide", "flat") and qmeq_backend.CAPABILITIES.statistics == ("fermion",)
    assert set(qmeq_backend.APPROACHES.values()) == {"Pauli", "Lindblad", "Redfield", "1vN", "2vN"}
    machine, options = Machine.triple_dot(), qmeq_backend.QmeqOptions(approach="1vn")
    assert qmeq_backend.check_machine(machine, options) is None
    assert qmeq_backend.estimate_memory(machine, options) == qmeq_system.estimate(machine, "1vN", 93.3).bytes
    assert qmeq_backend.estimate_memory(machine, qmeq_backend.QmeqOptions()) > 32 * 2**20  # 2vN, first grid
    with pytest.raises(ValueError, match="ideal limit"):
        qmeq_backend.check_machine(Machine.triple_dot(ideal_limit=True), options)


def test_options_are_validated_and_normalised():
    options = qmeq_backend.QmeqOptions(approach="2VN", kpnt=np.int64(65), rho_tol=1e-4)
    assert options.approach == "2vN" and type(options.kpnt) is int and options["rho_tol"] == 1e-4
    assert dict(options)["niter"] is None and len(options) == len(qmeq_backend.QmeqOptions.names())
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.kpnt = 3
    assert qmeq_backend.QmeqOptions.build(approach="pauli", lamb_shift=False).approach == "Pauli"
    for settings, message in (
            ({"tol": 1e-3}, "unknown QmeqOptions setting"), ({"bandwidth": 93.3}, "unknown QmeqOptions setting"),
            ({"approach": "Pauli", "kpnt": 65}, r"\['kpnt'\] apply to the 2vN approach only"),
            ({"approach": "Redfield", "current_floor": 0.0, "check_bandwidth": True}, "2vN approach only"),
            ({"kpnt": 2}, "kpnt must be an integer >= 3"), ({"kpnt": 65.0}, "kpnt must be an integer"),
            ({"niter": True}, "niter must be an integer"), ({"rho_tol": 0.0}, "rho_tol must be > 0"),
            ({"current_rtol": float("nan")}, "current_rtol must be finite"),
            ({"current_floor": -1e-3}, "current_floor"),
            ({"converge": 1}, "converge must be True or False"), ({"threads": 1}, r"unknown .* \['threads'\]"),
            ({"lamb_shift": "yes"}, "lamb_shift must be True or False"), ({"approach": 2}, "valid approaches"),
            ({"kpnt": 129, "max_kpnt": 65}, "max_kpnt must be >= kpnt"),
            ({"converge": False, "check_bandwidth": False}, "solves once")):
        with pytest.raises(ValueError, match=message):
            qmeq_backend.QmeqOptions.build(**settings)
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):  # a run setting (RunOptions)
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli", threads=0)
    with pytest.raises(ValueError, match="max_kpnt must be >= the first grid kpnt = 935"):
        qmeq_backend.solve_steady(Machine.triple_dot(), max_kpnt=513)  # the default first grid, before any solve


@pytest.mark.parametrize("settings", [{"approach": "1vN"}, {"approach": "Redfield", "lamb_shift": False},
                                      {"converge": False, "kpnt": 33, "niter": 2}])
def test_result_options_repeat_the_solve(settings):
    machine = Machine.triple_dot().with_band(Band.flat(40.0))
    first = qmeq_backend.solve_steady(machine, **settings)
    assert isinstance(first.options, qmeq_backend.QmeqOptions)
    again = qmeq_backend.solve_steady(first.machine, first.options)
    assert again.options == first.options and np.array_equal(again.rho, first.rho)
    assert np.array_equal(qmeq_backend.solve_steady(first.machine, **first.options).rho, first.rho)
    if first.options.approach == "2vN":
        assert first.options.rho_tol == qmeq_options.DEFAULT_RHO_TOL and first.options.current_floor == 1e-4
        assert first.stats["band_half_width"] == 40.0 and first.stats["bandwidth"].startswith("flat band")


def test_2vN_uses_the_machine_flat_band_and_the_deprecated_alias_equals_it():
    machine, tiny = Machine.triple_dot(), {"converge": False, "kpnt": 33, "niter": 2}
    flat = qmeq_backend.solve_steady(machine.with_band(Band.flat(40.0)), **tiny)
    wide = qmeq_backend.solve_steady(machine, **tiny)
    assert flat.stats["band_half_width"] == 40.0 and wide.stats["band_half_width"] == pytest.approx(93.3)
    assert "D = 40 (the machine's)" in flat.stats["bandwidth"]
    assert "2vN approaches the wide band only slowly" in wide.stats["bandwidth"]
    assert any(note.startswith("2vN band: wide band represented by the flat band") for note in wide.health.notes)
    assert np.abs(flat.rho - wide.rho).max() > 1e-6  # D enters 2vN
    with pytest.warns(DeprecationWarning, match="deprecated"):
        alias = qmeq_backend.solve_steady(machine, bandwidth=40.0, **tiny)
    assert all(r.band == Band.flat(40.0) for r in alias.machine.reservoirs)
    assert np.array_equal(alias.rho, flat.rho) and alias.options == flat.options
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="bandwidth must"):
        qmeq_backend.solve_steady(machine, approach="Pauli", bandwidth=float("inf"))


def test_bands_qmeq_cannot_represent_are_refused():
    machine = Machine.triple_dot()
    hot, cold = machine.reservoirs
    cases = [
        (Machine.triple_dot(band=Band.lorentzian(5.0)), "Pauli", r"qmeq backend cannot represent the lorentzian band"),
        (machine.replace(reservoirs=(hot, dataclasses.replace(cold, band=Band.flat(50.0)))), "1vN",
         r"one band kind for all leads, got \['flat', 'wide'\]"),
        (machine.replace(reservoirs=(dataclasses.replace(hot, band=Band.flat(40.0)),
                                     dataclasses.replace(cold, band=Band.flat(50.0)))),
         "2vN", "share one half-width D"),
    ]
    for bad, approach, message in cases:
        with pytest.raises(ValueError, match=message):
            qmeq_backend.solve_steady(bad, approach=approach)


def test_qubit_machines_only_where_the_fermion_model_is_the_same():
    """Issue 11: this machine gave C = 0.000 (local, qubit) but 0.0287 (qmeq:1vN) with an empty warnings column."""
    crossing = Machine.triple_dot(U=10, mu_hot=12).replace(order=(0, 1, 2))
    with pytest.raises(ValueError, match=r"qmeq backend solves fermion statistics.*order \(0, 1, 2\)"):
        qmeq_backend.solve_steady(crossing, approach="1vN")
    with pytest.raises(ValueError, match="fermion statistics"):
        qmeq_backend.check_machine(crossing, qmeq_backend.QmeqOptions(approach="Pauli"))
    fermion = qmeq_backend.solve_steady(crossing.replace(statistics="fermion"), approach="1vN")
    assert not any("statistics" in note for note in fermion.health.notes)
    qubit = qmeq_backend.solve_steady(Machine.triple_dot(), approach="1vN")
    assert any("qmeq solves fermion statistics in the order (0, 2, 1)" in note for note in qubit.health.notes)
