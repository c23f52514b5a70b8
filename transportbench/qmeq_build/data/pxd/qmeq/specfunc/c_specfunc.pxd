# Cython declarations for qmeq.specfunc.c_specfunc (QmeQ 1.1 ships no .pxd files).
# Written for transportbench; see tools/build_qmeq.py. Only the functions other modules cimport
# (the set the 1.1 binaries export) are declared; the rest stay private to the module.
from ..wrappers.c_mytypes cimport bool_t, int_t, long_t, double_t, complex_t

cdef double_t pi

cdef double_t cabs(complex_t z) nogil
cdef double_t fermi_func(double_t x) nogil
cdef int_t func_pauli(double_t Ecb, double_t mu, double_t T,
                      double_t Dm, double_t Dp, int_t itype,
                      double_t [:] rez)
cdef int_t func_1vN(double_t Ecb, double_t mu, double_t T,
                    double_t Dm, double_t Dp,
                    int_t itype, int_t limit,
                    complex_t [:] rez)
cdef complex_t digamma(complex_t z) nogil
cdef complex_t polygamma(complex_t U, long_t K) nogil
cdef double_t diff_fermi(double_t x, double_t sign=*) nogil
cdef double_t phi(double_t x, double_t Dp, double_t Dm, double_t sign=*) nogil
cdef double_t bose(double_t x, double_t sign=*) nogil
cdef double_t diff_phi(double_t x, double_t sign=*) nogil
cdef double_t diff2_phi(double_t x, double_t sign=*) nogil
cdef double_t delta_phi(double_t x1, double_t x2, double_t Dp, double_t Dm, double_t sign=*) nogil
cdef complex_t integralD(double_t p1, double_t eta1, double_t E1, double_t E2, double_t E3,
                         double_t T1, double_t T2, double_t mu1, double_t mu2, double_t D,
                         double_t[:, :] b_and_R, bint ImGamma) nogil
cdef complex_t integralX(double_t p1, double_t eta1, double_t E1, double_t E2, double_t E3,
                         double_t T1, double_t T2, double_t mu1, double_t mu2, double_t D,
                         double_t[:, :] b_and_R, bint ImGamma) nogil
cdef double_t[:, :] BW_Ozaki(double_t BW)
cdef void diag_matrix_multiply(double_t[:] D, double_t[:, :] M)
