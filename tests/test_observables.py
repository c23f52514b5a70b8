"""Observables: partial trace, concurrence (Wootters vs X-state formula), fidelity, target states."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from property_examples import examples

from transportbench.observables import (
    QUBITS,
    ParticleModel,
    SparseKet,
    concurrence,
    concurrence_x_state,
    dark_state,
    fidelity,
    populations,
    reduced_state,
    reordering_signs,
    tensor_partial_trace,
    w_state,
)
from transportbench.occupation import full_basis


def random_density_matrix(dimension, rng):
    matrix = rng.normal(size=(dimension, dimension)) + 1j * rng.normal(size=(dimension, dimension))
    rho = matrix @ matrix.conj().T
    return rho / np.trace(rho)


def test_reduced_state_matches_an_einsum_partial_trace():
    rng = np.random.default_rng(7)
    rho = random_density_matrix(8, rng)
    tensor = rho.reshape(2, 2, 2, 2, 2, 2)
    expected_01 = np.einsum("abkcdk->abcd", tensor).reshape(4, 4)
    expected_20 = np.einsum("ajbcjd->badc", tensor).reshape(4, 4)  # order (2, 0)
    assert np.allclose(reduced_state(rho, full_basis(3), [0, 1], QUBITS), expected_01)
    assert np.allclose(reduced_state(rho, full_basis(3), [2, 0], QUBITS), expected_20)


def test_reduced_state_on_a_subset_basis():
    ket = w_state([(1.0, 1.0), (1.0, 1.0)])  # (|10000⟩ − |01000⟩ − |00100⟩)/√3
    rho = np.outer(ket.amplitudes, ket.amplitudes.conj())
    pair = reduced_state(rho, ket.occupations, [0, 1], QUBITS)
    expected = np.zeros((4, 4))
    expected[0, 0] = 1 / 3                  # |00⟩ from the third qubit's excitation
    expected[1, 1] = expected[2, 2] = 1 / 3  # |01⟩, |10⟩
    expected[1, 2] = expected[2, 1] = -1 / 3
    assert np.allclose(pair, expected)
    assert concurrence(pair) == pytest.approx(2 / 3, abs=1e-7)


def test_bad_qubit_lists_raise():
    with pytest.raises(ValueError, match="qubits"):
        reduced_state(np.eye(4) / 4, full_basis(2), [0, 0], QUBITS)
    with pytest.raises(ValueError, match="qubits"):
        reduced_state(np.eye(4) / 4, full_basis(2), [2], QUBITS)
    with pytest.raises(ValueError, match="4x4"):
        concurrence(np.eye(8) / 8)


def test_concurrence_of_known_states():
    bell = np.array([0, 1, -1, 0]) / np.sqrt(2)
    assert concurrence(np.outer(bell, bell)) == pytest.approx(1.0, abs=1e-7)
    product = np.kron([1, 0], [0.6, 0.8])
    assert concurrence(np.outer(product, product)) == pytest.approx(0.0, abs=1e-7)
    for p in (0.2, 0.5, 0.9):  # Werner state: C = max(0, (3p − 1)/2)
        werner = p * np.outer(bell, bell) + (1 - p) * np.eye(4) / 4
        assert concurrence(werner) == pytest.approx(max(0.0, (3 * p - 1) / 2), abs=1e-7)
        assert concurrence_x_state(werner) == pytest.approx(max(0.0, (3 * p - 1) / 2), abs=1e-12)


@pytest.mark.property
@settings(max_examples=examples(200))
@given(populations_raw=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda p: sum(p) > 1e-3),
       inner=st.floats(0.0, 1.0), outer=st.floats(0.0, 1.0),
       phases=st.tuples(st.floats(0, 2 * np.pi), st.floats(0, 2 * np.pi)))
def test_wootters_and_x_state_formula_agree_on_x_states(populations_raw, inner, outer, phases):
    p00, p01, p10, p11 = np.array(populations_raw) / sum(populations_raw)
    rho = np.diag([p00, p01, p10, p11]).astype(complex)
    rho[1, 2] = inner * np.sqrt(p01 * p10) * np.exp(1j * phases[0])  # positivity: |ρ12|² ≤ p01 p10
    rho[0, 3] = outer * np.sqrt(p00 * p11) * np.exp(1j * phases[1])
    rho[2, 1], rho[3, 0] = np.conj(rho[1, 2]), np.conj(rho[0, 3])
    assert concurrence(rho) == pytest.approx(concurrence_x_state(rho), abs=2e-7)


def test_x_state_formula_tolerates_round_off_negative_populations():
    rho = np.zeros((4, 4), dtype=complex)
    rho[1, 1] = rho[2, 2] = 0.5
    rho[1, 2] = rho[2, 1] = -0.5
    rho[0, 0], rho[3, 3] = -1e-17, 1e-17
    assert concurrence_x_state(rho) == pytest.approx(1.0, abs=1e-15)


def test_dark_state_and_w_state():
    dark = dark_state(0.03, 0.04)
    assert np.allclose(dark.dense()[[4, 2]], [0.8, -0.6])  # |100⟩: cos θ = g23/√…, |010⟩: −sin θ
    assert np.allclose(dark.dense(), w_state([(0.03, 0.04)]).dense())
    w3 = w_state([(0.05, 0.05), (0.05, 0.05)]).dense()
    assert np.isclose(np.linalg.norm(w3), 1.0)
    assert np.allclose(w3[[16, 8, 4]], np.array([1, -1, -1]) / np.sqrt(3))
    with pytest.raises(ValueError, match="g13 or g23"):
        dark_state(0.0, 0.0)
    with pytest.raises(ValueError, match="alpha_1"):
        w_state([(0.1, 0.0)])


def test_fidelity_and_populations():
    ket = dark_state(0.05, 0.05)
    rho = np.outer(ket.dense(), ket.dense().conj())
    assert fidelity(rho, full_basis(3), ket, QUBITS) == pytest.approx(1.0)
    assert np.allclose(populations(rho, full_basis(3)), [0.5, 0.5, 0.0])
    mixed = np.eye(8) / 8
    assert fidelity(mixed, full_basis(3), ket, QUBITS) == pytest.approx(1 / 8)


# ------------------------------------------------------------------------------- fermionic reduced states
def jordan_wigner_annihilator(mode: int, order: tuple[int, ...]) -> np.ndarray:
    """c_mode on the full basis (qubit 0 most significant) of Fock states written with creators in ``order``.

    c_q picks up (−1)^{n_p} from every mode p before q in the string: (Π_p Z_p) σ−_q.
    """
    n_modes = len(order)
    parity, lower = np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [0.0, 0.0]])
    before = set(order[:order.index(mode)])
    factors = [lower if q == mode else parity if q in before else np.eye(2) for q in range(n_modes)]
    operator = np.eye(1)
    for factor in factors:
        operator = np.kron(operator, factor)
    return operator


def two_mode_reduced_state(rho: np.ndarray, modes: tuple[int, int], order: tuple[int, ...]) -> np.ndarray:
    """ρ_red[n, m] = Tr(ρ |m⟩⟨n|) with |n_a n_b⟩ = (c_a†)^{n_a} (c_b†)^{n_b} |0⟩: the definition, by operators."""
    c = {q: jordan_wigner_annihilator(q, order) for q in modes}
    identity = np.eye(len(rho))
    vacuum = (identity - c[modes[0]].T @ c[modes[0]]) @ (identity - c[modes[1]].T @ c[modes[1]])

    def creator(pattern: tuple[int, int]) -> np.ndarray:
        return (np.linalg.matrix_power(c[modes[0]].T, pattern[0])
                @ np.linalg.matrix_power(c[modes[1]].T, pattern[1]))

    patterns = [(0, 0), (0, 1), (1, 0), (1, 1)]
    reduced = np.zeros((4, 4), dtype=complex)
    for i, n in enumerate(patterns):
        for j, m in enumerate(patterns):
            ket_m_bra_n = creator(m) @ vacuum @ creator(n).conj().T
            reduced[i, j] = np.trace(rho @ ket_m_bra_n)
    return reduced


@pytest.mark.parametrize("order", [(0, 1, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0)])
@pytest.mark.parametrize("modes", [(0, 1), (1, 0), (0, 2), (2, 1)])
def test_fermionic_partial_trace_reproduces_every_two_mode_expectation(order, modes):
    rho = random_density_matrix(8, np.random.default_rng(11))
    expected = two_mode_reduced_state(rho, modes, order)
    reduced = reduced_state(rho, full_basis(3), list(modes), ParticleModel("fermion", order))
    np.testing.assert_allclose(reduced, expected, atol=1e-14)


def test_fermionic_partial_trace_is_independent_of_the_string_order():
    rng = np.random.default_rng(3)
    occupations = full_basis(4)
    in_order = (0, 1, 2, 3)
    rho = random_density_matrix(16, rng)
    plain = set()
    for other in [(0, 2, 1, 3), (3, 2, 1, 0), (2, 0, 3, 1)]:
        signs = reordering_signs(occupations, in_order, other)
        same_state = signs[:, None] * rho * signs[None, :]  # the same physical state written in ``other``
        for modes in ([0, 1], [1, 3], [2, 0, 3]):
            np.testing.assert_allclose(
                reduced_state(same_state, occupations, modes, ParticleModel("fermion", other)),
                reduced_state(rho, occupations, modes, ParticleModel("fermion", in_order)), atol=1e-14)
        plain.add(round(float(tensor_partial_trace(same_state, occupations, [0, 1])[1, 2].real), 12))
    assert len(plain) > 1  # the string-ordered trace does depend on the order


def test_middle_mode_of_the_string_flips_the_plain_coherence():
    # ψ = (a c0† + b c1†) c2† |0⟩ written in the triple dot's order (0, 2, 1): pattern (1,0,1) = c0† c2† |0⟩ = +,
    # pattern (0,1,1) = c2† c1† |0⟩ = −c1† c2† |0⟩; modes 0 and 1 are in the pure state a|10⟩ + b|01⟩
    a, b = 0.6, 0.8j
    ket = np.zeros(8, dtype=complex)
    ket[0b101], ket[0b011] = a, -b
    rho = np.outer(ket, ket.conj())
    model = ParticleModel("fermion", (0, 2, 1))
    pair = reduced_state(rho, full_basis(3), [0, 1], model)
    expected = np.outer([0, b, a, 0], np.conj([0, b, a, 0]))  # basis |00⟩, |01⟩, |10⟩, |11⟩
    np.testing.assert_allclose(pair, expected, atol=1e-15)
    np.testing.assert_allclose(tensor_partial_trace(rho, full_basis(3), [0, 1])[2, 1], -a * np.conj(b))
    assert concurrence(pair) == pytest.approx(2 * abs(a * b), abs=1e-7)
    with_sink = SparseKet(np.array([[1, 0, 1], [0, 1, 1]], dtype=np.int8), np.array([a, b]))  # ψ in order 0, 1, 2
    assert fidelity(rho, full_basis(3), with_sink, model) == pytest.approx(1.0)
    assert fidelity(rho, full_basis(3), with_sink, QUBITS) == pytest.approx((abs(a)**2 - abs(b)**2)**2)
    pair_ket = SparseKet(np.array([[1, 0], [0, 1]], dtype=np.int8), np.array([a, b]))
    assert fidelity(pair, full_basis(2), pair_ket, ParticleModel("fermion", (0, 1))) == pytest.approx(1.0)


def test_target_with_two_excitations_is_read_in_its_own_order():
    # ψ = (c0† c1† + c1† c2†)|0⟩/√2, stated in the order (0, 1, 2), prepared in a state written in (2, 0, 1)
    state_order = (2, 0, 1)
    c = {q: jordan_wigner_annihilator(q, state_order) for q in range(3)}
    vacuum = np.zeros(8)
    vacuum[0] = 1.0
    ket = (c[0].T @ c[1].T @ vacuum + c[1].T @ c[2].T @ vacuum) / np.sqrt(2)
    rho = np.outer(ket, ket.conj())
    target = SparseKet(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.int8), np.array([1, 1]) / np.sqrt(2), order=(0, 1, 2))
    assert fidelity(rho, full_basis(3), target, ParticleModel("fermion", state_order)) == pytest.approx(1.0)
    swapped = SparseKet(target.occupations, np.array([-1, 1]) / np.sqrt(2), order=(1, 0, 2))  # c1†c0† = −c0†c1†
    assert fidelity(rho, full_basis(3), swapped, ParticleModel("fermion", state_order)) == pytest.approx(1.0)


def test_particle_model_checks_its_order():
    with pytest.raises(ValueError, match="permutation"):
        ParticleModel("fermion", (0, 0, 1))
    with pytest.raises(ValueError, match="statistics"):
        ParticleModel("boson", (0, 1))
    with pytest.raises(ValueError, match="modes"):
        reduced_state(np.eye(8) / 8, full_basis(3), [0, 1], ParticleModel("fermion", (0, 1)))
    assert QUBITS.order == ()
