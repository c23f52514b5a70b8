# Cython declarations for qmeq.wrappers.c_mytypes (QmeQ 1.1 ships no .pxd files).
# Written for transportbench; see tools/build_qmeq.py. The C types every QmeQ kernel uses.
cimport numpy as np

ctypedef np.uint8_t bool_t
# QmeQ 1.1 used np.int_t here, which NumPy 2 no longer declares; it was 64 bits wide on LP64
# platforms and QmeQ's Python side uses Python int (int64 under NumPy 2), so a fixed 64-bit type.
ctypedef np.int64_t int_t
ctypedef np.int64_t long_t
ctypedef np.float64_t double_t
ctypedef np.complex128_t complex_t
