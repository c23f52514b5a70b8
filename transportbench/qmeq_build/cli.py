"""The driver and command line of the QmeQ build."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from transportbench.qmeq_build.common import Paths, StepFailed, Target, print_log_tail, say
from transportbench.qmeq_build.inputs import (
    build_inputs,
    cache_key,
    cached_wheel,
    optimisation_cflags,
    pinned_requirements,
    query_target,
)
from transportbench.qmeq_build.install import install_wheel, verify_installation
from transportbench.qmeq_build.source import (
    add_pxd_files,
    apply_patches,
    ensure_build_venv,
    extract_sdist,
    fetch_sdist,
    record_and_delete_shipped_c,
)
from transportbench.qmeq_build.wheel import build_wheel, check_layouts, store_in_cache

# ------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------


def build_fresh_wheel(paths: Paths, target: Target, key: str, inputs: dict) -> Path:
    """Run steps 3-8 and cache the resulting wheel.

    Parameters
    ----------
    paths : Paths
        Build directory layout.
    target : Target
        The interpreter the wheel is built for.
    key : str
        Cache key of ``inputs``.
    inputs : dict
        All build inputs (see `build_inputs`).

    Returns
    -------
    Path
        The cached wheel.
    """
    ensure_build_venv(paths, target, inputs["requirements"])
    archive = fetch_sdist(paths)
    source = extract_sdist(archive, paths)
    add_pxd_files(source)
    apply_patches(source, paths)
    shipped = record_and_delete_shipped_c(source)
    wheel = build_wheel(source, paths, inputs["cflags"])
    check_layouts(source, shipped)
    return store_in_cache(wheel, paths, key, inputs)


def build_and_install(target_python: str, build_dir: Path, force_rebuild: bool) -> None:
    """Build (or reuse) the QmeQ wheel and install it into ``target_python``.

    Parameters
    ----------
    target_python : str
        Interpreter to install into.
    build_dir : Path
        Build directory (venv, downloads, wheel cache, logs).
    force_rebuild : bool
        Ignore a cached wheel.
    """
    started = time.monotonic()
    paths = Paths(build_dir)
    target = query_target(target_python)
    say(f"target: Python {target.version} ({target.soabi}), numpy {target.numpy}, scipy {target.scipy}")
    inputs = build_inputs(target, pinned_requirements(target), optimisation_cflags(target))
    key = cache_key(inputs)
    wheel = None if force_rebuild else cached_wheel(paths, key)
    if wheel is not None:
        say(f"cache: reusing {wheel.relative_to(paths.root)}")
    else:
        say(f"cache: no wheel for key {key}; building")
        wheel = build_fresh_wheel(paths, target, key, inputs)
    install_wheel(wheel, target, paths)
    verify_installation(target, paths)
    say(f"done in {time.monotonic() - started:.1f} s (wheel {wheel.relative_to(paths.root)})")


def default_build_dir() -> Path:
    """The build directory when none is given: ``transportbench/qmeq`` in the user's cache directory.

    Returns
    -------
    Path
        ``$XDG_CACHE_HOME/transportbench/qmeq`` if ``XDG_CACHE_HOME`` is an absolute path (the XDG base
        directory specification ignores relative ones), else ``~/.cache/transportbench/qmeq``.
    """
    cache = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return root / "transportbench" / "qmeq"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    from transportbench import qmeq_build

    parser = argparse.ArgumentParser(prog="transportbench-build-qmeq", description=qmeq_build.__doc__.split("\n\n")[0])
    parser.add_argument("--install-into", default=sys.executable, metavar="PYTHON",
                        help="interpreter to install QmeQ into, e.g. .venv/bin/python (default: the Python that "
                             "runs this command)")
    parser.add_argument("--build-dir", type=Path, default=default_build_dir(),
                        help="build directory: venv, downloads, wheel cache, logs (default: "
                             "$XDG_CACHE_HOME/transportbench/qmeq, else ~/.cache/transportbench/qmeq)")
    parser.add_argument("--force-rebuild", action="store_true", help="ignore a cached wheel")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the build; return the process exit status."""
    arguments = parse_arguments(argv)
    # Keep the interpreter path unresolved: a venv's bin/python is a symlink to the base interpreter.
    target_python = os.path.abspath(arguments.install_into)
    try:
        build_and_install(target_python, arguments.build_dir.resolve(), arguments.force_rebuild)
    except StepFailed as failure:
        if failure.log is not None:
            print_log_tail(failure.log)
        print(failure.one_line(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("build_qmeq: interrupted", file=sys.stderr)
        return 130
    return 0

