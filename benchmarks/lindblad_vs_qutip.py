"""Steady state of the W machine: our local Lindblad backend against QuTiP 5's ``steadystate``.

Three tables:

1. ``Machine.w_machine(n)`` at its default (non-ideal) parameters, U = 15, μ = 8, T = 1, γ = 0.1,
   g = 0.05, for n = 2…5 (3…9 qubits), solved by ``local.solve_steady(machine)`` (default options:
   reachable basis, ``solver="auto"``) and by ``qutip.steadystate(H, c_ops)`` (QuTiP's default:
   ``method="direct"``, solver ``scipy.sparse.linalg.spsolve`` on the full 4^N Liouvillian with the
   trace condition added to its first row; SuperLU, COLAMD ordering). QuTiP's model is built here
   independently, from the Machine description only, with qutip operators. n = 6 (11 qubits) by our
   backend only.
2. The restricted case: ideal limit with zero-temperature sinks, ``w_machine(n, ideal_limit=True,
   T_sink=0.0)``, where only the vacuum and the single excitations are reachable, n = 2…200, with the
   fidelity to the W state of paper Eq. (12) as a sanity column (QuTiP alongside where the full space
   is small).

Every solve runs in a fresh subprocess; its memory peak is that process's ``ru_maxrss`` (peak resident
set size of the whole interpreter, imports included, so SuperLU's allocations, invisible to
tracemalloc, are counted). Times are wall-clock times of the solve: ours is ``Result.seconds`` (basis,
generator, solve and health checks); QuTiP's is building H and the collapse operators plus
``steadystate`` (the build is a few ms). Each time is the best of ``--repeat`` runs in the same
subprocess when one run is short (< 20 s), else a single run. Workers run with one BLAS thread by
default (``--blas-threads``): SciPy's SuperLU (used by both sides) calls OpenBLAS for its small dense
blocks, and with two OpenBLAS threads on a two-core machine shared with other jobs the factorisations
were measured up to 20x slower (restricted n = 200: 2.6 s with one thread, 53 s with two).

Conventions of the QuTiP model: the single-qubit basis is |0⟩ = empty, |1⟩ = excited (``basis(2, 1)``),
so σ− = ``destroy(2)`` and n = ``num(2)``; ``tensor`` puts qubit 0 first, i.e. most significant, which
is our standard order. H = Σ ε_i n_i + Σ g_ij (σ+_i σ−_j + h.c.) + Σ U_ij n_i n_j; a reservoir on qubit
k contributes, for every occupation pattern p of k's Coulomb partners, √(γ n_F) σ+_k P_p and
√(γ (1 − n_F)) σ−_k P_p with n_F = n_F(ε_k + Σ_l U_kl p_l, μ, T) (paper Eq. 2 generalised; in the ideal
limit the rates of paper Eq. 3).

Usage::

    python benchmarks/lindblad_vs_qutip.py [--quick] [--repeat 3] [--solver auto] [--blas-threads 1]

``--quick`` skips n = 6 and the restricted cases beyond n = 50. Exits with status 1 if the two
steady states differ by more than ``--max-deviation`` anywhere.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from table_format import markdown_table

from transportbench.resources import BLAS_THREAD_VARIABLES

FULL_NS = (2, 3, 4, 5, 6)
QUICK_NS = (2, 3, 4, 5)
QUTIP_MAX_N = 5
RESTRICTED_NS = (2, 5, 10, 50, 100, 200)
QUICK_RESTRICTED_NS = (2, 5, 10, 50)
RESTRICTED_QUTIP_MAX_QUBITS = 7
REPEAT_BELOW_SECONDS = 20.0


# ------------------------------------------------------------------------------------ machines
def make_machine(n: int, restricted: bool):
    """The W machine of n target qubits: default parameters, or ideal limit with T = 0 sinks."""
    from transportbench.model import Machine

    if restricted:
        return Machine.w_machine(n, ideal_limit=True, T_sink=0.0)
    return Machine.w_machine(n)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_best(run, repeat: int):
    """Call ``run()`` (returning (value, seconds)) up to ``repeat`` times; keep the fastest."""
    value, best = run()
    if best < REPEAT_BELOW_SECONDS:
        for _ in range(repeat - 1):
            value_again, seconds = run()
            if seconds < best:
                value, best = value_again, seconds
    return value, best


# ------------------------------------------------------------------------------------ our backend
def worker_ours(n: int, restricted: bool, solver: str, repeat: int, out: Path) -> None:
    """Solve with transportbench's local Lindblad backend and save ρ (full basis) and the figures."""
    from transportbench.backends.local import solve_steady
    from transportbench.observables import fidelity, w_state

    machine = make_machine(n, restricted)
    baseline = peak_rss_mb()

    def run():
        result = solve_steady(machine, solver=solver)
        return result, result.seconds

    result, seconds = timed_best(run, repeat)
    peak = peak_rss_mb()
    iterative_seconds, iterative_deviation = seconds, 0.0
    if result.options["solver"] == "direct":  # the alternative path, timed after the memory peak is taken

        def run_iterative():
            other = solve_steady(machine, solver="iterative")
            return other, other.seconds

        other, iterative_seconds = timed_best(run_iterative, repeat)
        iterative_deviation = float(np.abs(other.rho - result.rho).max())
    info = {
        "seconds": seconds, "peak_mb": peak, "baseline_mb": baseline,
        "iterative_seconds": iterative_seconds, "iterative_deviation": iterative_deviation,
        "basis_size": len(result.occupations), "sector_size": result.stats["sector_size"],
        "solver": result.options["solver"], "residual": result.health.residual,
        "min_eigenvalue": result.health.min_eigenvalue, "trace_error": result.health.trace_error,
        "converged": bool(result.health.converged), "notes": list(result.health.notes),
        "fidelity": fidelity(result.rho, result.occupations, w_state([(0.05, 0.05)] * (n - 1)), result.model),
    }
    np.savez(out, rho=result.rho, occupations=result.occupations, info=json.dumps(info))


# ------------------------------------------------------------------------------------ QuTiP
def qutip_model(machine):
    """H and the collapse operators of ``machine`` built from qutip operators (see the module docstring)."""
    import qutip

    from transportbench.thermal import fermi

    size = machine.n_qubits
    identity = qutip.qeye(2)

    def site(operator, qubit):
        return qutip.tensor([operator if q == qubit else identity for q in range(size)])

    lower = [site(qutip.destroy(2), q) for q in range(size)]  # |0><1|: removes an excitation
    number = [site(qutip.num(2), q) for q in range(size)]  # |1><1|
    one = qutip.qeye([2] * size)

    hamiltonian = 0 * one
    for qubit, energy in enumerate(machine.energies):
        hamiltonian += energy * number[qubit]
    for (i, j), g in machine.couplings:
        hamiltonian += g * (lower[i].dag() * lower[j] + lower[j].dag() * lower[i])
    for (i, j), u in machine.coulomb:
        hamiltonian += u * number[i] * number[j]

    c_ops = []
    for reservoir in machine.reservoirs:
        k = reservoir.qubit
        partners = machine.coulomb_partners(k)
        for pattern in itertools.product((0, 1), repeat=len(partners)):
            projector = one
            for partner, occupied in zip(partners, pattern, strict=True):
                projector = projector * (number[partner] if occupied else one - number[partner])
            if machine.ideal_limit:  # paper Eq. (3), as documented on Machine
                if any(pattern):
                    filled = 0.0
                elif reservoir.chemical_potential > 0:
                    filled = 1.0
                else:
                    filled = float(fermi(machine.energies[k], reservoir.chemical_potential, reservoir.temperature))
            else:
                level = machine.energies[k] + sum(machine.coulomb_energy(k, partner) * occupied
                                                  for partner, occupied in zip(partners, pattern, strict=True))
                filled = float(fermi(level, reservoir.chemical_potential, reservoir.temperature))
            if filled > 0:
                c_ops.append(math.sqrt(reservoir.rate * filled) * lower[k].dag() * projector)
            if filled < 1:
                c_ops.append(math.sqrt(reservoir.rate * (1 - filled)) * lower[k] * projector)
    for qubit, kappa in enumerate(machine.dephasing):
        if kappa:
            c_ops.append(math.sqrt(kappa) * (2 * number[qubit] - one))
    return hamiltonian, c_ops


def check_qutip_ordering(size: int) -> None:
    """Assert that qutip's tensor order equals ours: qubit 0 most significant, basis(2, 1) excited."""
    import qutip

    from transportbench.occupation import full_basis

    rng = np.random.default_rng(size)
    for pattern in rng.integers(0, 2, size=(5, size)):
        ket = qutip.tensor([qutip.basis(2, int(b)) for b in pattern]).full().ravel()
        assert np.flatnonzero(ket)[0] == int("".join(map(str, pattern)), 2)
        assert (full_basis(size)[np.flatnonzero(ket)[0]] == pattern).all()
    number = qutip.tensor([qutip.num(2)] + [qutip.qeye(2)] * (size - 1)).full().diagonal().real
    assert (number == full_basis(size)[:, 0]).all()


QUTIP_METHODS = {
    "default": {},
    "gmres-ilu": {"method": "direct", "solver": "gmres", "use_precond": True, "rtol": 1e-12, "atol": 1e-14},
}
"""Keyword arguments of qutip.steadystate: its defaults (method="direct", sparse LU by scipy's spsolve),
and QuTiP's iterative variant, GMRES preconditioned by scipy's spilu of the whole Liouvillian."""


def worker_qutip(n: int, restricted: bool, method: str, repeat: int, out: Path, compare: Path | None) -> None:
    """Solve with qutip.steadystate (``QUTIP_METHODS[method]``) and save ρ and the figures."""
    import qutip

    machine = make_machine(n, restricted)
    check_qutip_ordering(machine.n_qubits)
    baseline = peak_rss_mb()

    def run():
        start = time.perf_counter()
        hamiltonian, c_ops = qutip_model(machine)
        built = time.perf_counter()
        state = qutip.steadystate(hamiltonian, c_ops, **QUTIP_METHODS[method])
        end = time.perf_counter()
        return (hamiltonian, c_ops, state, built - start), end - start

    start = time.perf_counter()
    try:
        (hamiltonian, c_ops, state, build_seconds), seconds = timed_best(run, repeat)
    except (MemoryError, RuntimeError) as error:  # SuperLU: "Can't expand MemType 1: jcol ..." under the cap
        message = str(error) or type(error).__name__
        failed = {"failed": message, "seconds": time.perf_counter() - start, "peak_mb": peak_rss_mb()}
        np.savez(out, info=json.dumps(failed))
        return
    peak = peak_rss_mb()  # before the checks below, which need the Liouvillian again
    generator = qutip.liouvillian(hamiltonian, c_ops)
    rho = state.full()

    def residual(matrix: np.ndarray) -> float:
        vector = qutip.operator_to_vector(qutip.Qobj(matrix, dims=state.dims))
        return float(np.linalg.norm((generator * vector).full()))

    info = {
        "seconds": seconds, "build_seconds": build_seconds, "peak_mb": peak, "baseline_mb": baseline,
        "liouvillian_size": generator.shape[0], "residual": residual(rho),
        "min_eigenvalue": float(np.linalg.eigvalsh((rho + rho.conj().T) / 2)[0]),
        "trace_error": float(abs(np.trace(rho) - 1)), "qutip": qutip.__version__,
    }
    if compare is not None:  # residual of *our* steady state in QuTiP's generator: who is right?
        ours = np.load(compare)
        info["residual_of_ours"] = residual(embed(ours["rho"], ours["occupations"], machine.n_qubits))
    np.savez(out, rho=rho, info=json.dumps(info))


# ------------------------------------------------------------------------------------ driver
def embed(rho: np.ndarray, occupations: np.ndarray, n_qubits: int) -> np.ndarray:
    """ρ on a subset basis (rows of ``occupations``) as the full 2^N × 2^N matrix in standard order."""
    from transportbench.occupation import full_basis, lookup

    positions = lookup(full_basis(n_qubits), occupations)
    full = np.zeros((2**n_qubits,) * 2, dtype=complex)
    full[np.ix_(positions, positions)] = rho
    return full


def spawn(arguments: list[str], out: Path, timeout: float, memory_gib: float,
          blas_threads: int) -> tuple[dict | None, str]:
    """Run this script as a worker in a fresh interpreter; return its info (None on failure) and a reason.

    The worker's address space is capped at ``memory_gib`` (the machine is shared); a worker still
    running after ``timeout`` seconds is killed, and its peak RSS so far is reported. ``blas_threads``
    > 0 sets the BLAS thread count of the worker (0: leave the environment alone).
    """
    command = [sys.executable, __file__, *arguments, "--out", str(out)]
    limit = int(memory_gib * 2**30)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    environment = dict(os.environ)
    if blas_threads:
        environment.update({name: str(blas_threads) for name in BLAS_THREAD_VARIABLES})
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, text=True, preexec_fn=cap,
                                   env=environment)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            high_water = _peak_of(process.pid)
            process.kill()
            process.wait()
            return None, f"killed after {time.perf_counter() - start:.0f} s (peak RSS so far {high_water})"
        stderr.seek(0)
        lines = stderr.read().strip().splitlines()
    if process.returncode != 0:
        last = (lines or ["?"])[-1][:120]
        memory = any(text in line for line in lines for text in ("MemoryError", "Not enough memory", "Can't expand"))
        reason = f"out of memory (> {memory_gib:g} GiB address space; {last})" if memory else f"failed: {last}"
        return None, f"{reason} after {time.perf_counter() - start:.0f} s"
    return json.loads(str(np.load(out)["info"])), ""


def _peak_of(pid: int) -> str:
    """Peak RSS (VmHWM) of a running process, read from /proc, as text."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def fmt_seconds(value: float) -> str:
    """Seconds with 3 significant digits."""
    return f"{value:.3g}"


def progress(message: str) -> None:
    """One line of progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def compare_case(n: int, restricted: bool, qutip_methods: tuple[str, ...], arguments: argparse.Namespace,
                 workdir: Path) -> dict:
    """Run ours (and QuTiP with each of ``qutip_methods``) for one case in subprocesses; return the figures."""
    label = f"{'restricted ' if restricted else ''}n={n}"
    stem = label.replace(" ", "_").replace("=", "")
    flags = ["--n", str(n), "--repeat", str(arguments.repeat)] + (["--restricted"] if restricted else [])
    ours_file = workdir / f"ours_{stem}.npz"
    progress(f"{label}: our backend ...")
    ours, reason = spawn(["--worker", "ours", "--solver", arguments.solver, *flags], ours_file, arguments.timeout,
                         arguments.memory_gib, arguments.blas_threads)
    if ours is None:
        raise RuntimeError(f"our backend {label}: {reason}")
    progress(f"{label}: ours {ours['seconds']:.3g} s ({ours['solver']}), peak {ours['peak_mb']:.0f} MiB")
    row = {"n": n, "qubits": 2 * n - 1, "ours": ours, "qutip": {}}
    for method in qutip_methods:
        qutip_file = workdir / f"qutip_{method}_{stem}.npz"
        timeout = arguments.qutip_timeout if method == "default" else arguments.timeout
        progress(f"{label}: QuTiP steadystate ({method}, timeout {timeout:.0f} s) ...")
        qt, reason = spawn(["--worker", "qutip", "--qutip-method", method, "--compare", str(ours_file), *flags],
                           qutip_file, timeout, arguments.memory_gib, arguments.blas_threads)
        if qt is not None and "failed" in qt:
            memory = any(word in qt["failed"].lower() for word in ("expand", "memory", "allocate"))
            what = f"out of memory (> {arguments.memory_gib:g} GiB)" if memory else "failed"
            column = re.search(r"jcol (\d+)", qt["failed"])
            where = f" at column {column.group(1)} of {4 ** (2 * n - 1)}" if column else ""
            qt, reason = None, (f"{what}{where} after {qt['seconds']:.0f} s, peak RSS {qt['peak_mb'] / 1024:.1f} GiB"
                                f" [{qt['failed'][:60]}]")
        if qt is None:
            progress(f"{label}: QuTiP ({method}) {reason}")
            row["qutip"][method] = {"failed": reason}
            continue
        saved = np.load(ours_file)
        mine = embed(saved["rho"], saved["occupations"], 2 * n - 1)
        qt["deviation"] = float(np.abs(mine - np.load(qutip_file)["rho"]).max())
        progress(f"{label}: QuTiP ({method}) {qt['seconds']:.3g} s, peak {qt['peak_mb']:.0f} MiB; "
                 f"max|Δρ| = {qt['deviation']:.1e}")
        row["qutip"][method] = qt
    return row


def qutip_size_note(n: int) -> str:
    """Why QuTiP is not run: size of the 4^N Liouvillian."""
    qubits = 2 * n - 1
    size = 4**qubits
    per_row = 3.2 + 2.07 * (n - 2)  # measured nnz per row of QuTiP's CSR Liouvillian: 3.2, 5.2, 7.3, 9.4 for n = 2…5
    return (f"n = {n} ({qubits} qubits): QuTiP not run. Its Liouvillian is 4^{qubits} = {size:,} square with about "
            f"{per_row * size / 1e6:.0f} million nonzeros ({per_row:.1f} per row, extrapolated from n = 2…5), i.e. "
            f"about {per_row * size * 20 / 2**30:.1f} GiB in CSR (complex values, 32-bit indices) before any "
            "factorisation; already at n = 5 (4^9 = 262,144 rows) the default sparse LU ran out of memory and "
            "GMRES + ILU took minutes (see the n = 5 row).")


def _cell(info: dict | None, key: str, spec: str) -> str:
    if info is None:
        return "—"
    if "failed" in info:
        return info["failed"] if key == "seconds" else "—"
    return format(info[key], spec)


def _ratio(info: dict | None, ours: dict) -> str:
    """QuTiP time / our time; a lower bound for a QuTiP run killed after a timeout."""
    if info is None:
        return "—"
    if "failed" in info:
        seconds = re.search(r"killed after (\d+) s", info["failed"])
        return f"> {float(seconds.group(1)) / ours['seconds']:.0f}" if seconds else "—"
    return f"{info['seconds'] / ours['seconds']:.1f}"


def main_tables(rows: list[dict]) -> None:
    """Print the ours-vs-QuTiP tables: time and memory, then agreement and health."""
    table = [("n", "qubits", "ours s", "ours solver", "ours s, iterative", "QuTiP direct s", "direct/ours",
              "QuTiP gmres+ILU s", "gmres/ours", "ours peak MiB", "QuTiP direct peak MiB",
              "QuTiP gmres peak MiB")]
    for row in rows:
        ours, direct, gmres = row["ours"], row["qutip"].get("default"), row["qutip"].get("gmres-ilu")

        table.append((
            str(row["n"]), str(row["qubits"]), fmt_seconds(ours["seconds"]), ours["solver"],
            fmt_seconds(ours["iterative_seconds"]), _cell(direct, "seconds", ".3g"), _ratio(direct, ours),
            _cell(gmres, "seconds", ".3g"), _ratio(gmres, ours), f"{ours['peak_mb']:.0f}",
            _cell(direct, "peak_mb", ".0f"), _cell(gmres, "peak_mb", ".0f"),
        ))
    print(markdown_table(table, right_aligned=range(len(table[0]))))
    print()
    table = [("n", "max abs Δρ, direct", "max abs Δρ, gmres", "ours residual", "ours min eig",
              "QuTiP residual (direct; gmres)", "QuTiP min eig (direct; gmres)", "ours in QuTiP's 𝓛: residual")]
    for row in rows:
        ours, direct, gmres = row["ours"], row["qutip"].get("default"), row["qutip"].get("gmres-ilu")
        solved = [info for info in (direct, gmres) if info and "failed" not in info]
        table.append((
            str(row["n"]), _cell(direct, "deviation", ".1e"), _cell(gmres, "deviation", ".1e"),
            f"{ours['residual']:.1e}", f"{ours['min_eigenvalue']:.1e}",
            "; ".join(_cell(info, "residual", ".1e") for info in (direct, gmres)),
            "; ".join(_cell(info, "min_eigenvalue", ".1e") for info in (direct, gmres)),
            f"{solved[0]['residual_of_ours']:.1e}" if solved else "—",
        ))
    print(markdown_table(table, right_aligned=range(len(table[0]))))


def restricted_table(rows: list[dict]) -> None:
    """Print the restricted-case table."""
    table = [("n", "qubits", "basis size", "ΔN=0 sector", "ours s", "ours solver", "fidelity to W_n",
              "residual", "min eig", "ours peak MiB", "QuTiP direct s", "max abs Δρ")]
    for row in rows:
        ours, direct = row["ours"], row["qutip"].get("default")
        table.append((
            str(row["n"]), str(row["qubits"]), str(ours["basis_size"]), str(ours["sector_size"]),
            fmt_seconds(ours["seconds"]), ours["solver"], f"{ours['fidelity']:.12f}",
            f"{ours['residual']:.1e}", f"{ours['min_eigenvalue']:.1e}", f"{ours['peak_mb']:.0f}",
            _cell(direct, "seconds", ".3g"), _cell(direct, "deviation", ".1e"),
        ))
    print(markdown_table(table, right_aligned=range(len(table[0]))))


def parse_arguments() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="skip n = 6 and the restricted cases beyond n = 50; QuTiP's timeout 300 s")
    parser.add_argument("--ns", type=int, nargs="+", help="W machines to run (default 2 3 4 5 6; --quick 2 3 4 5)")
    parser.add_argument("--restricted-ns", type=int, nargs="*",
                        help="restricted cases to run (default 2 5 10 50 100 200; --quick 2 5 10 50)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per short case; the best is reported")
    parser.add_argument("--solver", default="auto", choices=("auto", "direct", "iterative"),
                        help="solver option of our solve_steady (default auto)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per subprocess before it is killed")
    parser.add_argument("--qutip-timeout", type=float, default=None,
                        help="seconds for QuTiP's default direct solve (default 1200, 300 with --quick)")
    parser.add_argument("--memory-gib", type=float, default=8.0,
                        help="address-space cap of every subprocess in GiB (default 8; the machine is shared)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads of every worker (default 1; 0 = inherit). SuperLU calls BLAS for "
                             "small dense blocks; multithreaded OpenBLAS makes it up to 20x slower when the "
                             "other core is busy")
    parser.add_argument("--max-deviation", type=float, default=1e-9, help="allowed max|Δρ| (default 1e-9)")
    parser.add_argument("--worker", choices=("ours", "qutip"), help=argparse.SUPPRESS)
    parser.add_argument("--qutip-method", choices=tuple(QUTIP_METHODS), default="default", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--restricted", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compare", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.qutip_timeout is None:
        arguments.qutip_timeout = 300.0 if arguments.quick else 1200.0
    return arguments


def main() -> int:
    """Run every case in subprocesses, print the tables, return the exit status."""
    arguments = parse_arguments()
    if arguments.worker == "ours":
        worker_ours(arguments.n, arguments.restricted, arguments.solver, arguments.repeat, arguments.out)
        return 0
    if arguments.worker == "qutip":
        worker_qutip(arguments.n, arguments.restricted, arguments.qutip_method, arguments.repeat, arguments.out,
                     arguments.compare)
        return 0

    import qutip
    import scipy

    ns = arguments.ns or (QUICK_NS if arguments.quick else FULL_NS)
    restricted_ns = arguments.restricted_ns
    if restricted_ns is None:
        restricted_ns = QUICK_RESTRICTED_NS if arguments.quick else RESTRICTED_NS
    both = tuple(QUTIP_METHODS)
    with tempfile.TemporaryDirectory(prefix="lindblad_vs_qutip_") as scratch:
        workdir = Path(scratch)
        rows = [compare_case(n, False, both if n <= QUTIP_MAX_N else (), arguments, workdir) for n in ns]
        restricted_rows = [
            compare_case(n, True, ("default",) if 2 * n - 1 <= RESTRICTED_QUTIP_MAX_QUBITS else (), arguments, workdir)
            for n in restricted_ns]

    print(f"W machine steady state: ours = transportbench local Lindblad, solve_steady(machine, "
          f"solver={arguments.solver!r}); QuTiP {qutip.__version__} steadystate(H, c_ops) with its defaults "
          "(method='direct': scipy spsolve, SuperLU/COLAMD, on the full 4^N Liouvillian) and with "
          f"{QUTIP_METHODS['gmres-ilu']} (GMRES + scipy spilu preconditioner)")
    print(f"(Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
          f"{os.cpu_count()} cores shared with other jobs: timings are noisy. Times: best of {arguments.repeat} "
          f"for runs < {REPEAT_BELOW_SECONDS:g} s, else one run. Memory: ru_maxrss of a fresh subprocess per "
          f"solve, interpreter and imports included; address space capped at {arguments.memory_gib:g} GiB; QuTiP's "
          f"direct solve killed after {arguments.qutip_timeout:g} s; BLAS threads per worker: "
          f"{arguments.blas_threads or 'inherited'})")
    print()
    print("Default parameters: U = 15, μ = 8, T = 1, γ = 0.1, g = 0.05, ε = 1")
    print()
    main_tables(rows)
    for row in rows:
        if row["n"] > QUTIP_MAX_N:
            print()
            print(qutip_size_note(row["n"]))
    qutip_runs = [info for row in rows for info in row["qutip"].values() if "failed" not in info]
    baselines = {"ours": [row["ours"]["baseline_mb"] for row in rows],
                 "QuTiP": [info["baseline_mb"] for info in qutip_runs]}
    ranges = [f"{name} {min(values):.0f}–{max(values):.0f} MiB" for name, values in baselines.items() if values]
    print()
    print("Memory baseline (RSS after imports, before the solve): " + ", ".join(ranges))
    print()
    print("Restricted case: ideal limit, T_sink = 0 (only vacuum + single excitations reachable)")
    print()
    restricted_table(restricted_rows)
    print()
    status = 0
    solved = [info for row in rows + restricted_rows for info in row["qutip"].values() if "failed" not in info]
    worst = max((info["deviation"] for info in solved), default=float("nan"))
    print(f"largest max|Δρ| over all compared cases: {worst:.1e} (allowed {arguments.max_deviation:g})")
    if not solved:
        print("FAIL: no case was solved by QuTiP, nothing compared", file=sys.stderr)
        status = 1
    elif worst > arguments.max_deviation:
        print("FAIL: our backend and QuTiP disagree", file=sys.stderr)
        status = 1
    for row in rows:
        direct = row["qutip"].get("default")
        if direct is not None and row["n"] in (4, 5):
            ours = row["ours"]["seconds"]
            if "failed" in direct:
                print(f"target >= 10x faster than QuTiP (direct) at n = {row['n']}: QuTiP {direct['failed']}, "
                      f"ours {ours:.3g} s")
            else:
                ratio = direct["seconds"] / ours
                print(f"target >= 10x faster than QuTiP (direct) at n = {row['n']}: {ratio:.1f}x "
                      f"({'met' if ratio >= 10 else 'NOT met'})")
        if row["n"] == 6:
            seconds = row["ours"]["seconds"]
            print(f"target n = 6 in < 300 s: {seconds:.0f} s ({'met' if seconds < 300 else 'NOT met'})")
    for row in restricted_rows:
        if row["n"] == 200:
            seconds = row["ours"]["seconds"]
            print(f"target restricted n = 200 in < 10 s: {seconds:.2f} s ({'met' if seconds < 10 else 'NOT met'})")
    return status


if __name__ == "__main__":
    sys.exit(main())
