"""Textbook matrices for the tests: σ± Kronecker products on the full 2^N basis (qubit 0 most significant)."""

import numpy as np

LOWER = np.array([[0.0, 1.0], [0.0, 0.0]])
"""σ− = |0⟩⟨1| on one qubit."""
NUMBER = np.diag([0.0, 1.0])


def site(operator: np.ndarray, qubit: int, n_qubits: int) -> np.ndarray:
    """``operator`` on ``qubit`` of ``n_qubits``, the identity elsewhere."""
    return np.kron(np.kron(np.eye(2**qubit), operator), np.eye(2 ** (n_qubits - qubit - 1)))


def hamiltonian(machine) -> np.ndarray:
    """H = Σ ε n + Σ g (σ+σ− + h.c.) + Σ U n n of the qubit model, dense."""
    n = machine.n_qubits
    result = sum(e * site(NUMBER, q, n) for q, e in enumerate(machine.energies))
    for (i, j), g in machine.couplings:
        hop = site(LOWER.T, i, n) @ site(LOWER, j, n)
        result = result + g * (hop + hop.T)
    for (i, j), u in machine.coulomb:
        result = result + u * site(NUMBER, i, n) @ site(NUMBER, j, n)
    return result


def coherent_generator(machine) -> np.ndarray:
    """−i[H, ·] as a matrix acting on row-major vec(ρ)."""
    identity = np.eye(2**machine.n_qubits)
    h = hamiltonian(machine)
    return -1j * (np.kron(h, identity) - np.kron(identity, h.T))


def single_particle_hamiltonian(machine) -> np.ndarray:
    """H with H = Σ h_ij c_i† c_j at U = 0: the energies on the diagonal, the flip-flops off it (complex)."""
    h = np.diag(machine.energies).astype(complex)
    for (i, j), g in machine.couplings:
        h[i, j] = h[j, i] = g
    return h


def gaussian_pair_state(density: np.ndarray, a: int, b: int) -> np.ndarray:
    """Reduced state of fermionic modes a, b of a Gaussian (number-conserving, U = 0) state, by Wick's theorem.

    ``density[i, j]`` = ⟨c_j† c_i⟩. Basis |n_a n_b⟩ = (c_a†)^{n_a} (c_b†)^{n_b} |0⟩ in the order |00⟩, |01⟩,
    |10⟩, |11⟩: ⟨n_a n_b⟩ = ⟨n_a⟩⟨n_b⟩ − |⟨c_b† c_a⟩|², and ρ[|10⟩, |01⟩] = Tr(ρ |01⟩⟨10|) = ⟨c_b† c_a⟩.
    """
    n_a, n_b, coherence = density[a, a].real, density[b, b].real, density[a, b]
    both = n_a * n_b - abs(coherence) ** 2
    state = np.diag([1 - n_a - n_b + both, n_b - both, n_a - both, both]).astype(complex)
    state[2, 1], state[1, 2] = coherence, np.conj(coherence)
    return state


def local_gaussian_density(machine) -> np.ndarray:
    """⟨c_j† c_i⟩ (matrix [i, j]) of the local fermion equation at U = 0 on wide bands, from its Lyapunov equation.

    Jumps c_k† at rate γ n_F(ε_k) and c_k at γ (1 − n_F(ε_k)) per reservoir on dot k; H = Σ h_ij c_i† c_j.
    With D[i, j] = ⟨c_j† c_i⟩: dD/dt = −i[h, D] − ½{K, D} + P with K = diag(gain + loss), P = diag(gain).
    """
    from scipy.linalg import solve_sylvester

    from transportbench.thermal import fermi

    n = machine.n_qubits
    h = single_particle_hamiltonian(machine)
    gain, loss = np.zeros(n), np.zeros(n)
    for reservoir in machine.reservoirs:
        filled = float(fermi(machine.energies[reservoir.qubit], reservoir.chemical_potential, reservoir.temperature))
        gain[reservoir.qubit] += reservoir.rate * filled
        loss[reservoir.qubit] += reservoir.rate * (1 - filled)
    generator = -1j * h - np.diag(gain + loss) / 2  # dD/dt = A D + D A† + P with A = −ih − K/2
    return solve_sylvester(generator, generator.conj().T, -np.diag(gain))


def lorentzian_self_energy(omega: float, reservoir, width: float) -> complex:
    """Σ_r(ω) = (Γ W / 2) / (ω − μ + iW): −2 Im Σ_r = Γ W² / ((ω − μ)² + W²), QuTiP's J(ω)."""
    return reservoir.rate * width / 2 / (omega - reservoir.chemical_potential + 1j * width)


def lorentzian_green(machine, omega: float, width: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Retarded G(ω) of the single-particle chain and Γ_r(ω) as matrices on the dots."""
    n = machine.n_qubits
    h = single_particle_hamiltonian(machine)
    broadenings = []
    for reservoir in machine.reservoirs:
        sigma = np.zeros((n, n), dtype=complex)
        sigma[reservoir.qubit, reservoir.qubit] = lorentzian_self_energy(omega, reservoir, width)
        h = h + sigma
        broadenings.append(-2 * sigma.imag)
    return np.linalg.inv(omega * np.eye(n) - h), broadenings


def lorentzian_density(machine, width: float) -> np.ndarray:
    """Exact ⟨c_j† c_i⟩ (matrix [i, j]) of the U = 0 machine on Lorentzian leads of half-width ``width``.

    −i G^<(ω) = G(ω) Σ_r f_r(ω) Γ_r(ω) G(ω)†, integrated over ω / 2π (every reservoir, any dots).
    """
    from scipy.integrate import quad_vec

    from transportbench.thermal import fermi

    def integrand(omega: float) -> np.ndarray:
        g, broadenings = lorentzian_green(machine, omega, width)
        source = sum(float(fermi(omega, r.chemical_potential, r.temperature)) * gamma
                     for r, gamma in zip(machine.reservoirs, broadenings, strict=True))
        return (g @ source @ g.conj().T).ravel() / (2 * np.pi)

    values, _ = quad_vec(integrand, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-11)
    return values.reshape(machine.n_qubits, machine.n_qubits)


def wide_band_landauer(machine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact U = 0 results on wide-band leads (J_r = Γ_r, Σ_r = −iΓ_r/2 on the lead's dot).

    Returns ⟨c_j† c_i⟩ (matrix [i, j]) from −i G^< = G (Σ_r f_r Γ_r) G†, and per reservoir the particle and
    energy current into the chain, Σ_r' ∫ dω/2π (1, ω) Tr[Γ_r G Γ_r' G†] (f_r − f_r') (energy from the dots'
    energy zero, like the backends).
    """
    from scipy.integrate import quad_vec

    from transportbench.thermal import fermi

    n, reservoirs = machine.n_qubits, machine.reservoirs
    broadenings = []
    for reservoir in reservoirs:
        gamma = np.zeros((n, n))
        gamma[reservoir.qubit, reservoir.qubit] = reservoir.rate
        broadenings.append(gamma)
    effective = single_particle_hamiltonian(machine) - 0.5j * sum(broadenings)

    def integrand(omega: float) -> np.ndarray:
        g = np.linalg.inv(omega * np.eye(n) - effective)
        f = [float(fermi(omega, r.chemical_potential, r.temperature)) for r in reservoirs]
        lesser = g @ sum(fr * gamma for fr, gamma in zip(f, broadenings, strict=True)) @ g.conj().T
        flows = np.array([sum(np.trace(broadenings[a] @ g @ broadenings[b] @ g.conj().T).real * (f[a] - f[b])
                              for b in range(len(reservoirs))) for a in range(len(reservoirs))])
        return np.concatenate([lesser.ravel(), flows, omega * flows]) / (2 * np.pi)

    values, _ = quad_vec(integrand, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-11)
    count = len(reservoirs)
    return (values[:n * n].reshape(n, n), values[n * n:n * n + count].real, values[n * n + count:].real)
