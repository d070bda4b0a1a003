/* What every kernel file shares (not part of the C API): portability
 * macros, allocation, the scratch cache, and the index arithmetic of
 * strides, dilations and padding. */
#ifndef FC_COMMON_H
#define FC_COMMON_H

#if !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200112L
#endif

#include "fastconv.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>
#ifdef _WIN32
#include <malloc.h>   /* _aligned_malloc */
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* FC_GNUC: the GCC/Clang extensions (vector types, statement expressions,
 * __builtin_*) may be used; elsewhere (MSVC) the kernels take their plain-C
 * paths.  -DFC_FORCE_PORTABLE (FASTCONV_CFLAGS) makes a GCC build take those
 * paths too, so that they are compiled and tested where there is no MSVC. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(FC_FORCE_PORTABLE)
#define FC_GNUC 1
#else
#define FC_GNUC 0
#endif

/* Fetch the cache line at p for reading, into L1 (a no-op without GCC/Clang). */
#if FC_GNUC
#define FC_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define FC_PREFETCH(p) ((void)(p))
#endif

/* A #pragma from a macro: MSVC spells _Pragma("x") __pragma(x). */
#if defined(_MSC_VER) && !defined(__clang__)
#define FC_PRAGMA(x) __pragma(x)
#else
#define FC_PRAGMA(x) _Pragma(#x)
#endif

/* A variable of each thread's own. */
#if defined(_MSC_VER) && !defined(__clang__)
#define FC_THREAD_LOCAL __declspec(thread)
#elif defined(__GNUC__) || defined(__clang__)
#define FC_THREAD_LOCAL __thread
#else
#define FC_THREAD_LOCAL _Thread_local
#endif

/* ---- parallel loops (runtime/pool.c) ----
 * fc_parallel_for(threads, n, grain, fn, ctx) calls fn(ctx, tid, i0, i1) on
 * pieces [i0, i1) of [0, n), at most grain items each, from at most threads
 * threads: the caller's (tid 0) and the pool's, whichever is free takes the
 * next piece, so no piece waits for a thread that is not running.  tid < threads
 * always; a thread may run several pieces, in any order, and some tids may run
 * none (per-thread buffers: allocate them lazily, on a tid's first piece).
 * Returns when every piece is done; what the pieces wrote is visible then.
 * Pieces must not wait for one another. */
typedef void (*fc_loop_fn)(void *ctx, int tid, int64_t i0, int64_t i1);
void fc_parallel_for(int threads, int64_t n, int64_t grain, fc_loop_fn fn, void *ctx);
/* *status = value from inside a piece (a thread's allocation failed; status
 * is read after the loop) */
void fc_set_status(int *status, int value);
/* Per-thread buffers of one loop, from the scratch cache (runtime/scratch.c:
 * no page faults per call): tid's is taken on its first piece (fc_tbuf, or
 * fc_tbuf_get for the slot; NULL if that failed), so threads that never join
 * cost nothing; a slot's tag is a value of the tid's own that outlives its
 * pieces (-1 until a piece sets it: e.g. which block the buffer holds).
 * fc_tbufs_free after the loop; not copied after init. */
typedef struct { void *p; size_t got; int64_t tag; } fc_tbuf_slot;
typedef struct { fc_tbuf_slot *s; fc_tbuf_slot inl[8]; size_t bytes; int n; } fc_tbufs;
int fc_tbufs_init(fc_tbufs *t, int threads, size_t bytes);   /* FC_ENOMEM or FC_OK */
fc_tbuf_slot *fc_tbuf_get(fc_tbufs *t, int tid);
void *fc_tbuf(fc_tbufs *t, int tid);
void fc_tbufs_free(fc_tbufs *t);

/* Pieces of a loop of n items over threads threads: about 8 per thread, so that
 * a thread that starts late or is descheduled leaves its share to the others. */
static inline int64_t fc_grain(int64_t n, int threads)
{
    const int64_t g = n / (8 * (int64_t)(threads > 0 ? threads : 1));
    return g > 1 ? g : 1;
}

#define FC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FC_CDIV(a, b) (((a) + (b) - 1) / (b))
#define FC_ALIGN 64
/* internal status: the weights hold NaN or Inf and the plan skipped the
 * padding taps (plan/plan.inc runs the call again with them computed) */
#define FC_ENONFINITE 100

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define FC_X86 1
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define FC_ARM64 1
#endif

static inline void *fc_malloc(size_t bytes)
{
    void *p = NULL;
    size_t n = (bytes + FC_ALIGN - 1) / FC_ALIGN * FC_ALIGN;
    if (n == 0) n = FC_ALIGN;
#if defined(_WIN32)   /* MSVC, clang-cl and MinGW-w64: the CRT's aligned heap */
    p = _aligned_malloc(n, FC_ALIGN);
#else
    if (posix_memalign(&p, FC_ALIGN, n) != 0) p = NULL;
#endif
    return p;
}

static inline void fc_free(void *p)
{
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

/* Scratch buffers for one call, cached across calls (runtime/scratch.c): *got is
 * the block's real size, to pass back to fc_scratch_free. */
void *fc_scratch_alloc(size_t bytes, size_t *got);
void fc_scratch_free(void *p, size_t got);

/* The thread setting, uncapped; the calling thread's cap for its current
 * call (0: none), returning the one before; the cap a call of that many
 * operations and bytes pays for (runtime/threads.c). */
int fc_get_setting_threads(void);
int fc_thread_cap(int cap);
int fc_threads_for_work(double flops, double bytes);
/* The cap the machine's other runnable work sets now (runtime/pool.c; 0: none). */
int fc_pool_cap(void);

/* Threads for one parallel loop: never more than there are work items. */
static inline int fc_threads_for(int64_t work)
{
    int t = fc_get_num_threads();
    if (work < t) t = (int)(work > 0 ? work : 1);
    return t;
}

static inline int64_t fc_dsize(int dtype) { return dtype == FC_F64 ? 8 : 4; }

static inline int64_t fc_vol3(const int64_t *a) { return a[0] * a[1] * a[2]; }

/* Map a coordinate of the padded input to the real input for a padding mode;
 * -1 means "a zero".  i is relative to the unpadded input (may be < 0). */
static inline int64_t fc_pad_index(int64_t i, int64_t n, int mode)
{
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case FC_PAD_REFLECT:
        if (n == 1) return 0;
        {
            int64_t p = 2 * (n - 1);
            i = ((i % p) + p) % p;
            return i < n ? i : p - i;
        }
    case FC_PAD_REPLICATE:
        return i < 0 ? 0 : n - 1;
    case FC_PAD_CIRCULAR:
        return ((i % n) + n) % n;
    default:
        return -1;
    }
}

/* Output positions o in [lo, hi) whose input o*s - pad + off lies in [0, n). */
static inline void fc_valid_range(int64_t out, int64_t s, int64_t pad, int64_t off, int64_t n,
                                  int64_t *lo, int64_t *hi)
{
    int64_t a = pad - off;                      /* need o*s >= a */
    int64_t l = a > 0 ? (a + s - 1) / s : 0;
    int64_t b = n - 1 + pad - off;              /* need o*s <= b */
    int64_t h = b >= 0 ? b / s + 1 : 0;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l; *hi = h;
}

/* The depth axis is no axis: one input slice, one output slice that reads
 * it (no depth padding before it), a kernel of one slice.  Kernels written
 * for 2-D (depthwise, grouped, channel-vector Winograd) run only these. */
static inline int fc_depth_trivial(const fc_conv_desc *d)
{
    return d->in[0] == 1 && d->out[0] == 1 && d->k[0] == 1 && d->pad0[0] == 0;
}

static inline int fc_is_pointwise(const fc_conv_desc *d)
{
    for (int i = 0; i < 3; i++)
        if (d->k[i] != 1 || d->stride[i] != 1 || d->pad0[i] != 0 || d->pad1[i] != 0) return 0;
    return 1;
}

/* No padding, and no input pixel read by two taps: (k - 1) * dilation <
 * stride on every axis (1x1 taps, a patchifying 4x4/4). */
static inline int fc_taps_apart(const fc_conv_desc *d)
{
    for (int i = 0; i < 3; i++)
        if (d->pad0[i] != 0 || d->pad1[i] != 0 || (d->k[i] - 1) * d->dil[i] >= d->stride[i]) return 0;
    return 1;
}

static inline int fc_has_padding(const fc_conv_desc *d)
{
    for (int i = 0; i < 3; i++)
        if (d->pad0[i] || d->pad1[i]) return 1;
    return 0;
}

/* A padded copy's problem: the same layer on the padded input, no padding. */
static inline fc_conv_desc fc_padded_desc(const fc_conv_desc *d)
{
    fc_conv_desc dp = *d;
    for (int i = 0; i < 3; i++) {
        dp.in[i] = d->in[i] + d->pad0[i] + d->pad1[i];
        dp.pad0[i] = dp.pad1[i] = 0;
    }
    dp.pad_mode = FC_PAD_ZEROS;
    return dp;
}

/* Padded copy for padding modes other than zeros (impl/pad.c): returns a new
 * buffer with the input padded by pad0/pad1 and *dp = fc_padded_desc(d). */
void *fc_pad_copy(const fc_conv_desc *d, int dtype, const void *x, fc_conv_desc *dp);

#endif
