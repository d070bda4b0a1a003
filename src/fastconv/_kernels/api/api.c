/* The C API (include/fastconv.h): every op for float32 and float64, the
 * implementations instantiated per dtype from one templated source. */
#include "ukernels/ukernel.h"
#include "plan/rules.h"

#define T float
#define FC_D f32
#define FC_B 32
#include "api/dtype.inc"

#define T double
#define FC_D f64
#define FC_B 64
#include "api/dtype.inc"

/* Call the f32 or f64 twin of a templated function with the same arguments. */
#define FC_BY_DTYPE(dtype, fn, ...) \
    ((dtype) == FC_F64 ? fn##_f64(__VA_ARGS__) : fn##_f32(__VA_ARGS__))

/* ---- how many threads a call pays for ----
 * Decided here for every entry point from the size of its problem
 * (runtime/threads.c: fc_threads_for_work), so that a small layer does not
 * pay for threads it cannot use, and from the machine's other runnable work
 * (runtime/pool.c: fc_pool_cap), so that the call's blocking is made for the
 * threads it will get: the cap holds for every loop of the call. */
#define FC_CAPPED(flops, bytes, expr)                                                           \
    do {                                                                                       \
        const int old_ = fc_thread_cap(0), lc_ = fc_pool_cap();                               \
        int cap_ = fc_threads_for_work((flops), (bytes));                                      \
        if (lc_ > 0 && lc_ < cap_) cap_ = lc_;                                                 \
        fc_thread_cap(old_ > 0 && old_ < cap_ ? old_ : cap_);                                 \
        const int st_ = (expr);                                                                \
        fc_thread_cap(old_);                                                                   \
        return st_;                                                                            \
    } while (0)

/* Multiply-adds x 2 and bytes moved of a convolution (for a transposed one,
 * in and out swap roles: pass transposed = 1). */
static double fc_conv_flops(const fc_conv_desc *d, int transposed)
{
    const double v = (double)fc_vol3(transposed ? d->in : d->out);
    return 2.0 * (double)d->N * (double)d->C_out * (double)(d->C_in / d->groups) * (double)fc_vol3(d->k) * v;
}

static double fc_conv_bytes(const fc_conv_desc *d, int dtype)
{
    return (double)fc_dsize(dtype) *
           ((double)d->N * ((double)d->C_in * (double)fc_vol3(d->in) + (double)d->C_out * (double)fc_vol3(d->out)) +
            (double)d->C_out * (double)(d->C_in / d->groups) * (double)fc_vol3(d->k));
}

#include "plan/plan.inc"

/* ---- convolution ---- */

/* A zero-padded problem whose implementation skips the taps in the padding
 * would drop 0 x NaN: where the weights are not all finite, plan again with
 * the padding computed (a plan made without the check never skips there
 * when the flag was given). */
static int fc_plan_checked(const fc_conv_desc *d, int dtype, int algo, int isa, int flags,
                           const void *w, fc_plan *p)
{
    int st = fc_conv_plan(d, dtype, algo, isa, flags, p);
    if (st != FC_OK || !fc_plan_skips_padding(p)) return st;
    const int64_t n = d->C_out * (d->C_in / d->groups) * fc_vol3(d->k);
    if (fc_all_finite(dtype, w, n)) return FC_OK;
    return fc_conv_plan(d, dtype, algo, isa, flags | FC_PLAN_NONFINITE, p);
}

/* The functional call: planned for one use; fc_plan_run checks the weights
 * for NaN and Inf where the plan would skip the padding taps. */
int fc_conv_res(const fc_conv_desc *d, int dtype, int algo,
                const void *x, const void *w, const void *b, const void *r, void *y)
{
    fc_plan p;
    const int st = fc_conv_plan(d, dtype, algo, -1, FC_PLAN_ONESHOT, &p);
    return st != FC_OK ? st : fc_plan_run_res(&p, x, w, b, r, y);
}

int fc_conv(const fc_conv_desc *d, int dtype, int algo,
            const void *x, const void *w, const void *b, void *y)
{
    return fc_conv_res(d, dtype, algo, x, w, b, NULL, y);
}

size_t fc_conv_packed_size(const fc_conv_desc *d, int dtype, int algo)
{
    fc_plan p;
    return fc_conv_plan(d, dtype, algo, -1, 0, &p) == FC_OK ? fc_plan_packed_size(&p) : 0;
}

/* The C API's pack: planned (and checked for non-finite weights) for the
 * level in force; fc_conv_packed plans again at the level and with the
 * flags the header names (a different key is refused). */
int fc_conv_pack(const fc_conv_desc *d, int dtype, int algo, const void *w, void *packed)
{
    fc_plan p;
    const int st = fc_plan_checked(d, dtype, algo, -1, 0, w, &p);
    return st != FC_OK ? st : fc_plan_pack(&p, w, packed);
}

int fc_conv_packed(const fc_conv_desc *d, int dtype, int algo,
                   const void *x, const void *packed, const void *b, void *y)
{
    fc_pack_header h;
    memcpy(&h, packed, sizeof h);
    if (h.magic != FC_PACK_MAGIC || !fc_isa_supported(h.isa)) return FC_EPACK;
    fc_plan p;
    const int st = fc_conv_plan(d, dtype, algo, h.isa, h.flags & FC_PLAN_NONFINITE, &p);
    return st != FC_OK ? st : fc_plan_run_packed(&p, x, packed, b, y);
}

/* ---- transposed convolution ---- */

int fc_conv_transpose(const fc_conv_desc *d, int dtype,
                      const void *x, const void *w, const void *b, void *y)
{
    return fc_conv_transpose_res(d, dtype, x, w, NULL, b, NULL, y);
}

size_t fc_conv_transpose_packed_size(const fc_conv_desc *d, int dtype)
{
    const fc_ukernels *k = fc_ukernels_get();
    const int64_t n = dtype == FC_F64 ? convt_payload_f64(d, k) : convt_payload_f32(d, k);
    return FC_PACK_HDR + (size_t)n * (size_t)fc_dsize(dtype);
}

/* The transposed pack's key: its method (which depends on the weights'
 * shape), the level and the dtype. */
static uint64_t fc_convt_key(const fc_conv_desc *d, int dtype, int isa)
{
    const int64_t words[8] = {0x66637074, fc_convt_method(d), isa, dtype, d->C_in, d->C_out,
                              d->groups, fc_vol3(d->k)};
    return fc_hash(words, 8);
}

int fc_conv_transpose_pack(const fc_conv_desc *d, int dtype, const void *w, void *packed)
{
    fc_pack_header h;
    memset(&h, 0, sizeof h);
    h.magic = FC_PACK_MAGIC; h.isa = fc_get_isa(); h.algo = -1 - fc_convt_method(d); h.dtype = dtype;
    h.key = fc_convt_key(d, dtype, h.isa);
    const fc_ukernels *k = fc_ukernels_for(h.isa);
    memcpy(packed, &h, sizeof h);
    void *payload = (char *)packed + FC_PACK_HDR;
    return dtype == FC_F64 ? convt_pack_any_f64(d, k, w, payload)
                           : convt_pack_any_f32(d, k, w, payload);
}

/* The packed weights' level, or -1 where their header is not of this problem */
static int fc_convt_packed_isa(const fc_conv_desc *d, int dtype, const void *packed)
{
    fc_pack_header h;
    memcpy(&h, packed, sizeof h);
    if (h.magic != FC_PACK_MAGIC || !fc_isa_supported(h.isa) || h.key != fc_convt_key(d, dtype, h.isa))
        return -1;
    return h.isa;
}

static int fc_convt_uncapped(const fc_conv_desc *d, int dtype, const void *x, const void *w,
                             const void *packed, int isa, const void *b, const void *r0, void *y)
{
    void *copy = NULL;
    size_t got = 0;
    const void *r = fc_res_source(r0, y, fc_out_bytes(d, dtype), &copy, &got);
    if (r0 && !r) return FC_ENOMEM;
    const fc_ukernels *k = packed ? fc_ukernels_for(isa) : fc_ukernels_get();
    const void *payload = packed ? (const void *)((const char *)packed + FC_PACK_HDR) : NULL;
    const int st = FC_BY_DTYPE(dtype, convt_epi, d, k, x, w, payload, b, r, y);
    if (copy) fc_scratch_free(copy, got);
    return st;
}

int fc_conv_transpose_res(const fc_conv_desc *d, int dtype, const void *x, const void *w,
                          const void *packed, const void *b, const void *r, void *y)
{
    const int isa = packed ? fc_convt_packed_isa(d, dtype, packed) : -1;
    if (packed && isa < 0) return FC_EPACK;
    if (!fc_act_ok(d)) return FC_EINVAL;
    FC_CAPPED(fc_conv_flops(d, 1), fc_conv_bytes(d, dtype), fc_convt_uncapped(d, dtype, x, w, packed, isa, b, r, y));
}

int fc_conv_transpose_packed(const fc_conv_desc *d, int dtype, const void *x, const void *packed,
                             const void *b, void *y)
{
    return fc_conv_transpose_res(d, dtype, x, NULL, packed, b, NULL, y);
}

/* ---- the other ops ---- */

/* A channels-last call of an op without channels-last kernels (separable,
 * dwsep, involution): x (N, P_in, C_in), and e (N, P_out, Ce) when given (the
 * involution's kernel), copied channels first; the op runs on the copies into
 * a channels-first scratch result (N, Co, P_out) that fc_cf_end transposes
 * into y.  The activation runs inside on the copy; a residual is added to y
 * by the caller's pass after. */
typedef struct { void *x, *e, *y; size_t gx, ge, gy; } fc_cf_bufs;

static int fc_cf_begin(const fc_conv_desc *d, int dtype, const void *x, const void *e, int64_t Ce,
                       int64_t Co, fc_cf_bufs *bf)
{
    const int64_t Pi = fc_vol3(d->in), Po = fc_vol3(d->out);
    memset(bf, 0, sizeof *bf);
    bf->x = FC_BY_DTYPE(dtype, cfirst_copy, x, d->N, Pi, d->C_in, &bf->gx);
    if (bf->x && e) bf->e = FC_BY_DTYPE(dtype, cfirst_copy, e, d->N, Po, Ce, &bf->ge);
    if (bf->x && (bf->e || !e)) bf->y = fc_scratch_alloc((size_t)(d->N * Co * Po + 1) * fc_dsize(dtype), &bf->gy);
    return bf->y ? FC_OK : FC_ENOMEM;
}

static int fc_cf_end(const fc_conv_desc *d, int dtype, int st, int64_t Co, fc_cf_bufs *bf, void *y)
{
    if (bf->y) st = FC_BY_DTYPE(dtype, clast_back, st, bf->y, bf->gy, y, d->N, fc_vol3(d->out), Co);
    if (bf->e) fc_scratch_free(bf->e, bf->ge);
    if (bf->x) fc_scratch_free(bf->x, bf->gx);
    return st;
}

/* d with channels first */
static fc_conv_desc fc_cfirst(const fc_conv_desc *d)
{
    fc_conv_desc dn = *d;
    dn.layout = FC_NCHW;
    return dn;
}

/* The separable filter's rows apply ReLU and ReLU6 only: any other
 * activation is the epilogue's pass after it. */
static int fc_separable_uncapped(const fc_conv_desc *d, int dtype, const void *x, const void *row, int rpc,
                                 const void *col, int cpc, const void *b, void *y)
{
    if (!fc_act_ok(d)) return FC_EINVAL;
    if (d->layout == FC_NHWC) {
        fc_cf_bufs bf;
        const fc_conv_desc dn = fc_cfirst(d);
        int st = fc_cf_begin(d, dtype, x, NULL, 0, d->C_out, &bf);
        if (st == FC_OK) st = fc_separable_uncapped(&dn, dtype, bf.x, row, rpc, col, cpc, b, bf.y);
        return fc_cf_end(d, dtype, st, d->C_out, &bf, y);
    }
    fc_conv_desc dk = *d;
    dk.act = fc_kact(d);
    int st = FC_BY_DTYPE(dtype, separable_entry, &dk, x, row, rpc, col, cpc, b, y);
    if (st == FC_OK && fc_needs_epi(d)) st = FC_BY_DTYPE(dtype, epi_pass, d, fc_ukernels_get(), NULL, NULL, y);
    return st;
}

int fc_separable(const fc_conv_desc *d, int dtype, const void *x, const void *row, int rpc,
                 const void *col, int cpc, const void *b, void *y)
{
    const double taps = (double)(d->k[1] + d->k[2]) / (double)(d->k[1] * d->k[2] * (d->C_in / d->groups));
    FC_CAPPED(fc_conv_flops(d, 0) * taps, fc_conv_bytes(d, dtype),
              fc_separable_uncapped(d, dtype, x, row, rpc, col, cpc, b, y));
}

/* The depthwise stage's activation is applied in its tiles: ReLU or ReLU6;
 * the pointwise stage's any (the epilogue's pass on (N, P, out)). */
static int fc_dwsep_uncapped(const fc_conv_desc *dd, int dtype, const void *x, const void *dw, const void *db,
                             int dact, int64_t P, const void *pw, const void *pb, int pact, void *y)
{
    fc_conv_desc pd = *dd;
    pd.C_in = dd->C_out;
    pd.C_out = P;
    pd.groups = 1;
    pd.act = pact;
    if (dact < FC_ACT_NONE || dact > FC_ACT_RELU6 || !fc_act_ok(&pd)) return FC_EINVAL;
    if (dd->layout == FC_NHWC) {
        fc_cf_bufs bf;
        const fc_conv_desc dn = fc_cfirst(dd);
        int st = fc_cf_begin(dd, dtype, x, NULL, 0, P, &bf);
        if (st == FC_OK) st = fc_dwsep_uncapped(&dn, dtype, bf.x, dw, db, dact, P, pw, pb, pact, bf.y);
        return fc_cf_end(dd, dtype, st, P, &bf, y);
    }
    int st = FC_BY_DTYPE(dtype, dwsep, dd, fc_ukernels_get(), x, dw, db, dact, P, pw, pb, fc_kact(&pd), y);
    if (st == FC_OK && fc_needs_epi(&pd)) st = FC_BY_DTYPE(dtype, epi_pass, &pd, fc_ukernels_get(), NULL, NULL, y);
    return st;
}

int fc_dwsep(const fc_conv_desc *dd, int dtype, const void *x, const void *dw, const void *db,
             int dact, int64_t P, const void *pw, const void *pb, int pact, void *y)
{
    const double pwf = 2.0 * (double)dd->N * (double)dd->C_out * (double)P * (double)fc_vol3(dd->out);
    FC_CAPPED(fc_conv_flops(dd, 0) + pwf, fc_conv_bytes(dd, dtype) * (1.0 + (double)P / (double)dd->C_out),
              fc_dwsep_uncapped(dd, dtype, x, dw, db, dact, P, pw, pb, pact, y));
}

/* The involution's rows are stored as computed: its activation, if any, is the epilogue's pass */
static int fc_involution_uncapped(const fc_conv_desc *d, int dtype, const void *x, const void *kernel, void *y)
{
    if (!fc_act_ok(d)) return FC_EINVAL;
    if (d->layout == FC_NHWC) {   /* kernel (N, H_out, W_out, G, K*K) */
        fc_cf_bufs bf;
        const fc_conv_desc dn = fc_cfirst(d);
        int st = fc_cf_begin(d, dtype, x, kernel, d->groups * d->k[1] * d->k[2], d->C_out, &bf);
        if (st == FC_OK) st = fc_involution_uncapped(&dn, dtype, bf.x, bf.e, bf.y);
        return fc_cf_end(d, dtype, st, d->C_out, &bf, y);
    }
    int st = FC_BY_DTYPE(dtype, involution_run, d, fc_ukernels_get(), x, kernel, y);
    if (st == FC_OK && d->act != FC_ACT_NONE) st = FC_BY_DTYPE(dtype, epi_pass, d, fc_ukernels_get(), NULL, NULL, y);
    return st;
}

int fc_involution(const fc_conv_desc *d, int dtype, const void *x, const void *kernel, void *y)
{
    const double kk = (double)(d->k[1] * d->k[2]), pix = (double)d->N * (double)fc_vol3(d->out);
    FC_CAPPED(2.0 * (double)d->C_in * kk * pix,
              fc_conv_bytes(d, dtype) + (double)fc_dsize(dtype) * (double)d->groups * kk * pix,
              fc_involution_uncapped(d, dtype, x, kernel, y));
}

/* The involution's gradients (impl/involution_grad.inc).  Channels last:
 * the arrays are copied channels first (threaded transposes) around the
 * channels-first kernels, as the forward does. */
static int fc_involution_grad_input_uncapped(const fc_conv_desc *d, int dtype, const void *kernel,
                                             const void *gy, void *gx)
{
    if (d->layout == FC_NHWC) {   /* kernel (N, Po, G*K*K), gy (N, Po, C), gx (N, Pi, C) */
        const fc_conv_desc dn = fc_cfirst(d);
        const int64_t Pi = fc_vol3(d->in), Po = fc_vol3(d->out), C = d->C_in;
        size_t gk = 0, gg = 0, gr = 0;
        int st = FC_ENOMEM;
        void *kc = FC_BY_DTYPE(dtype, cfirst_copy, kernel, d->N, Po, d->groups * d->k[1] * d->k[2], &gk);
        void *gc = kc ? FC_BY_DTYPE(dtype, cfirst_copy, gy, d->N, Po, C, &gg) : NULL;
        void *r = gc ? fc_scratch_alloc((size_t)(d->N * C * Pi + 1) * fc_dsize(dtype), &gr) : NULL;
        if (r) {
            st = fc_involution_grad_input_uncapped(&dn, dtype, kc, gc, r);
            st = FC_BY_DTYPE(dtype, clast_back, st, r, gr, gx, d->N, Pi, C);
        }
        if (gc) fc_scratch_free(gc, gg);
        if (kc) fc_scratch_free(kc, gk);
        return st;
    }
    return FC_BY_DTYPE(dtype, involution_grad_input_run, d, fc_ukernels_get(), kernel, gy, gx);
}

int fc_involution_grad_input(const fc_conv_desc *d, int dtype, const void *kernel, const void *gy, void *gx)
{
    const double kk = (double)(d->k[1] * d->k[2]), pix = (double)d->N * (double)fc_vol3(d->out);
    FC_CAPPED(2.0 * (double)d->C_in * kk * pix,
              fc_conv_bytes(d, dtype) + (double)fc_dsize(dtype) * (double)d->groups * kk * pix,
              fc_involution_grad_input_uncapped(d, dtype, kernel, gy, gx));
}

static int fc_involution_grad_kernel_uncapped(const fc_conv_desc *d, int dtype, const void *x,
                                              const void *gy, void *gk)
{
    if (d->layout == FC_NHWC) {   /* x (N, Pi, C), gy (N, Po, C), gk (N, Po, G*K*K) */
        fc_cf_bufs bf;
        const fc_conv_desc dn = fc_cfirst(d);
        const int64_t Ck = d->groups * d->k[1] * d->k[2];
        int st = fc_cf_begin(d, dtype, x, gy, d->C_in, Ck, &bf);
        if (st == FC_OK) st = fc_involution_grad_kernel_uncapped(&dn, dtype, bf.x, bf.e, bf.y);
        return fc_cf_end(d, dtype, st, Ck, &bf, gk);
    }
    return FC_BY_DTYPE(dtype, involution_grad_kernel_run, d, fc_ukernels_get(), x, gy, gk);
}

int fc_involution_grad_kernel(const fc_conv_desc *d, int dtype, const void *x, const void *gy, void *gk)
{
    const double kk = (double)(d->k[1] * d->k[2]), pix = (double)d->N * (double)fc_vol3(d->out);
    FC_CAPPED(2.0 * (double)d->C_in * kk * pix,
              fc_conv_bytes(d, dtype) + (double)fc_dsize(dtype) * (double)d->groups * kk * pix,
              fc_involution_grad_kernel_uncapped(d, dtype, x, gy, gk));
}

int fc_conv_grad_weight(const fc_conv_desc *d, int dtype, const void *x, const void *gy, void *gw)
{
    if (d->layout != FC_NCHW || d->pad_mode != FC_PAD_ZEROS || d->groups < 1 || d->C_in % d->groups ||
        d->C_out % d->groups)
        return FC_EINVAL;
    /* bytes: x and gy each copied once (phase planes, the grid) and read
     * again by the sums; small planes are bound by those copies */
    FC_CAPPED(fc_conv_flops(d, 0), 3.0 * fc_conv_bytes(d, dtype),
              FC_BY_DTYPE(dtype, conv_grad_weight_run, d, fc_ukernels_get(), x, gy, gw));
}

static int fc_epilogue_uncapped(const fc_conv_desc *d, int dtype, const void *b, const void *r0, void *y)
{
    void *copy = NULL;
    size_t got = 0;
    /* the pass reads each element of r before it writes that of y: r == y is fine */
    const void *r = r0 == y ? r0 : fc_res_source(r0, y, fc_out_bytes(d, dtype), &copy, &got);
    if (r0 && !r) return FC_ENOMEM;
    const int st = FC_BY_DTYPE(dtype, epi_pass, d, fc_ukernels_get(), b, r, y);
    if (copy) fc_scratch_free(copy, got);
    return st;
}

int fc_epilogue(const fc_conv_desc *d, int dtype, const void *b, const void *r, void *y)
{
    if (!fc_act_ok(d) || d->N < 0 || d->C_out < 0) return FC_EINVAL;
    FC_CAPPED(0.0, (double)fc_out_bytes(d, dtype) * (r ? 3.0 : 2.0), fc_epilogue_uncapped(d, dtype, b, r, y));
}

int fc_max_pool(const fc_conv_desc *d, int dtype, const void *x, void *y, int64_t *idx)
{
    FC_CAPPED(0.0, fc_conv_bytes(d, dtype) * (idx ? 3.0 : 1.0), FC_BY_DTYPE(dtype, max_pool, d, x, y, idx));
}

int fc_avg_pool_ex(const fc_conv_desc *d, int dtype, const void *x, void *y, int count_include_pad,
                   int64_t divisor_override)
{
    FC_CAPPED(0.0, fc_conv_bytes(d, dtype),
              FC_BY_DTYPE(dtype, avg_pool_run, d, x, y, count_include_pad, divisor_override));
}

int fc_avg_pool(const fc_conv_desc *d, int dtype, const void *x, void *y)
{
    return fc_avg_pool_ex(d, dtype, x, y, 1, 0);
}

int fc_eltwise(int64_t n, int dtype, const void *x, const void *y, void *out, int act, double alpha)
{
    if (n < 0 || act < FC_ACT_NONE || act >= FC_ACT_COUNT) return FC_EINVAL;
    if (n == 0) return FC_OK;
    FC_CAPPED(0.0, (double)n * (double)fc_dsize(dtype) * (y ? 3.0 : 2.0),
              FC_BY_DTYPE(dtype, eltwise, n, x, y, out, act, alpha));
}

int fc_act_backward(int64_t n, int dtype, const void *z, const void *gy, void *gz, int act, double alpha)
{
    if (n < 0 || act < FC_ACT_NONE || act >= FC_ACT_COUNT) return FC_EINVAL;
    if (n == 0) return FC_OK;
    FC_CAPPED(0.0, (double)n * (double)fc_dsize(dtype) * 3.0,
              FC_BY_DTYPE(dtype, act_backward, n, z, gy, gz, act, alpha));
}

int fc_global_avg_pool_nhwc(int64_t N, int64_t plane, int64_t C, int dtype, const void *x, void *y)
{
    if (N < 0 || C < 0 || plane < 1) return FC_EINVAL;
    FC_CAPPED(0.0, (double)N * (double)C * (double)(plane + 1) * (double)fc_dsize(dtype),
              FC_BY_DTYPE(dtype, global_avg_pool_nhwc, N, plane, C, x, y));
}

int fc_global_avg_pool(int64_t NC, int64_t plane, int dtype, const void *x, void *y)
{
    if (NC < 0 || plane < 1) return FC_EINVAL;
    FC_CAPPED(0.0, (double)NC * (double)(plane + 1) * (double)fc_dsize(dtype),
              FC_BY_DTYPE(dtype, global_avg_pool, NC, plane, x, y));
}

int fc_max_unpool(int64_t NC, int64_t in_plane, int64_t out_plane, int dtype,
                  const void *x, const int64_t *idx, void *y)
{
    FC_CAPPED(0.0, (double)NC * (double)(in_plane * (fc_dsize(dtype) + 8) + out_plane * fc_dsize(dtype)),
              FC_BY_DTYPE(dtype, max_unpool, NC, in_plane, out_plane, x, idx, y, 0));
}

int fc_max_pool_backward(int64_t NC, int64_t out_plane, int64_t in_plane, int dtype,
                         const void *gy, const int64_t *idx, void *gx)
{
    if (NC < 0 || out_plane < 0 || in_plane < 1) return FC_EINVAL;
    if (NC == 0) return FC_OK;
    FC_CAPPED(0.0, (double)NC * (double)(out_plane * (fc_dsize(dtype) + 8) + in_plane * fc_dsize(dtype)),
              FC_BY_DTYPE(dtype, max_unpool, NC, out_plane, in_plane, gy, idx, gx, 1));
}

int fc_max_unpool_nhwc(int64_t N, int64_t in_plane, int64_t out_plane, int64_t C, int dtype,
                       const void *x, const int64_t *idx, void *y)
{
    if (N < 0 || C < 0 || in_plane < 0 || out_plane < 1) return FC_EINVAL;
    if (N * C == 0) return FC_OK;
    FC_CAPPED(0.0, (double)(N * C) * (double)(in_plane * (fc_dsize(dtype) + 8) + out_plane * fc_dsize(dtype)),
              FC_BY_DTYPE(dtype, max_unpool_nhwc, N, in_plane, out_plane, C, x, idx, y));
}
