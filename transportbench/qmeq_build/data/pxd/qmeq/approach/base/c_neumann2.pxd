# Cython declarations for qmeq.approach.base.c_neumann2 (QmeQ 1.1 ships no .pxd files).
# Written for transportbench; see tools/build_qmeq.py. The 2vN approach itself is a Python class;
# its compiled part is the per-energy-point term calculator.
from ...wrappers.c_mytypes cimport bool_t, int_t, long_t, double_t, complex_t
from ..c_kernel_handler cimport KernelHandler


cdef class TermsCalculator2vN:
    cdef object appr
    cdef KernelHandler kernel_handler
    cdef long_t kpnt_left

    cdef double_t [:] Ek_grid
    cdef double_t [:] Ek_grid_ext
    cdef double_t [:] Ea
    cdef complex_t [:, :, :] Tba
    cdef double_t [:, :] fkp, fkm
    cdef complex_t [:, :] hfkp, hfkm
    cdef complex_t [:, :, :, :] phi1k_delta, phi1k_delta_old, kern1k_inv, hphi1k_delta

    cdef void retrieve_approach_variables(self)
    cdef void phi1k_local(self, long_t k, long_t l, KernelHandler kh)
    cdef void phi1k_iterate(self, long_t k, long_t l, KernelHandler kh)
    cdef complex_t func_2vN(self, double_t Ek, long_t l, int_t eta, complex_t [:, :] hfk)
    cdef void get_at_k1(self, double_t Ek, long_t l, long_t cb, bint conj, complex_t fct, int_t eta,
                        complex_t [:] term)
