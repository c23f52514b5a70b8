# Cython declarations for qmeq.approach.base.c_RTD (QmeQ 1.1 ships no .pxd files).
# Written for transportbench; see tools/build_qmeq.py.
from ...wrappers.c_mytypes cimport bool_t, int_t, long_t, double_t, complex_t
from ..c_aprclass cimport Approach
from ..c_kernel_handler cimport KernelHandlerRTD


cdef class ApproachRTD(Approach):
    cdef double_t [:, :] Ozaki_poles_and_residues
    cdef complex_t [:, :] _tleads_array
    cdef double_t BW_Ozaki_expansion
    cdef bool_t OffDiagCorrections
    cdef bool_t ImGamma
    cdef bool_t printed_warning_ImGamma
    cdef bool_t nsingle_warning_printed
    cdef long_t nbr_Wdd2_copies

    cpdef long_t get_kern_size(self)
    cdef void add_off_diag_corrections(self, KernelHandlerRTD kh)
    cdef void generate_row_1st_order_kernel(self, long_t b, long_t bcharge, KernelHandlerRTD kh) nogil
    cdef void generate_row_1st_energy_kernel(self, long_t b, long_t bcharge, KernelHandlerRTD kh) nogil
    cdef void generate_row_2nd_energy_kernel(self, long_t b, long_t bcharge, KernelHandlerRTD kh) nogil
    cdef void generate_matrix_element_2nd_order(self, long_t a0, long_t charge, KernelHandlerRTD kh) nogil
    cdef void generate_col_nondiag_kern_1st_order_dn(self, long_t a1, long_t b1, long_t charge,
                                                     KernelHandlerRTD kh) nogil
    cdef void generate_col_nondiag_kern_1st_order_nd(self, long_t a1, long_t charge,
                                                     KernelHandlerRTD kh) nogil
    cdef void generate_row_inverse_Liouvillian(self, long_t a1, long_t b1, long_t charge,
                                               KernelHandlerRTD kh) nogil
    cdef void generate_LN(self)
    cdef void set_Ozaki_params(self)
