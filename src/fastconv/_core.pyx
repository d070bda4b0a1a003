# cython: language_level=3, boundscheck=False, wraparound=False
"""Thin bindings: validated NumPy arrays in, C descriptor out, GIL released.

Arrays reaching this module are already C-contiguous, native-order and of
one dtype (fastconv._args guarantees it); nothing here checks arguments.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t

cnp.import_array()

cdef extern from "fastconv.h" nogil:
    ctypedef struct fc_conv_desc:
        int64_t N, C_in, C_out, groups
        int64_t in_ "in"[3]
        int64_t out[3]
        int64_t k[3]
        int64_t stride[3]
        int64_t dil[3]
        int64_t pad0[3]
        int64_t pad1[3]
        int pad_mode
        int act
    int FC_OK, FC_ENOMEM, FC_EINVAL, FC_F32, FC_F64
    int fc_isa_supported(int isa)
    int fc_get_isa()
    int fc_set_isa(int isa)
    int fc_openmp_enabled()
    int fc_get_num_threads()
    void fc_set_num_threads(int n)
    int fc_conv(const fc_conv_desc *d, int dtype, int algo, const void *x, const void *w,
                const void *b, void *y)
    int fc_conv_choose_algo(const fc_conv_desc *d, int dtype)
    int fc_conv_pack_variant(const fc_conv_desc *d, int dtype, int algo)
    void fc_scratch_release()
    size_t fc_conv_packed_size(const fc_conv_desc *d, int dtype, int algo)
    int fc_conv_pack(const fc_conv_desc *d, int dtype, int algo, const void *w, void *packed)
    int fc_conv_packed(const fc_conv_desc *d, int dtype, int algo, const void *x,
                       const void *packed, const void *b, void *y)
    int fc_conv_transpose(const fc_conv_desc *d, int dtype, const void *x, const void *w,
                          const void *b, void *y)
    size_t fc_conv_transpose_packed_size(const fc_conv_desc *d, int dtype)
    int fc_conv_transpose_pack(const fc_conv_desc *d, int dtype, const void *w, void *packed)
    int fc_conv_transpose_packed(const fc_conv_desc *d, int dtype, const void *x,
                                 const void *packed, const void *b, void *y)
    int fc_separable(const fc_conv_desc *d, int dtype, const void *x, const void *row, int rpc,
                     const void *col, int cpc, const void *b, void *y)
    int fc_dwsep(const fc_conv_desc *dd, int dtype, const void *x, const void *dw,
                 const void *db, int dact, int64_t P, const void *pw, const void *pb, int pact,
                 void *y)
    int fc_involution(const fc_conv_desc *d, int dtype, const void *x, const void *kernel,
                      void *y)
    int fc_max_pool(const fc_conv_desc *d, int dtype, const void *x, void *y, int64_t *idx)
    int fc_avg_pool(const fc_conv_desc *d, int dtype, const void *x, void *y)
    int fc_max_unpool(int64_t NC, int64_t in_plane, int64_t out_plane, int dtype,
                      const void *x, const int64_t *idx, void *y)

ISA_NAMES = ("scalar", "avx2", "avx512")
ALGO_NAMES = ("auto", "direct", "gemm", "winograd")


cdef fc_conv_desc _desc(tuple t) except *:
    cdef fc_conv_desc d
    cdef int i
    d.N, d.C_in, d.C_out, d.groups = t[0], t[1], t[2], t[3]
    for i in range(3):
        d.in_[i] = t[4 + i]
        d.out[i] = t[7 + i]
        d.k[i] = t[10 + i]
        d.stride[i] = t[13 + i]
        d.dil[i] = t[16 + i]
        d.pad0[i] = t[19 + i]
        d.pad1[i] = t[22 + i]
    d.pad_mode = t[25]
    d.act = t[26]
    return d


cdef inline void *_ptr(a):
    if a is None:
        return NULL
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef inline int _dt(a):
    return FC_F64 if (<cnp.ndarray>a).dtype.itemsize == 8 else FC_F32


cdef int _check(int status) except -1:
    if status == FC_ENOMEM:
        raise MemoryError("fastconv: out of memory for scratch buffers")
    if status != FC_OK:
        raise ValueError(f"fastconv: the kernel rejected its arguments (status {status})")
    return 0


# ---------------------------------------------------------------- machine

def supported_isas():
    """ISA levels this CPU (and OS) can run, lowest first."""
    return [n for i, n in enumerate(ISA_NAMES) if fc_isa_supported(i)]


def get_isa():
    return ISA_NAMES[fc_get_isa()]


def set_isa(name):
    if name not in ISA_NAMES:
        raise ValueError(f"ISA must be one of {ISA_NAMES}, got {name!r}")
    if fc_set_isa(ISA_NAMES.index(name)) != FC_OK:
        raise RuntimeError(f"this CPU cannot run the {name!r} kernels "
                           f"(supported: {supported_isas()})")


def openmp_enabled():
    return bool(fc_openmp_enabled())


def get_num_threads():
    return fc_get_num_threads()


def set_num_threads(int n):
    fc_set_num_threads(n)


def choose_algo(tuple desc, int dtype_code):
    cdef fc_conv_desc d = _desc(desc)
    return ALGO_NAMES[fc_conv_choose_algo(&d, dtype_code)]


def pack_variant(tuple desc, int algo, int dtype_code):
    """What else than the weights a packing for algo depends on (Winograd: its
    tile size, chosen from the problem size); 0 when nothing."""
    cdef fc_conv_desc d = _desc(desc)
    return fc_conv_pack_variant(&d, dtype_code, algo)


def release_scratch():
    """Free the scratch buffers the kernels keep between calls."""
    fc_scratch_release()


# ---------------------------------------------------------------- ops
# Each binding: the descriptor, the data pointers, one C call without the GIL.

cdef int _ptrs(tuple arrays, void **p) except -1:
    cdef Py_ssize_t i
    for i in range(len(arrays)):
        p[i] = _ptr(arrays[i])
    return 0


def conv(tuple desc, int algo, x, w, b, y):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[4]
    cdef int dt = _dt(x), st
    _ptrs((x, w, b, y), p)
    with nogil:
        st = fc_conv(&d, dt, algo, p[0], p[1], p[2], p[3])
    _check(st)
    return y


def conv_pack(tuple desc, int algo, w):
    """Weights packed for the ISA level in force (the level is in the header)."""
    cdef fc_conv_desc d = _desc(desc)
    cdef int dt = _dt(w), st
    cdef size_t n = fc_conv_packed_size(&d, dt, algo)
    if n == 0:
        raise ValueError("fastconv: this algorithm cannot run this problem")
    packed = np.empty(n, dtype=np.uint8)
    cdef void *p[2]
    _ptrs((w, packed), p)
    with nogil:
        st = fc_conv_pack(&d, dt, algo, p[0], p[1])
    _check(st)
    return packed


def conv_packed(tuple desc, int algo, x, packed, b, y):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[4]
    cdef int dt = _dt(x), st
    _ptrs((x, packed, b, y), p)
    with nogil:
        st = fc_conv_packed(&d, dt, algo, p[0], p[1], p[2], p[3])
    _check(st)
    return y


def conv_transpose(tuple desc, x, w, b, y):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[4]
    cdef int dt = _dt(x), st
    _ptrs((x, w, b, y), p)
    with nogil:
        st = fc_conv_transpose(&d, dt, p[0], p[1], p[2], p[3])
    _check(st)
    return y


def conv_transpose_pack(tuple desc, w):
    cdef fc_conv_desc d = _desc(desc)
    cdef int dt = _dt(w), st
    packed = np.empty(fc_conv_transpose_packed_size(&d, dt), dtype=np.uint8)
    cdef void *p[2]
    _ptrs((w, packed), p)
    with nogil:
        st = fc_conv_transpose_pack(&d, dt, p[0], p[1])
    _check(st)
    return packed


def conv_transpose_packed(tuple desc, x, packed, b, y):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[4]
    cdef int dt = _dt(x), st
    _ptrs((x, packed, b, y), p)
    with nogil:
        st = fc_conv_transpose_packed(&d, dt, p[0], p[1], p[2], p[3])
    _check(st)
    return y


def separable(tuple desc, x, row, bint row_pc, col, bint col_pc, b, y):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[5]
    cdef int dt = _dt(x), st
    _ptrs((x, row, col, b, y), p)
    with nogil:
        st = fc_separable(&d, dt, p[0], p[1], row_pc, p[2], col_pc, p[3], p[4])
    _check(st)
    return y


def dwsep(tuple desc, x, dw, db, int dact, pw, pb, int pact, y):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[6]
    cdef int dt = _dt(x), st
    cdef int64_t P = pw.shape[0]
    _ptrs((x, dw, db, pw, pb, y), p)
    with nogil:
        st = fc_dwsep(&d, dt, p[0], p[1], p[2], dact, P, p[3], p[4], pact, p[5])
    _check(st)
    return y


def involution(tuple desc, x, kernel, y):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[3]
    cdef int dt = _dt(x), st
    _ptrs((x, kernel, y), p)
    with nogil:
        st = fc_involution(&d, dt, p[0], p[1], p[2])
    _check(st)
    return y


def max_pool(tuple desc, x, y, idx):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[3]
    cdef int dt = _dt(x), st
    _ptrs((x, y, idx), p)
    with nogil:
        st = fc_max_pool(&d, dt, p[0], p[1], <int64_t *>p[2])
    _check(st)
    return y


def avg_pool(tuple desc, x, y):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[2]
    cdef int dt = _dt(x), st
    _ptrs((x, y), p)
    with nogil:
        st = fc_avg_pool(&d, dt, p[0], p[1])
    _check(st)
    return y


def max_unpool(x, idx, y):
    """x (N, C, Hi, Wi) values, idx int64 positions in y's (N, C, Ho, Wo) planes."""
    cdef void *p[3]
    cdef int dt = _dt(x), st
    cdef int64_t NC = y.shape[0] * y.shape[1]
    cdef int64_t inp = x.shape[2] * x.shape[3]
    cdef int64_t outp = y.shape[2] * y.shape[3]
    _ptrs((x, idx, y), p)
    with nogil:
        st = fc_max_unpool(NC, inp, outp, dt, p[0], <const int64_t *>p[1], p[2])
    if st == FC_EINVAL:
        raise ValueError(f"indices must lie in [0, {outp}) (the output plane H*W)")
    _check(st)
    return y
