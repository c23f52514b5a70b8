"""Steps 3-6 of the QmeQ build: build venv, download and checksum, extract, prepare the source tree."""

from __future__ import annotations

import re
import shutil
import tarfile
from pathlib import Path

from transportbench.qmeq_build.common import (
    EXTENSION_MODULES,
    PATCH_DIR,
    PXD_ROOT,
    QMEQ_VERSION,
    REQUIREMENTS_FILE,
    SDIST_NAME,
    SDIST_SHA256,
    TEXT_SUFFIXES,
    Paths,
    StepFailed,
    Target,
    file_sha256,
    run_logged,
    say,
)

# ------------------------------------------------------------------------------------------------
# Step 3: build venv
# ------------------------------------------------------------------------------------------------


def ensure_build_venv(paths: Paths, target: Target, requirements: list[str]) -> None:
    """Create (or reuse) the build venv with exactly the pinned requirements.

    Parameters
    ----------
    paths : Paths
        Build directory layout.
    target : Target
        Its interpreter is the base of the build venv (same Python version and ABI).
    requirements : list of str
        Pinned build requirements.
    """
    stamp = paths.venv / ".build-requirements"
    wanted = "\n".join([f"# python {target.version} {target.soabi} {target.platform}", *requirements]) + "\n"
    if paths.venv_python.exists() and stamp.is_file() and stamp.read_text() == wanted:
        say(f"venv: reusing {paths.venv}")
        return
    say(f"venv: creating {paths.venv} with {', '.join(requirements)}")
    shutil.rmtree(paths.venv, ignore_errors=True)
    run_logged([target.python, "-m", "venv", paths.venv], "venv", paths.logs / "venv.log",
               "make sure the target's Python has the venv module (apt-get install python3-venv)")
    requirements_lock = paths.root / "build-requirements.lock"
    requirements_lock.write_text("\n".join(requirements) + "\n")
    run_logged([paths.venv_python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                "-r", requirements_lock], "venv", paths.logs / "venv-install.log",
               "check that PyPI is reachable (network, pip config) and the pins in "
               f"{REQUIREMENTS_FILE} exist for this Python")
    stamp.write_text(wanted)


# ------------------------------------------------------------------------------------------------
# Step 4: download and checksum
# ------------------------------------------------------------------------------------------------


def fetch_sdist(paths: Paths) -> Path:
    """Download the QmeQ sdist (unless already present) and verify its SHA-256.

    Parameters
    ----------
    paths : Paths
        Build directory layout.

    Returns
    -------
    Path
        The verified archive.
    """
    archive = paths.downloads / SDIST_NAME
    if not archive.is_file():
        say(f"download: qmeq=={QMEQ_VERSION} source package")
        paths.downloads.mkdir(parents=True, exist_ok=True)
        run_logged([paths.venv_python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--no-build-isolation", "--no-input", "--disable-pip-version-check",
                    "-d", paths.downloads, f"qmeq=={QMEQ_VERSION}"],
                   "download", paths.logs / "download.log",
                   "check that PyPI is reachable (network, pip config); the download needs "
                   "setuptools<61, numpy and Cython in the build venv")
        if not archive.is_file():
            raise StepFailed("download", f"pip did not produce {SDIST_NAME}",
                             "check the log; the package name or version may have changed",
                             paths.logs / "download.log")
    digest = file_sha256(archive)
    if digest != SDIST_SHA256:
        archive.unlink()
        raise StepFailed("checksum", f"{SDIST_NAME} has SHA-256 {digest}, expected {SDIST_SHA256}",
                         "the archive was deleted; rerun to download it again, and if the hash still "
                         "differs, stop: the published source package is not the one this build trusts")
    say(f"checksum: {SDIST_NAME} sha256 ok")
    return archive


# ------------------------------------------------------------------------------------------------
# Step 5: extract
# ------------------------------------------------------------------------------------------------


def extract_sdist(archive: Path, paths: Paths) -> Path:
    """Unpack the sdist into a fresh work tree and normalise line endings to LF.

    Parameters
    ----------
    archive : Path
        Verified sdist.
    paths : Paths
        Build directory layout.

    Returns
    -------
    Path
        Root of the unpacked source tree.
    """
    shutil.rmtree(paths.work, ignore_errors=True)
    paths.work.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(paths.work, filter="data")
            else:  # Python < 3.11.4: no extraction filters; the archive's hash was verified
                tar.extractall(paths.work)
    except (tarfile.TarError, OSError) as error:
        raise StepFailed("extract", f"cannot unpack {archive.name}: {error}",
                         f"delete {archive} and rerun to download it again") from error
    source = paths.work / f"qmeq-{QMEQ_VERSION}"
    if not (source / "setup.py").is_file():
        raise StepFailed("extract", f"{archive.name} has no qmeq-{QMEQ_VERSION}/setup.py",
                         "the source package layout changed; update transportbench.qmeq_build")
    for path in source.rglob("*"):
        if path.suffix in TEXT_SUFFIXES and path.is_file():
            path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    return source


# ------------------------------------------------------------------------------------------------
# Step 6: prepare (pxd files, patches, shipped C layout)
# ------------------------------------------------------------------------------------------------


def module_source(source: Path, module: str, suffix: str) -> Path:
    """Return the file of ``module`` (dotted name) with ``suffix`` in the source tree."""
    return source.joinpath(*module.split(".")).with_suffix(suffix)


def add_pxd_files(source: Path) -> None:
    """Copy our declaration files next to the ``.pyx`` files; require exactly one per module.

    Parameters
    ----------
    source : Path
        Root of the unpacked source tree.
    """
    ours = {path.relative_to(PXD_ROOT).with_suffix("").as_posix().replace("/", ".")
            for path in PXD_ROOT.rglob("*.pxd")}
    missing, extra = set(EXTENSION_MODULES) - ours, ours - set(EXTENSION_MODULES)
    if missing or extra:
        raise StepFailed("prepare", f"{PXD_ROOT} does not match QmeQ's Cython modules "
                         f"(missing: {sorted(missing)}, unexpected: {sorted(extra)})",
                         f"add or remove .pxd files under {PXD_ROOT / 'qmeq'}")
    for module in EXTENSION_MODULES:
        if not module_source(source, module, ".pyx").is_file():
            raise StepFailed("prepare", f"the sdist has no {module}.pyx",
                             "the source package changed; update EXTENSION_MODULES")
        pxd = PXD_ROOT.joinpath(*module.split(".")).with_suffix(".pxd")
        shutil.copyfile(pxd, module_source(source, module, ".pxd"))


def apply_patches(source: Path, paths: Paths) -> None:
    """Apply ``data/patches/*.patch`` in name order with GNU patch.

    Parameters
    ----------
    source : Path
        Root of the unpacked source tree.
    paths : Paths
        Build directory layout (for the logs).
    """
    if shutil.which("patch") is None:
        raise StepFailed("patch", "the 'patch' program is not installed", "apt-get install patch")
    for patch_file in sorted(PATCH_DIR.glob("*.patch")):
        run_logged(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", patch_file],
                   "patch", paths.logs / f"patch-{patch_file.stem}.log",
                   f"update {patch_file} so it applies to qmeq-{QMEQ_VERSION}",
                   cwd=source)
        say(f"patch: applied {patch_file.name}")


def mangled_module(module: str) -> str:
    """Return Cython's C name prefix of a module, e.g. ``4qmeq_8wrappers_8c_lapack``."""
    return "_".join(f"{len(part)}{part}" for part in module.split("."))


STRUCT_RE = re.compile(r"^struct (__pyx_(?:obj|vtabstruct|opt_args)_\w+) \{\n(.*?)^\};", re.S | re.M)
EXPORT_RE = re.compile(r'__Pyx_Export(?:Function|VoidPtr)\((?:"(\w+)"|[\w>-]*?_n_[su]_(\w+)),[^"]*"([^"]*)"')


def c_layout(c_file: Path, module: str) -> dict[str, str]:
    """Read the binary interface of a Cython module from its generated C file.

    The interface is what other modules rely on: the C struct of every cdef class, its method
    table (vtab), optional-argument structs, and the exported C functions and variables.

    Parameters
    ----------
    c_file : Path
        Generated C file.
    module : str
        Dotted module name.

    Returns
    -------
    dict
        Struct or export name -> normalised declaration text.
    """
    text = c_file.read_text(errors="replace")
    own = re.compile(rf"__pyx_(?:obj|vtabstruct|opt_args)_{mangled_module(module)}_\w+$")
    layout = {}
    for match in STRUCT_RE.finditer(text):
        if own.match(match.group(1)):
            body = [line.strip() for line in match.group(2).splitlines() if line.strip()]
            layout[match.group(1)] = "\n".join(body)
    for match in EXPORT_RE.finditer(text):
        layout[f"export {match.group(1) or match.group(2)}"] = match.group(3)
    return layout


def record_and_delete_shipped_c(source: Path) -> dict[str, dict[str, str]]:
    """Record the C layout of each shipped generated file, then delete all shipped C files.

    Parameters
    ----------
    source : Path
        Root of the unpacked source tree.

    Returns
    -------
    dict
        Module -> layout (see `c_layout`).
    """
    layouts = {}
    for module in EXTENSION_MODULES:
        c_file = module_source(source, module, ".c")
        if not c_file.is_file():
            raise StepFailed("prepare", f"the sdist has no generated {module}.c to check against",
                             "the source package changed; update transportbench.qmeq_build")
        layouts[module] = c_layout(c_file, module)
    for c_file in (source / "qmeq").rglob("*.c"):
        c_file.unlink()
    return layouts

