# Cython declarations for qmeq.approach.base.c_lindblad (QmeQ 1.1 ships no .pxd files).
# Written for transportbench; see tools/build_qmeq.py. The kernel adds no C attributes or methods
# beyond those of its base class; it overrides the base class's methods.
from ...wrappers.c_mytypes cimport bool_t, int_t, long_t, double_t, complex_t
from ..c_aprclass cimport Approach


cdef class ApproachLindblad(Approach):
    pass
