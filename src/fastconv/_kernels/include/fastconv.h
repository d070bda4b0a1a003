/* fastconv C API: one descriptor for 1-D, 2-D and 3-D convolution.
 *
 * Inside C, every problem is 3-D: 1-D and 2-D inputs carry unit D (and H)
 * dimensions.  Arrays are dense, C-contiguous, channels-first
 * (N, C, D, H, W).  No Python objects appear here.
 */
#ifndef FASTCONV_H
#define FASTCONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FC_EPACK: packed weights made for another plan (another problem geometry,
 * implementation, ISA level or dtype): refused, never computed with. */
typedef enum { FC_OK = 0, FC_ENOMEM = 1, FC_EINVAL = 2, FC_EPACK = 3 } fc_status;
typedef enum { FC_F32 = 0, FC_F64 = 1 } fc_dtype;
typedef enum { FC_NCHW = 0, FC_NHWC = 1 } fc_layout;
typedef enum {
    FC_PAD_ZEROS = 0, FC_PAD_REFLECT = 1, FC_PAD_REPLICATE = 2, FC_PAD_CIRCULAR = 3
} fc_pad_mode;
/* The activations of the fused epilogue (and of fc_eltwise), as torch
 * defines them: leaky_relu's slope is the descriptor's alpha; gelu is the
 * erf form.  A NaN passes through every one. */
typedef enum {
    FC_ACT_NONE = 0, FC_ACT_RELU = 1, FC_ACT_RELU6 = 2, FC_ACT_LEAKY_RELU = 3, FC_ACT_HARDSWISH = 4,
    FC_ACT_SIGMOID = 5, FC_ACT_TANH = 6, FC_ACT_SILU = 7, FC_ACT_GELU = 8, FC_ACT_COUNT
} fc_act;
typedef enum {
    FC_ALGO_AUTO = 0, FC_ALGO_DIRECT = 1, FC_ALGO_GEMM = 2, FC_ALGO_WINOGRAD = 3
} fc_algo;
/* The kernel levels, lowest first within an architecture.  FC_ISA_VEC128:
 * 128-bit vectors from portable C, the baseline every CPU of the
 * architecture runs; x86-64's AVX2+FMA and AVX-512; AArch64's NEON (ASIMD
 * with FMA).  A build has the levels of its architecture only. */
typedef enum { FC_ISA_VEC128 = 0, FC_ISA_AVX2 = 1, FC_ISA_AVX512 = 2, FC_ISA_NEON = 3, FC_ISA_COUNT } fc_isa;

/* A convolution (or transposed convolution, or involution, or pooling).
 * Spatial arrays are indexed 0 = D, 1 = H, 2 = W.
 * For a convolution: in = input size, out = output size.
 * For a transposed convolution: in = its input size, out = its output size,
 * pad0/pad1 = the padding of the convolution it is the adjoint of. */
typedef struct fc_conv_desc {
    int64_t N, C_in, C_out, groups;
    int64_t in[3], out[3], k[3];
    int64_t stride[3], dil[3], pad0[3], pad1[3];
    int pad_mode;   /* fc_pad_mode */
    int act;        /* fc_act: applied last, after the bias and the residual */
    double alpha;   /* the activation's parameter (leaky_relu's negative slope) */
    /* Set by the run entry points from their residual argument; 0 in a
     * caller's descriptor: the residual's address less y's, in bytes, and 1
     * if there is one (an array shaped as y, added before the activation). */
    int64_t res_off;
    int has_res;
    /* fc_layout of x and y: channels first (N, C, D, H, W) or channels last
     * (N, D, H, W, C); the weights keep (C_out, C_in/groups, kD, kH, kW) */
    int layout;
} fc_conv_desc;

/* ---- CPU features and dispatch ---- */
int fc_isa_built(int isa);       /* 1 if this build has the level (its architecture's levels) */
int fc_isa_supported(int isa);   /* 1 if this CPU (and OS) can run it (and this build has it) */
const char *fc_isa_name(int isa);   /* "vec128", "avx2", "avx512", "neon"; NULL past FC_ISA_COUNT */
int fc_get_isa(void);
int fc_set_isa(int isa);         /* FC_EINVAL when unsupported */
int fc_openmp_enabled(void);
int fc_get_num_threads(void);   /* the setting, capped by the work of the call being run */
void fc_set_num_threads(int n);
/* "pool" (the kernels' own threads), "openmp" or "serial": FASTCONV_THREADING */
const char *fc_threading_name(void);
/* The pool's counters: loops run on it, loops whose caller waited for a
 * descheduled worker, loops given fewer threads after such a wait, loops
 * given fewer threads for the machine's other runnable work, reads of the
 * load, workers */
void fc_pool_stats(int64_t *out6);

/* ---- convolution ----
 * weight (C_out, C_in/groups, kD, kH, kW); bias (C_out) or NULL.
 * Padding modes other than zeros are applied through a padded copy. */
int fc_conv(const fc_conv_desc *d, int dtype, int algo,
            const void *x, const void *w, const void *b, void *y);
/* 1 if algo can run this problem. */
int fc_conv_algo_ok(const fc_conv_desc *d, int algo);

/* ---- plans ----
 * A plan is every decision about one convolution, made once: the algorithm
 * family (for FC_ALGO_AUTO, chosen here and nowhere else), the
 * implementation in it, how the input reaches that implementation (as it
 * is, a padded copy, its pixels gathered), the problem the implementation
 * then runs, the ISA level's kernel tables and the layout of the packed
 * weights, named by `key`.  Packing and running only consume a plan.
 * Packed weights carry the key of the plan they were made for; a run with
 * a plan of another key returns FC_EPACK and computes nothing. */
typedef enum {
    FC_IMPL_REF = 0,        /* scalar loops on the weights as given */
    FC_IMPL_DW_PLANES,      /* depthwise: zero-padded phase planes, SIMD over pixels */
    FC_IMPL_DW_INPLACE,     /* depthwise 3x3-ish, stride 1, rows read in place */
    FC_IMPL_DW_BLOCKED,     /* depthwise: channels in the vector */
    FC_IMPL_GROUPED,        /* few output channels per group: pixels in the vector */
    FC_IMPL_POINTWISE,      /* 1x1 of one group: pixels in the vector, weights as given */
    FC_IMPL_DIRECT,         /* direct tiles: output channels in the vector, packed weights */
    FC_IMPL_GEMM,           /* implicit GEMM: im2col panels packed on the fly */
    FC_IMPL_WINOGRAD,       /* Winograd F(2x2)/F(4x4, 3x3) on the GEMM panels */
    FC_IMPL_WINOGRAD_CV,    /* Winograd in the channel-vector layout (grouped) */
    FC_IMPL_POINTWISE_ROWS, /* 1x1 of one group, channels last: pixels the GEMM's rows, packed weights */
    FC_IMPL_DW_ROWS,        /* depthwise, channels last: rows of pixels, channels in the vector */
    FC_IMPL_COUNT
} fc_impl;
typedef enum {
    FC_PREP_NONE = 0,       /* the input as it is */
    FC_PREP_PAD = 1,        /* a padded copy (padding modes; zeros for non-finite weights) */
    FC_PREP_GATHER = 2,     /* pixels gathered into C_in x taps channels of a 1x1 layer */
    FC_PREP_PAD_GATHER = 3  /* both: padded, then gathered */
} fc_prep;
/* flags of fc_conv_plan */
#define FC_PLAN_ONESHOT 1     /* weights used once (functional call): packing counts as cost */
#define FC_PLAN_NONFINITE 2   /* the weights hold a NaN or Inf: padding taps are computed, not skipped */
#define FC_PLAN_FINITE 4      /* the caller checked: the weights are all finite (fc_plan_run checks nothing) */
/* why the family was chosen */
typedef enum {
    FC_WHY_FORCED = 0, FC_WHY_WINOGRAD_CV, FC_WHY_WINOGRAD_GAIN, FC_WHY_FEW_PRODUCTS,
    FC_WHY_POINTWISE, FC_WHY_GROUPED, FC_WHY_DIRECT_PAYS, FC_WHY_GEMM, FC_WHY_COUNT
} fc_why;
typedef struct fc_plan {
    fc_conv_desc desc;      /* the call's problem */
    fc_conv_desc run;       /* the problem the implementation runs (after prep) */
    int dtype, isa, flags;
    int algo;               /* the family: FC_ALGO_DIRECT, _GEMM or _WINOGRAD */
    int why;                /* fc_why */
    int impl;               /* fc_impl */
    int prep;               /* fc_prep */
    int packs;              /* 1: packed weights (fc_plan_pack); 0: the weights as given */
    int variant;            /* Winograd's tile m (2, 4; 8: channel-vector layout), else 0 */
    int64_t payload;        /* packed weights, in elements (the weights' size where packs == 0) */
    int relayout;           /* channels last through this channels-first plan: x and y transposed around it */
    uint64_t key;           /* names the packed layout: equal keys, interchangeable packs */
} fc_plan;
/* isa: an FC_ISA_* level the CPU supports, or -1 for the level in force. */
int fc_conv_plan(const fc_conv_desc *d, int dtype, int algo, int isa, int flags, fc_plan *p);
const char *fc_impl_name(int impl);
const char *fc_why_text(int why);
const char *fc_prep_name(int prep);
/* 1 if every one of n weights is finite (no NaN, no Inf). */
int fc_all_finite(int dtype, const void *w, int64_t n);
/* Bytes of packed weights (a 64-byte header, then the payload). */
size_t fc_plan_packed_size(const fc_plan *p);
int fc_plan_pack(const fc_plan *p, const void *w, void *packed);
/* Run on the weights as given (packed per call where the implementation packs);
 * unless the flags say the weights were checked, NaN and Inf in them are found
 * where the plan would skip padding taps, and the padding is then computed. */
int fc_plan_run(const fc_plan *p, const void *x, const void *w, const void *b, void *y);
/* Run on packed weights; FC_EPACK if they were packed for another key. */
int fc_plan_run_packed(const fc_plan *p, const void *x, const void *packed, const void *b, void *y);
/* The same with a residual r (an array shaped as y, or NULL): y = act(conv + b + r),
 * the sum and the activation applied to each output tile as it is stored.
 * r may be y itself (accumulate in place). */
int fc_plan_run_res(const fc_plan *p, const void *x, const void *w, const void *b, const void *r, void *y);
int fc_plan_run_packed_res(const fc_plan *p, const void *x, const void *packed, const void *b,
                           const void *r, void *y);
int fc_conv_res(const fc_conv_desc *d, int dtype, int algo,
                const void *x, const void *w, const void *b, const void *r, void *y);

/* The same through a descriptor (planned at each call, for the ISA level in
 * force; fc_conv_packed plans for the level the weights were packed at). */
size_t fc_conv_packed_size(const fc_conv_desc *d, int dtype, int algo);
int fc_conv_pack(const fc_conv_desc *d, int dtype, int algo, const void *w, void *packed);
int fc_conv_packed(const fc_conv_desc *d, int dtype, int algo,
                   const void *x, const void *packed, const void *b, void *y);

/* ---- transposed convolution ----
 * weight (C_in, C_out/groups, kD, kH, kW). */
int fc_conv_transpose(const fc_conv_desc *d, int dtype,
                      const void *x, const void *w, const void *b, void *y);

/* Packed weights for ConvTranspose layers (same header scheme as fc_conv_pack). */
size_t fc_conv_transpose_packed_size(const fc_conv_desc *d, int dtype);
int fc_conv_transpose_pack(const fc_conv_desc *d, int dtype, const void *w, void *packed);
int fc_conv_transpose_packed(const fc_conv_desc *d, int dtype, const void *x, const void *packed,
                             const void *b, void *y);
/* With a residual r shaped as y (or NULL), added before the activation;
 * packed NULL: w as given, else the packed weights (w unused). */
int fc_conv_transpose_res(const fc_conv_desc *d, int dtype, const void *x, const void *w,
                          const void *packed, const void *b, const void *r, void *y);

/* ---- spatially separable 2-D filter: two 1-D passes ----
 * d: C_in == C_out == groups == C, k = (1, kH, kW).
 * row (kW) shared or (C, kW); col (kH) shared or (C, kH). */
int fc_separable(const fc_conv_desc *d, int dtype,
                 const void *x, const void *row, int row_per_channel,
                 const void *col, int col_per_channel, const void *b, void *y);

/* ---- fused depthwise-separable ----
 * dd: the depthwise stage (groups == C_in, C_out == C_in * m),
 * pointwise weight (P, C_out), biases may be NULL, acts per stage. */
int fc_dwsep(const fc_conv_desc *dd, int dtype, const void *x,
             const void *dw, const void *db, int dact,
             int64_t P, const void *pw, const void *pb, int pact, void *y);

/* ---- involution ----
 * d: C_in == C_out == C, groups == G, k = (1, K, K).
 * kernel (N, G, K*K, Ho, Wo). */
int fc_involution(const fc_conv_desc *d, int dtype,
                  const void *x, const void *kernel, void *y);
/* Its gradients (d as for fc_involution; act ignored): with respect to the
 * input, gx (N, C, H, W) from the kernel and gy (N, C, Ho, Wo); with respect
 * to the kernel, gk (N, G, K*K, Ho, Wo) from x and gy.  Channels last
 * (d->layout FC_NHWC): x, gx (N, H, W, C), gy (N, Ho, Wo, C), kernel and gk
 * (N, Ho, Wo, G, K*K). */
int fc_involution_grad_input(const fc_conv_desc *d, int dtype,
                             const void *kernel, const void *gy, void *gx);
int fc_involution_grad_kernel(const fc_conv_desc *d, int dtype,
                              const void *x, const void *gy, void *gk);
/* The weight gradient of the convolution d (channels first, zero padding):
 * gw (C_out, C_in/groups, kD, kH, kW) = the sum over images and output pixels
 * of gy (N, C_out, out) times x (N, C_in, in) at each tap; gw written. */
int fc_conv_grad_weight(const fc_conv_desc *d, int dtype, const void *x, const void *gy, void *gw);

/* ---- the epilogue on its own ----
 * y = act(y + b[c] + r) over y (N, C_out, out) of d: the bias b (C_out) and
 * the residual r (shaped as y) may be NULL; d's act and alpha.  The ops that
 * do not fuse their epilogue into the tiles they store (separable, fused
 * depthwise-separable, involution) are followed by it. */
int fc_epilogue(const fc_conv_desc *d, int dtype, const void *b, const void *r, void *y);

/* ---- pooling ----
 * d: C_in == C_out == C, 1-D to 3-D, pad0 the padding before (a padded
 * position never wins nor counts but as count_include_pad says); out sizes
 * as torch's (ceil_mode: a last window may run past the input, never start
 * past it); dil: max pooling's dilation.  idx (or NULL): each maximum's flat
 * position in its (D, H, W) input plane. */
int fc_max_pool(const fc_conv_desc *d, int dtype, const void *x, void *y, int64_t *idx);
/* average: divisor_override != 0 divides every window by it (as torch, a
 * negative one too); else the window
 * clipped to the padded input (count_include_pad) or to the input */
int fc_avg_pool_ex(const fc_conv_desc *d, int dtype, const void *x, void *y, int count_include_pad,
                   int64_t divisor_override);
/* scatter x (N, C, Hi, Wi) to y (N, C, Ho, Wo) zero-filled at idx. */
/* out = act(x + y) element-wise over n elements (y NULL: act(x)); out may be x or y */
/* act: an fc_act (alpha: leaky_relu's slope) */
int fc_eltwise(int64_t n, int dtype, const void *x, const void *y, void *out, int act, double alpha);
/* The activation's backward: gz = gy * act'(z), z the pre-activation (gz may be gy). */
int fc_act_backward(int64_t n, int dtype, const void *z, const void *gy, void *gz, int act, double alpha);
/* y[i] = the mean of x[i*plane .. (i+1)*plane), i < NC (global average pooling) */
int fc_global_avg_pool(int64_t NC, int64_t plane, int dtype, const void *x, void *y);
/* channels last: y[n*C + c] = the mean of x[(n*plane + p)*C + c] over p < plane */
int fc_global_avg_pool_nhwc(int64_t N, int64_t plane, int64_t C, int dtype, const void *x, void *y);
/* Max pooling's backward: gx (NC, in_plane) = zeros, then gy (NC, out_plane)
 * added at idx (the forward's positions in each input plane); threaded over
 * the planes.  FC_EINVAL for an index outside [0, in_plane). */
int fc_max_pool_backward(int64_t NC, int64_t out_plane, int64_t in_plane, int dtype,
                         const void *gy, const int64_t *idx, void *gx);
int fc_max_unpool(int64_t NC, int64_t in_plane, int64_t out_plane, int dtype,
                  const void *x, const int64_t *idx, void *y);
/* channels last: x, idx (N, in_plane, C), y (N, out_plane, C); idx positions in the plane */
int fc_max_unpool_nhwc(int64_t N, int64_t in_plane, int64_t out_plane, int64_t C, int dtype,
                       const void *x, const int64_t *idx, void *y);
int fc_avg_pool(const fc_conv_desc *d, int dtype, const void *x, void *y);

/* Free the scratch blocks kept between calls (they are reused otherwise). */
void fc_scratch_release(void);

#ifdef __cplusplus
}
#endif
#endif
