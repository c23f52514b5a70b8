# Cython declarations for qmeq.approach.c_kernel_handler (QmeQ 1.1 ships no .pxd files).
# Written for transportbench; see tools/build_qmeq.py.
from ..wrappers.c_mytypes cimport bool_t, int_t, long_t, double_t, complex_t


cdef class KernelHandler:
    cdef long_t bbp, bbpi
    cdef bool_t bbp_bool, bbpi_bool
    cdef long_t aap, aapi
    cdef int_t aap_sgn

    cdef long_t nmany, ndm0, ndm0r, ndm1, npauli, nleads, nbaths, ncharge
    cdef bool_t no_coherences, no_conjugates
    cdef long_t nelements

    cdef long_t [:] lenlst, dictdm, shiftlst0, shiftlst1, mapdm0
    cdef bool_t [:] booldm0, conjdm0

    cdef double_t [:, :] kern
    cdef double_t [:] phi0
    cdef long_t [:, :] statesdm
    cdef long_t [:] statesdm_count
    cdef long_t [:, :] all_bbp, all_ba

    cdef KernelHandler elph

    cpdef void set_kern(self, kern)
    cpdef void set_phi0(self, phi0)
    cdef void set_statesdm(self, si)
    cdef void set_all_bbp(self)
    cdef void set_all_ba(self)

    cdef bool_t is_included(self, long_t b, long_t bp, long_t bcharge) nogil
    cdef bool_t is_unique(self, long_t b, long_t bp, long_t bcharge) nogil
    cdef void set_energy(self, double_t energy, long_t b, long_t bp, long_t bcharge) nogil
    cdef void set_matrix_element(self, complex_t fct, long_t b, long_t bp, long_t bcharge,
                                 long_t a, long_t ap, long_t acharge) nogil
    cdef void set_matrix_element_pauli(self, double_t fctm, double_t fctp, long_t bb, long_t aa) nogil
    cdef complex_t get_phi0_element(self, long_t b, long_t bp, long_t bcharge) nogil

    cdef long_t get_ind_dm0(self, long_t b, long_t bp, long_t bcharge) nogil
    cdef bool_t get_ind_dm0_conj(self, long_t b, long_t bp, long_t bcharge) nogil
    cdef bool_t get_ind_dm0_bool(self, long_t b, long_t bp, long_t bcharge) nogil
    cdef long_t get_ind_dm1(self, long_t b, long_t a, long_t acharge) nogil


cdef class KernelHandlerMatrixFree(KernelHandler):
    cdef double_t [:] dphi0_dt

    cpdef void set_dphi0_dt(self, double_t [:] dphi0_dt)
    cdef double_t get_phi0_norm(self)


cdef class KernelHandlerRTD(KernelHandler):
    cdef long_t nsingle
    cdef double_t [:, :, :] Wdd
    cdef double_t [:, :, :, :] Wdd2
    cdef double_t [:, :, :] WE1, WE2
    cdef double_t [:, :] ReWnd, ImWnd
    cdef double_t [:, :, :] ReWdn, ImWdn
    cdef double_t [:] Lnn
    cdef double_t [:, :, :] LE, LN

    cdef void add_matrix_element(self, double_t fct, long_t l, long_t b, long_t bp, long_t bcharge,
                                 long_t a, long_t ap, long_t acharge, int_t mi) nogil
    cdef void set_matrix_element_dd(self, long_t l, double_t fctm, double_t fctp,
                                    long_t bb, long_t aa, long_t mi) nogil
    cdef void add_element_2nd_order(self, long_t t_id, long_t l, double_t fct, long_t indx0, long_t indx1,
                                    long_t a3, long_t charge3, long_t a4, long_t charge4) nogil
    cdef void set_matrix_list(self)
