# Cython declarations for qmeq.wrappers.c_lapack (QmeQ 1.1 ships no .pxd files).
# Written for transportbench; see tools/build_qmeq.py.

cdef class LapackSolver:
    cdef int info
    cdef bint make_copy
    cdef double* a_double_pointer
    cdef double* b_double_pointer
    cdef double[:, :] a_double
    cdef double[:, :] a_double_copy

    cdef void solve(self)
    cdef void determine_pointer_a(self, a, make_copy)
    cdef void determine_pointer_b(self, b)
    cdef void make_copy_of_a_double(self)


cdef class LapackSolverXGESV(LapackSolver):
    cdef int n
    cdef int nrhs
    cdef int lda
    cdef int* ipiv
    cdef int ldb


cdef class LapackSolverDGESV(LapackSolverXGESV):
    pass


cdef class LapackSolverXGELSD(LapackSolver):
    cdef int m
    cdef int n
    cdef int nrhs
    cdef int lda
    cdef int ldb
    cdef double* s
    cdef double rcond
    cdef int rank
    cdef double* work
    cdef int lwork
    cdef int* iwork
    cdef int liwork

    cdef void determine_work_size(self)


cdef class LapackSolverDGELSD(LapackSolverXGELSD):
    pass
