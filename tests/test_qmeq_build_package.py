"""The QmeQ build ships inside the package, for pip users without a clone (no QmeQ needed to run these).

Its data files (patches, ``.pxd`` declarations, pinned build tools) are found through ``importlib.resources``
and are all package data of the wheel, the console command answers ``--help``, its default build directory
is the user's cache (``XDG_CACHE_HOME``), and a failing step ends in one line.
"""

from __future__ import annotations

import glob
import importlib
import os
import subprocess
import sys
import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

import transportbench
from transportbench.qmeq_build import cli
from transportbench.qmeq_build.common import EXTENSION_MODULES, Target
from transportbench.qmeq_build.inputs import pinned_requirements

PACKAGE = "transportbench.qmeq_build"
PACKAGE_DIR = Path(transportbench.__file__).parent / "qmeq_build"
PYPROJECT = Path(transportbench.__file__).parent.parent / "pyproject.toml"
#: Number of Cython modules in QmeQ 1.1 (the list in its setup.py), one .pxd file each.
QMEQ_CYTHON_MODULE_COUNT = 16
PATCHES = ["0001-numpy-instead-of-removed-scipy-aliases.patch", "0002-setup-cython3-directives.patch"]
COMMAND = "transportbench-build-qmeq"


def data_files(node: Traversable, prefix: str = "") -> list[str]:
    """Relative paths of every file below a package resource directory (compiled Python files left out)."""
    found = []
    for child in node.iterdir():
        if child.is_dir():
            found += data_files(child, f"{prefix}{child.name}/")
        elif not child.name.endswith(".pyc"):
            found.append(prefix + child.name)
    return sorted(found)


def test_every_pxd_patch_and_pin_is_found_through_importlib_resources():
    data = files(PACKAGE) / "data"
    pxd = [name for name in data_files(data / "pxd") if name.endswith(".pxd")]
    modules = {name.removesuffix(".pxd").replace("/", ".") for name in pxd}
    assert len(pxd) == QMEQ_CYTHON_MODULE_COUNT and modules == set(EXTENSION_MODULES)
    assert data_files(data / "patches") == PATCHES
    assert all("\n--- a/" in (data / "patches" / name).read_text() for name in PATCHES)
    target = Target(python=sys.executable, version="3.11", soabi="", platform="", numpy="2.0.0", scipy="1.14.0")
    pins = pinned_requirements(target)
    assert any(pin.startswith("Cython==3.") for pin in pins) and pins[-2:] == ["numpy==2.0.0", "scipy==1.14.0"]


def test_package_data_globs_of_pyproject_cover_every_data_file():
    """The wheel holds exactly the files that setuptools' package-data globs select (as setuptools globs them)."""
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]
    patterns = config["package-data"][PACKAGE]
    selected = {Path(path).relative_to(PACKAGE_DIR).as_posix() for pattern in patterns
                for path in glob.glob(os.path.join(PACKAGE_DIR, pattern), recursive=True) if os.path.isfile(path)}
    on_disk = {f"data/{name}" for name in data_files(files(PACKAGE) / "data")}
    assert selected == on_disk


def test_console_script_runs_the_build_and_answers_help(capsys):
    module, function = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"][COMMAND].split(":")
    main = getattr(importlib.import_module(module), function)
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    help_text = capsys.readouterr().out
    assert COMMAND in help_text and "--install-into" in help_text and "--build-dir" in help_text


def test_module_answers_help():
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR.parent.parent)}
    completed = subprocess.run([sys.executable, "-m", PACKAGE, "--help"], capture_output=True, text=True, env=env,
                               check=False)
    assert completed.returncode == 0 and "--force-rebuild" in completed.stdout


def test_default_build_dir_is_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli.default_build_dir() == tmp_path / "transportbench" / "qmeq"
    arguments = cli.parse_arguments([])
    assert arguments.build_dir == tmp_path / "transportbench" / "qmeq" and arguments.install_into == sys.executable
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the XDG specification says
    assert cli.default_build_dir() == Path.home() / ".cache" / "transportbench" / "qmeq"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cli.default_build_dir() == Path.home() / ".cache" / "transportbench" / "qmeq"
    assert cli.parse_arguments(["--build-dir", "build/qmeq"]).build_dir == Path("build/qmeq")


def test_a_failing_step_ends_in_one_line(tmp_path, capsys):
    status = cli.main(["--install-into", str(tmp_path / "no-python"), "--build-dir", str(tmp_path / "build")])
    lines = capsys.readouterr().err.splitlines()
    assert status == 1 and len(lines) == 1
    assert lines[0].startswith("build_qmeq: step 'target' failed: cannot run") and "To fix:" in lines[0]
