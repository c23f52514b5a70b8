"""Observables: partial trace, concurrence (Wootters vs X-state formula), fidelity, target states."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transportbench.observables import (
    concurrence,
    concurrence_x_state,
    dark_state,
    fidelity,
    populations,
    reduced_state,
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
    assert np.allclose(reduced_state(rho, full_basis(3), [0, 1]), expected_01)
    assert np.allclose(reduced_state(rho, full_basis(3), [2, 0]), expected_20)


def test_reduced_state_on_a_subset_basis():
    ket = w_state([(1.0, 1.0), (1.0, 1.0)])  # (|10000⟩ − |01000⟩ − |00100⟩)/√3
    rho = np.outer(ket.amplitudes, ket.amplitudes.conj())
    pair = reduced_state(rho, ket.occupations, [0, 1])
    expected = np.zeros((4, 4))
    expected[0, 0] = 1 / 3                  # |00⟩ from the third qubit's excitation
    expected[1, 1] = expected[2, 2] = 1 / 3  # |01⟩, |10⟩
    expected[1, 2] = expected[2, 1] = -1 / 3
    assert np.allclose(pair, expected)
    assert concurrence(pair) == pytest.approx(2 / 3, abs=1e-7)


def test_bad_qubit_lists_raise():
    with pytest.raises(ValueError, match="qubits"):
        reduced_state(np.eye(4) / 4, full_basis(2), [0, 0])
    with pytest.raises(ValueError, match="qubits"):
        reduced_state(np.eye(4) / 4, full_basis(2), [2])
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


@settings(max_examples=200, deadline=None)
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
    assert fidelity(rho, full_basis(3), ket) == pytest.approx(1.0)
    assert np.allclose(populations(rho, full_basis(3)), [0.5, 0.5, 0.0])
    mixed = np.eye(8) / 8
    assert fidelity(mixed, full_basis(3), ket) == pytest.approx(1 / 8)
