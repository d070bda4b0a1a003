# cython: language_level=3, boundscheck=False, wraparound=False
# cython: freethreading_compatible=True
"""Thin bindings: validated NumPy arrays in, C descriptor out, GIL released.

Arrays reaching this module are already C-contiguous, native-order and of
one dtype (fastconv._args guarantees it); nothing here checks arguments.

Free-threaded CPython (3.13t, 3.14t): the module does not need the GIL.  Its
module-level objects (ISA_NAMES, ALGO_NAMES, ISA_ALIASES) are built at import
and only read; a Plan is immutable once made; and every C call already runs
with the GIL released, so concurrent calls from Python threads are what the C
side has always served: its thread pool takes one caller's loop at a time
(under its own lock and atomics), and the process-wide settings (set_isa,
set_num_threads: one int each, written whole, not fenced) apply to the calls
that start after them, GIL or not.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.string cimport memset

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
        double alpha
        int64_t res_off
        int has_res
        int layout
    ctypedef struct fc_plan:
        fc_conv_desc desc
        fc_conv_desc run
        int dtype, isa, flags, algo, why, impl, prep, packs, variant
        int64_t payload
        unsigned long long key
    int FC_OK, FC_ENOMEM, FC_EINVAL, FC_EPACK, FC_F32, FC_F64
    int FC_PLAN_ONESHOT, FC_PLAN_NONFINITE, FC_PLAN_FINITE
    int fc_conv_plan(const fc_conv_desc *d, int dtype, int algo, int isa, int flags, fc_plan *p)
    const char *fc_impl_name(int impl)
    const char *fc_why_text(int why)
    const char *fc_prep_name(int prep)
    int fc_all_finite(int dtype, const void *w, int64_t n)
    size_t fc_plan_packed_size(const fc_plan *p)
    int fc_plan_pack(const fc_plan *p, const void *w, void *packed)
    int fc_plan_run(const fc_plan *p, const void *x, const void *w, const void *b, void *y)
    int fc_plan_run_packed(const fc_plan *p, const void *x, const void *packed, const void *b,
                           void *y)
    int fc_plan_run_res(const fc_plan *p, const void *x, const void *w, const void *b,
                        const void *r, void *y)
    int fc_plan_run_packed_res(const fc_plan *p, const void *x, const void *packed,
                               const void *b, const void *r, void *y)
    int fc_conv_res(const fc_conv_desc *d, int dtype, int algo, const void *x, const void *w,
                    const void *b, const void *r, void *y)
    int fc_conv_transpose_res(const fc_conv_desc *d, int dtype, const void *x, const void *w,
                              const void *packed, const void *b, const void *r, void *y)
    int fc_epilogue(const fc_conv_desc *d, int dtype, const void *b, const void *r, void *y)
    int fc_conv_algo_ok(const fc_conv_desc *d, int algo)
    int fc_isa_supported(int isa)
    int fc_isa_built(int isa)
    const char *fc_isa_name(int isa)
    int FC_ISA_COUNT
    int fc_get_isa()
    int fc_set_isa(int isa)
    int fc_openmp_enabled()
    const char *fc_threading_name()
    void fc_pool_stats(int64_t *out6)
    int fc_get_num_threads()
    void fc_set_num_threads(int n)
    int fc_conv(const fc_conv_desc *d, int dtype, int algo, const void *x, const void *w,
                const void *b, void *y)
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
    int fc_involution_grad_input(const fc_conv_desc *d, int dtype, const void *kernel,
                                 const void *gy, void *gx)
    int fc_involution_grad_kernel(const fc_conv_desc *d, int dtype, const void *x,
                                  const void *gy, void *gk)
    int fc_conv_grad_weight(const fc_conv_desc *d, int dtype, const void *x, const void *gy,
                            void *gw)
    int fc_max_pool(const fc_conv_desc *d, int dtype, const void *x, void *y, int64_t *idx)
    int fc_avg_pool(const fc_conv_desc *d, int dtype, const void *x, void *y)
    int fc_avg_pool_ex(const fc_conv_desc *d, int dtype, const void *x, void *y,
                       int count_include_pad, int64_t divisor_override)
    int fc_global_avg_pool(int64_t NC, int64_t plane, int dtype, const void *x, void *y)
    int fc_global_avg_pool_nhwc(int64_t N, int64_t plane, int64_t C, int dtype, const void *x,
                                void *y)
    int fc_eltwise(int64_t n, int dtype, const void *x, const void *y, void *out, int act, double alpha)
    int fc_act_backward(int64_t n, int dtype, const void *z, const void *gy, void *gz, int act, double alpha)
    int fc_max_unpool(int64_t NC, int64_t in_plane, int64_t out_plane, int dtype,
                      const void *x, const int64_t *idx, void *y)
    int fc_max_pool_backward(int64_t NC, int64_t out_plane, int64_t in_plane, int dtype,
                             const void *gy, const int64_t *idx, void *gx)
    int fc_max_unpool_nhwc(int64_t N, int64_t in_plane, int64_t out_plane, int64_t C, int dtype,
                           const void *x, const int64_t *idx, void *y)

ISA_NAMES = tuple(fc_isa_name(i).decode() for i in range(FC_ISA_COUNT))
ISA_ALIASES = {"scalar": "vec128"}   # the baseline's former name (it runs 128-bit vectors)
ALGO_NAMES = ("auto", "direct", "gemm", "winograd")


cdef fc_conv_desc _desc(tuple t) except *:
    cdef fc_conv_desc d
    cdef int i
    memset(&d, 0, sizeof(d))
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
    if len(t) > 27:
        d.alpha = t[27]
    if len(t) > 28:
        d.layout = t[28]
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
    if status == FC_EPACK:
        raise RuntimeError("fastconv: these packed weights were made for another plan "
                           "(problem geometry, implementation, ISA level or dtype); "
                           "nothing was computed")
    if status != FC_OK:
        raise ValueError(f"fastconv: the kernel rejected its arguments (status {status})")
    return 0


# ---------------------------------------------------------------- machine

def built_isas():
    """The levels this build has (its architecture's), lowest first."""
    return [n for i, n in enumerate(ISA_NAMES) if fc_isa_built(i)]


def supported_isas():
    """ISA levels this CPU (and OS) can run, lowest first."""
    return [n for i, n in enumerate(ISA_NAMES) if fc_isa_supported(i)]


def get_isa():
    return ISA_NAMES[fc_get_isa()]


def set_isa(name):
    name = ISA_ALIASES.get(name, name)
    if name not in ISA_NAMES:
        raise ValueError(f"ISA must be one of {ISA_NAMES}, got {name!r}")
    if not fc_isa_built(ISA_NAMES.index(name)):
        raise RuntimeError(f"this build has no {name!r} kernels: they are another "
                           f"architecture's (this build has {built_isas()})")
    if fc_set_isa(ISA_NAMES.index(name)) != FC_OK:
        raise RuntimeError(f"this CPU cannot run the {name!r} kernels "
                           f"(supported: {supported_isas()})")


def openmp_enabled():
    return bool(fc_openmp_enabled())


def threading_name():
    """The kernels' threading: "pool" (their own threads), "openmp" or "serial"."""
    return fc_threading_name().decode("ascii")


def pool_stats():
    """The pool's counters: loops (run on more than one thread), late (the
    caller waited for a descheduled worker), narrowed (given fewer threads
    after such a wait), capped (fewer threads for the machine's other
    runnable work), load_reads, workers."""
    cdef int64_t v[6]
    fc_pool_stats(v)
    return {"loops": v[0], "late": v[1], "narrowed": v[2], "capped": v[3], "load_reads": v[4],
            "workers": v[5]}


def get_num_threads():
    return fc_get_num_threads()


def set_num_threads(int n):
    fc_set_num_threads(n)


cdef class Plan:
    """Every decision about one convolution, made once in C (fc_conv_plan):
    the algorithm family, the implementation in it, how the input reaches
    it, the ISA level and the packed layout's key.

    Not made directly: :func:`fastconv.conv_plan` returns the plan of a
    functional call, ``layer.plan(x)`` a layer's.  Python only reports the
    choice.  ``print(plan)`` gives one line; :meth:`as_dict` every field.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv as fc
    >>> x = np.zeros((1, 64, 56, 56), np.float32)
    >>> w = np.zeros((64, 64, 3, 3), np.float32)
    >>> plan = fc.conv_plan(x, w, padding=1, algorithm="gemm")
    >>> plan.algorithm, plan.implementation, plan.dtype
    ('gemm', 'gemm', 'float32')
    >>> sorted(plan.as_dict())  # doctest: +NORMALIZE_WHITESPACE
    ['algorithm', 'dtype', 'implementation', 'input_prep', 'isa', 'key',
     'nonfinite_weights', 'packed_nbytes', 'packs', 'reason', 'variant']
    """
    cdef fc_plan p
    cdef readonly tuple desc

    @property
    def algorithm(self):
        """The family: "direct", "gemm" or "winograd" (what "auto" chose)."""
        return ALGO_NAMES[self.p.algo]

    @property
    def implementation(self):
        """The implementation in the family, e.g. "direct-tiles",
        "pointwise-pixels", "grouped-pixels", "depthwise-blocked", "gemm",
        "winograd", "winograd-channel-vector"."""
        return fc_impl_name(self.p.impl).decode()

    @property
    def isa(self):
        """The ISA level whose kernels run: "vec128", "avx2" or "avx512"."""
        return ISA_NAMES[self.p.isa]

    @property
    def dtype(self):
        """"float32" or "float64"."""
        return "float64" if self.p.dtype == FC_F64 else "float32"

    @property
    def input_prep(self):
        """How the input reaches the implementation: "none" (read in place),
        "pad" (a padded copy: padding modes, or zeros where NaN/Inf weights
        must meet the padding), "gather" (pixels gathered into the channels
        of a 1x1 problem) or "pad+gather"."""
        return fc_prep_name(self.p.prep).decode()

    @property
    def packs(self):
        """True: the weights are packed for it; False: it reads them as given."""
        return bool(self.p.packs)

    @property
    def key(self):
        """Names the packed layout: plans of one key share packed weights."""
        return self.p.key

    @property
    def variant(self):
        """The implementation's variant (e.g. Winograd's tile size), an int."""
        return self.p.variant

    @property
    def nonfinite_weights(self):
        """True: planned for weights holding NaN or Inf (the padding is computed)."""
        return bool(self.p.flags & FC_PLAN_NONFINITE)

    @property
    def reason(self):
        """Why the algorithm was chosen, in words."""
        return fc_why_text(self.p.why).decode()

    @property
    def run_shape(self):
        """(C_in, C_out, groups, kernel, input size, padding) of the problem the
        implementation runs, after the input's preparation."""
        r = self.p.run
        return (r.C_in, r.C_out, r.groups, tuple(r.k), tuple(r.in_), tuple(r.pad0), tuple(r.pad1))

    @property
    def packed_nbytes(self):
        """The size of the packed weights in bytes (0 where it does not pack)."""
        return fc_plan_packed_size(&self.p) if self.p.packs else 0

    def as_dict(self):
        """Every field as a dict (the key as 16 hex digits)."""
        return {"algorithm": self.algorithm, "implementation": self.implementation,
                "isa": self.isa, "dtype": self.dtype, "input_prep": self.input_prep,
                "packs": self.packs, "packed_nbytes": self.packed_nbytes,
                "nonfinite_weights": self.nonfinite_weights, "variant": self.variant,
                "key": f"{self.key:016x}", "reason": self.reason}

    def __repr__(self):
        d = self.as_dict()
        return "Plan(" + ", ".join(f"{k}={v!r}" for k, v in d.items()) + ")"

    def __str__(self):
        return (f"{self.algorithm} -> {self.implementation} on {self.isa} ({self.dtype}), "
                f"input: {self.input_prep}, weights: "
                f"{'packed, ' + str(self.packed_nbytes) + ' bytes' if self.packs else 'as given'}"
                f"{', non-finite weights: padding computed' if self.nonfinite_weights else ''}; "
                f"why: {self.reason}")


def plan(tuple desc, int algo, int dtype_code, isa=None, bint oneshot=False, finite=None):
    """The plan for a convolution (isa: a level name, or None for the one in
    force; finite: whether the weights were checked and found all finite, or
    None: not checked, plan_run checks where it matters)."""
    cdef Plan pl = Plan.__new__(Plan)
    cdef fc_conv_desc d = _desc(desc)
    cdef int lv = -1 if isa is None else ISA_NAMES.index(isa)
    cdef int flags = FC_PLAN_ONESHOT if oneshot else 0
    if finite is not None:
        flags |= FC_PLAN_FINITE if finite else FC_PLAN_NONFINITE
    if fc_conv_plan(&d, dtype_code, algo, lv, flags, &pl.p) != FC_OK:
        raise ValueError(f"fastconv: algorithm {ALGO_NAMES[algo]!r} cannot run this problem")
    pl.desc = desc
    return pl


def algo_ok(tuple desc, int algo):
    cdef fc_conv_desc d = _desc(desc)
    return bool(fc_conv_algo_ok(&d, algo))


def all_finite(w):
    """True if the float array w (C-contiguous) holds no NaN and no Inf."""
    cdef void *p = _ptr(w)
    cdef int dt = _dt(w), r
    cdef int64_t n = w.size
    with nogil:
        r = fc_all_finite(dt, p, n)
    return bool(r)


def plan_pack(Plan pl, w):
    """The weights packed for this plan (the key is in the header)."""
    packed = np.empty(fc_plan_packed_size(&pl.p), dtype=np.uint8)
    cdef void *p[2]
    cdef int st
    _ptrs((w, packed), p)
    with nogil:
        st = fc_plan_pack(&pl.p, p[0], p[1])
    _check(st)
    return packed


def plan_run(Plan pl, x, w, b, y, bint packed=False, r=None):
    """Run on the weights as given, or (packed) on weights packed for a plan of
    the same key (plan_pack; another key is a RuntimeError, nothing computed);
    r: a residual shaped as y added before the activation, or None."""
    cdef void *p[5]
    cdef int st
    _ptrs((x, w, b, y, r), p)
    with nogil:
        if packed:
            st = fc_plan_run_packed_res(&pl.p, p[0], p[1], p[2], p[4], p[3])
        else:
            st = fc_plan_run_res(&pl.p, p[0], p[1], p[2], p[4], p[3])
    _check(st)
    return y


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


def conv(tuple desc, int algo, x, w, b, y, r=None):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[5]
    cdef int dt = _dt(x), st
    _ptrs((x, w, b, y, r), p)
    with nogil:
        st = fc_conv_res(&d, dt, algo, p[0], p[1], p[2], p[4], p[3])
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


def conv_transpose(tuple desc, x, w, b, y, r=None):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[5]
    cdef int dt = _dt(x), st
    _ptrs((x, w, b, y, r), p)
    with nogil:
        st = fc_conv_transpose_res(&d, dt, p[0], p[1], NULL, p[2], p[4], p[3])
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


def conv_transpose_packed(tuple desc, x, packed, b, y, r=None):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[5]
    cdef int dt = _dt(x), st
    _ptrs((x, packed, b, y, r), p)
    with nogil:
        st = fc_conv_transpose_res(&d, dt, p[0], NULL, p[1], p[2], p[4], p[3])
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


ctypedef int (*_op3)(const fc_conv_desc *d, int dtype, const void *a, const void *b,
                     void *y) nogil


cdef object _call3(_op3 fn, tuple desc, a, b, y):
    """fn(desc, dtype of y, a, b, y) without the GIL (a, b may be None)."""
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[3]
    cdef int dt = _dt(y), st
    _ptrs((a, b, y), p)
    with nogil:
        st = fn(&d, dt, p[0], p[1], p[2])
    _check(st)
    return y


def involution(tuple desc, x, kernel, y):
    return _call3(fc_involution, desc, x, kernel, y)


def involution_grad_input(tuple desc, kernel, gy, gx):
    """gx = the involution's gradient with respect to its input (gx written)."""
    return _call3(fc_involution_grad_input, desc, kernel, gy, gx)


def involution_grad_kernel(tuple desc, x, gy, gk):
    """gk = the involution's gradient with respect to its kernel (gk written)."""
    return _call3(fc_involution_grad_kernel, desc, x, gy, gk)


def conv_grad_weight(tuple desc, x, gy, gw):
    """gw = the convolution's gradient with respect to its weights (gw written)."""
    return _call3(fc_conv_grad_weight, desc, x, gy, gw)


def epilogue(tuple desc, b, r, y):
    """y = act(y + b[c] + r) over y (N, C_out, out) of desc; b and r may be None."""
    return _call3(fc_epilogue, desc, b, r, y)


def max_pool(tuple desc, x, y, idx):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[3]
    cdef int dt = _dt(x), st
    _ptrs((x, y, idx), p)
    with nogil:
        st = fc_max_pool(&d, dt, p[0], p[1], <int64_t *>p[2])
    _check(st)
    return y


def avg_pool(tuple desc, x, y, bint count_include_pad=True, int64_t divisor=0):
    cdef fc_conv_desc d = _desc(desc)
    cdef void *p[2]
    cdef int dt = _dt(x), st
    _ptrs((x, y), p)
    with nogil:
        st = fc_avg_pool_ex(&d, dt, p[0], p[1], count_include_pad, divisor)
    _check(st)
    return y


def eltwise(x, y, out, int act, double alpha):
    """out = act(x + y) element-wise (y None: act(x)); C-contiguous arrays of one dtype."""
    cdef void *px = _ptr(x)
    cdef void *py = NULL if y is None else _ptr(y)
    cdef void *po = _ptr(out)
    cdef int dt = _dt(x), st
    cdef int64_t n = x.size
    with nogil:
        st = fc_eltwise(n, dt, px, py, po, act, alpha)
    _check(st)
    return out


def act_backward(z, gy, gz, int act, double alpha):
    """gz = gy * act'(z) element-wise; C-contiguous arrays of one dtype (gz may be gy)."""
    cdef void *pz = _ptr(z)
    cdef void *pg = _ptr(gy)
    cdef void *po = _ptr(gz)
    cdef int dt = _dt(z), st
    cdef int64_t n = z.size
    with nogil:
        st = fc_act_backward(n, dt, pz, pg, po, act, alpha)
    _check(st)
    return gz


def global_avg_pool(x, y, int64_t NC, int64_t plane, int64_t C=0):
    """y[i] = mean of the i-th plane of x (both C-contiguous); C > 0: channels
    last, x (NC / C, plane, C)."""
    cdef void *p[2]
    cdef int dt = _dt(x), st
    _ptrs((x, y), p)
    with nogil:
        if C > 0:
            st = fc_global_avg_pool_nhwc(NC // C, plane, C, dt, p[0], p[1])
        else:
            st = fc_global_avg_pool(NC, plane, dt, p[0], p[1])
    _check(st)
    return y


def max_pool_backward(gy, idx, gx):
    """gx (NC, in_plane) = 0, then gy (NC, out_plane) added at idx (int64); C-contiguous."""
    cdef void *p[3]
    cdef int dt = _dt(gy), st
    cdef int64_t NC = gx.shape[0], inp = gx.shape[1], outp = gy.shape[1]
    _ptrs((gy, idx, gx), p)
    with nogil:
        st = fc_max_pool_backward(NC, outp, inp, dt, p[0], <const int64_t *>p[1], p[2])
    if st == FC_EINVAL:
        raise ValueError(f"indices must lie in [0, {inp}) (positions in an input plane)")
    _check(st)
    return gx


def max_unpool(x, idx, y, bint channels_last=False):
    """x (N, C, Hi, Wi) values, idx int64 positions in y's (N, C, Ho, Wo) planes
    (channels_last: x, idx (N, Hi, Wi, C), y (N, Ho, Wo, C))."""
    cdef void *p[3]
    cdef int dt = _dt(x), st
    cdef int64_t N = y.shape[0]
    cdef int64_t C = y.shape[3] if channels_last else y.shape[1]
    cdef int64_t inp = x.shape[1] * x.shape[2] if channels_last else x.shape[2] * x.shape[3]
    cdef int64_t outp = y.shape[1] * y.shape[2] if channels_last else y.shape[2] * y.shape[3]
    _ptrs((x, idx, y), p)
    with nogil:
        if channels_last:
            st = fc_max_unpool_nhwc(N, inp, outp, C, dt, p[0], <const int64_t *>p[1], p[2])
        else:
            st = fc_max_unpool(N * C, inp, outp, dt, p[0], <const int64_t *>p[1], p[2])
    if st == FC_EINVAL:
        raise ValueError(f"indices must lie in [0, {outp}) (the output plane H*W)")
    _check(st)
    return y
