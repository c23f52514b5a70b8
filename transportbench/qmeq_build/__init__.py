"""Build QmeQ 1.1 from its source package with compiled Cython kernels and install it.

QmeQ 1.1 has binary wheels only for CPython 3.6-3.9. Its source package cannot be built as shipped
on Python 3.11 with NumPy 2: the generated C files are too old, the
Cython declaration files (``.pxd``) are missing, and a few imports no longer exist. This subpackage
makes the build reproducible, and ships in transportbench's wheel with its data files (``data/``)::

    transportbench-build-qmeq                     # into the Python that runs it
    python -m transportbench.qmeq_build --install-into .venv/bin/python --build-dir build/qmeq

The build directory defaults to ``$XDG_CACHE_HOME/transportbench/qmeq`` (``~/.cache/transportbench/qmeq``);
a clone's ``make setup`` passes ``--build-dir build/qmeq``.

Steps (each failure stops the build with one line naming the step and what to do, exit code 1):

1. ``target``     ask the target interpreter for its Python, NumPy and SciPy versions.
2. ``cache``      hash every build input; a wheel cached under that key skips steps 3-8.
3. ``venv``       build venv ``venv`` in the build directory with ``data/build-requirements.txt`` plus
                  numpy/scipy pinned to the target's versions.
4. ``download``   ``pip download`` the sdist, then ``checksum``: verify its SHA-256.
5. ``extract``    unpack it and normalise line endings (the sdist mixes CRLF and LF).
6. ``prepare``    add our ``.pxd`` files (``data/pxd``), apply ``data/patches``, record
                  the C layout of the shipped generated files, delete them.
7. ``cythonize``/``compile``  build the wheel (Cython 3 regenerates every C file); on x86-64 CPUs
                  that support it, with ``-march=x86-64-v3 -ffp-contract=off`` (2.5x faster 2vN).
8. ``pxd check``  the regenerated C files must have the shipped layout: every cdef class struct,
                  method table and exported C function identical to QmeQ 1.1's own binaries.
9. ``install``    ``pip install --no-deps --force-reinstall`` the wheel into the target.
10. ``verify``    every QmeQ extension module imports from a compiled file and the Builder uses
                  the compiled approaches; otherwise QmeQ is uninstalled from the target again, so
                  no silent fallback to the pure-Python kernels is ever left behind.
"""

from transportbench.qmeq_build.cli import main

__all__ = ["main"]
