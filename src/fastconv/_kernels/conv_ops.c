/* The C API: every op for float32 and float64 from one templated source. */
#include "internal.h"

#define T float
#define FC_D f32
#define FC_B 32
#include "ops_dtype.inc"

#define T double
#define FC_D f64
#define FC_B 64
#include "ops_dtype.inc"

/* Call the f32 or f64 twin of a templated function with the same arguments. */
#define FC_BY_DTYPE(dtype, fn, ...) \
    ((dtype) == FC_F64 ? fn##_f64(__VA_ARGS__) : fn##_f32(__VA_ARGS__))

/* ---- algorithm choice ---- */

int fc_conv_algo_ok(const fc_conv_desc *d, int algo)
{
    switch (algo) {
    case FC_ALGO_AUTO: case FC_ALGO_DIRECT: case FC_ALGO_GEMM: return 1;
    case FC_ALGO_WINOGRAD:
        /* 2-D, or 3-D with kD == 1 (slice by slice; any depth stride) */
        return d->k[0] == 1 && d->k[1] == 3 && d->k[2] == 3 &&
               d->stride[1] == 1 && d->stride[2] == 1 && d->dil[1] == 1 && d->dil[2] == 1;
    default: return 0;
    }
}

/* Fraction of the (output pixel, tap) pairs that read the input rather than
 * the zero padding: the share of the GEMM's multiply-adds the direct
 * convolution does. */
static double fc_valid_fraction(const fc_conv_desc *d)
{
    double f = 1.0;
    for (int i = 0; i < 3; i++) {
        int64_t n = 0, lo, hi;
        for (int64_t k = 0; k < d->k[i]; k++) {
            fc_valid_range(d->out[i], d->stride[i], d->pad0[i], k * d->dil[i], d->in[i], &lo, &hi);
            n += hi - lo;
        }
        if (d->out[i] > 0 && d->k[i] > 0) f *= (double)n / (double)(d->out[i] * d->k[i]);
    }
    return f;
}

/* Where the SIMD direct convolution measured faster than the implicit GEMM
 * (ResNet-50 / VGG / DeepLab layers, 1 and 2 threads, against each ISA's
 * own GEMM).  Its tile spans nr output channels, so a problem that leaves
 * a quarter of those lanes empty stays on the GEMM. */
static int fc_direct_pays(const fc_conv_desc *d, int dtype, const fc_gemm_kernel *k)
{
    if (!fc_direct_simd_ok(d)) return 0;
    const int64_t nr = dtype == FC_F64 ? k->direct->nr64 : k->direct->nr32;
    const int64_t Cig = d->C_in / d->groups, Cog = d->C_out / d->groups;
    if (4 * Cog < 3 * FC_CDIV(Cog, nr) * nr) return 0;
    /* taps in the padding (dilated layers): skipping them beats any tile */
    if (fc_valid_fraction(d) < 0.75) return 1;
    const int64_t kvol = fc_vol3(d->k);
    switch (k->isa) {
    case FC_ISA_AVX512:
        return kvol > 1 || Cig >= 128;
    case FC_ISA_AVX2:
        if (dtype == FC_F64) return kvol > 1 && d->stride[1] == 1 && d->stride[2] == 1;
        /* pointwise on a small plane: the GEMM's 16-column panels leave a
         * quarter of 49 pixels' lanes empty, the direct tiles of 5-6 pixels
         * none (1x1 @7: 0.72 -> 0.80 of ONNX Runtime on 1 thread, 0.75 ->
         * 0.84 on 2; at 14x14 the GEMM stays ahead) */
        return kvol > 1 || (fc_is_pointwise(d) && fc_vol3(d->out) < 100);
    default:
        return 0;
    }
}

/* Winograd's estimated speed-up over the direct and GEMM methods: the
 * multiply-adds it saves (9 per output against a*a/(m*m) per output of the
 * tiles it computes, whole panels of nr tiles) discounted by its transforms,
 * whose cost against the GEMMs' falls as 1/C_in for the input transform and
 * 1/C_out for the output one.  Fitted on this machine's sweep of 3x3 layers
 * (C 8..512, H 4..56, batch 1 and 4, 1 and 2 threads, AVX2): where the
 * estimate is >= 1.15 Winograd measured faster, by 1.05-2.5x. */
static double fc_wino_gain(const fc_conv_desc *d, int dtype, const fc_gemm_kernel *k)
{
    if (!fc_conv_algo_ok(d, FC_ALGO_WINOGRAD)) return 0;
    const int nr = dtype == FC_F64 ? k->nr64 : k->nr32;
    const int m = fc_wino_tile(d, nr), a = m + 2;
    const double outputs = (double)d->N * (double)fc_vol3(d->out);
    const double lanes = (double)(FC_CDIV(fc_wino_tiles(d, m), nr) * nr) * m * m;
    const double saved = 9.0 / ((double)(a * a) / (m * m)) * outputs / lanes;
    const double Cig = (double)(d->C_in / d->groups), Cog = (double)(d->C_out / d->groups);
    return saved / (1.0 + 48.0 / Cig + 48.0 / Cog);
}

/* Grouped layers of 8 to 32 channels per group (whole vectors of them) on
 * planes of 12 x 12 and up: Winograd in the channel-vector layout, whose
 * weights the functional call transforms group by group inside the run.
 * 1 thread, AVX2, against the direct tiles: 16 per group 1.2-1.7x
 * (ResNeXt-50 512@14 1.25x, 128@28 1.7x), 8 per group 1.0-1.4x; on 7 x 7
 * planes (4 tiles of 16 outputs for 49) 0.8-0.9x. */
static int fc_wcv_pays(const fc_conv_desc *d, int dtype, const fc_gemm_kernel *k)
{
    if (!fc_conv_algo_ok(d, FC_ALGO_WINOGRAD) || !fc_wcv_applies(d)) return 0;
    const fc_wino_kernel *wk = k->wino;
    const int64_t vl = dtype == FC_F64 ? wk->vl64 : wk->vl32;
    const int64_t Cig = d->C_in / d->groups, Cog = d->C_out / d->groups;
    return FC_MIN(Cig, Cog) >= FC_MAX(vl, 8) && d->out[1] * d->out[2] >= 144;
}

/* The algorithm family FC_ALGO_AUTO takes; *why says which rule decided.
 * oneshot: the weights are packed for this call only (the functional API).
 * Winograd's packing writes 4x the weights (36 transformed values per 3x3
 * filter; measured ~50 ns per filter against ~12 for the direct method's
 * reorder, ~2000 multiply-adds' time), so it must also save that much per
 * filter: 9 N D H W (1 - 1/gain) multiply-adds. */
static int fc_choose(const fc_conv_desc *d, int dtype, const fc_gemm_kernel *k, int oneshot, int *why)
{
    if (fc_wcv_pays(d, dtype, k)) { *why = FC_WHY_WINOGRAD_CV; return FC_ALGO_WINOGRAD; }
    const double gain = fc_wino_gain(d, dtype, k);
    const double per_filter = 9.0 * (double)d->N * (double)fc_vol3(d->out);
    if (gain >= 1.15 && (!oneshot || per_filter * (1.0 - 1.0 / gain) >= 2000.0)) {
        *why = FC_WHY_WINOGRAD_GAIN;
        return FC_ALGO_WINOGRAD;
    }
    /* Few multiply-adds per output (depthwise and near-depthwise): direct
     * loops beat packing; so do the pointwise tiles with the pixels in the
     * vector on the weights as given (fc_pwr_runs; the GEMM measured
     * 0.7-1.0x of them).  Else the SIMD direct convolution where it pays,
     * and the implicit GEMM for the rest. */
    const int64_t K = d->C_in / d->groups * fc_vol3(d->k);
    const int64_t Cog = d->C_out / d->groups;
    if (K < 16 || Cog < 4) { *why = FC_WHY_FEW_PRODUCTS; return FC_ALGO_DIRECT; }
    if (fc_pwr_runs(d, k->isa)) { *why = FC_WHY_POINTWISE; return FC_ALGO_DIRECT; }
    /* few output channels per group: the direct kernel with pixels in the
     * vector (grp_ops.inc; ResNeXt-50 4 per group @56, 2 threads: 2.0x ONNX
     * Runtime where the GEMM ran 0.5x) */
    if (d->groups > 1 && FC_BY_DTYPE(dtype, grp_direct, d, k)) { *why = FC_WHY_GROUPED; return FC_ALGO_DIRECT; }
    if (fc_direct_pays(d, dtype, k)) { *why = FC_WHY_DIRECT_PAYS; return FC_ALGO_DIRECT; }
    *why = FC_WHY_GEMM;
    return FC_ALGO_GEMM;
}

/* ---- plans ---- */

static const char *const fc_impl_names[FC_IMPL_COUNT] = {
    "reference", "depthwise-planes", "depthwise-inplace", "depthwise-blocked", "grouped-pixels",
    "pointwise-pixels", "direct-tiles", "gemm", "winograd", "winograd-channel-vector",
};
static const char *const fc_why_texts[FC_WHY_COUNT] = {
    "requested by the caller",
    "grouped 3x3 stride 1 with 8-32 channels per group on planes of 12x12 and up",
    "3x3 stride 1: Winograd's estimated gain is at least 1.15 and pays for its packing",
    "few multiply-adds per output (C_in/groups x taps < 16, or < 4 output channels per group)",
    "one group and taps that do not overlap (or few input channels x taps on AVX-512): "
    "pixels in the vector on the weights as given",
    "few output channels per group: pixels in the vector",
    "the direct tiles fill their output-channel lanes and measured ahead of the GEMM",
    "the implicit GEMM (the direct tiles would leave lanes empty or measured behind)",
};
static const char *const fc_prep_names[4] = {"none", "pad", "gather", "pad+gather"};

const char *fc_impl_name(int impl) { return impl >= 0 && impl < FC_IMPL_COUNT ? fc_impl_names[impl] : "?"; }
const char *fc_why_text(int why) { return why >= 0 && why < FC_WHY_COUNT ? fc_why_texts[why] : "?"; }
const char *fc_prep_name(int prep) { return prep >= 0 && prep < 4 ? fc_prep_names[prep] : "?"; }

int fc_all_finite(int dtype, const void *w, int64_t n)
{
    const fc_gemm_kernel *k = fc_gemm_kernel_get();
    const int64_t es = fc_dsize(dtype), chunk = ((int64_t)1 << 20) / es;   /* 1 MiB a task */
    const int64_t tasks = FC_CDIV(n, chunk);
    int ok = 1;
    int64_t t;
#pragma omp parallel for schedule(static) num_threads(fc_threads_for(tasks)) reduction(&& : ok)
    for (t = 0; t < tasks; t++) {
        const int64_t i0 = t * chunk, m = FC_MIN(chunk, n - i0);
        ok = ok && (dtype == FC_F64 ? k->finite64((const double *)w + i0, m)
                                    : k->finite32((const float *)w + i0, m));
    }
    return ok;
}

/* FNV-1a over 64-bit words */
static uint64_t fc_hash(const int64_t *v, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) {
            h ^= (uint64_t)((v[i] >> (8 * b)) & 0xff);
            h *= 1099511628211ull;
        }
    return h;
}

int fc_conv_plan(const fc_conv_desc *d, int dtype, int algo, int isa, int flags, fc_plan *p)
{
    if (dtype != FC_F32 && dtype != FC_F64) return FC_EINVAL;
    if (isa < 0) isa = fc_get_isa();
    if (!fc_isa_supported(isa)) return FC_EINVAL;
    const fc_gemm_kernel *k = fc_gemm_kernel_for(isa);
    memset(p, 0, sizeof *p);
    p->desc = *d;
    p->dtype = dtype;
    p->isa = isa;
    p->flags = flags;
    p->why = FC_WHY_FORCED;
    if (algo == FC_ALGO_AUTO) algo = fc_choose(d, dtype, k, flags & FC_PLAN_ONESHOT, &p->why);
    if (algo == FC_ALGO_AUTO || !fc_conv_algo_ok(d, algo)) return FC_EINVAL;
    p->algo = algo;
    FC_BY_DTYPE(dtype, plan_impl, p, k);
    /* what the packed layout depends on: the implementation and the problem
     * it runs on (the weights' shape there), the level whose tiles it is
     * laid out for, the dtype, Winograd's tile size */
    const int64_t words[13] = {
        0x66637032, p->packs ? p->impl : -1, p->packs ? isa : -1, dtype, p->run.C_in, p->run.C_out,
        p->run.groups, p->run.k[0], p->run.k[1], p->run.k[2], p->variant, p->payload,
        p->packs ? 0 : d->C_in,
    };
    p->key = fc_hash(words, 13);
    return FC_OK;
}

/* ---- packed weights: a 64-byte header, then the payload ---- */

typedef struct { int32_t magic, isa, algo, dtype; uint64_t key; } fc_pack_header;
#define FC_PACK_MAGIC 0x66637063
#define FC_PACK_HDR 64

size_t fc_plan_packed_size(const fc_plan *p)
{
    return FC_PACK_HDR + (size_t)p->payload * (size_t)fc_dsize(p->dtype);
}

int fc_plan_pack(const fc_plan *p, const void *w, void *packed)
{
    fc_pack_header h;
    memset(&h, 0, sizeof h);
    h.magic = FC_PACK_MAGIC; h.isa = p->isa; h.algo = p->algo; h.dtype = p->dtype; h.key = p->key;
    memcpy(packed, &h, sizeof h);
    return FC_BY_DTYPE(p->dtype, plan_pack, p, fc_gemm_kernel_for(p->isa), w, (void *)((char *)packed + FC_PACK_HDR));
}

int fc_plan_run(const fc_plan *p, const void *x, const void *w, const void *b, void *y)
{
    return FC_BY_DTYPE(p->dtype, plan_exec, p, fc_gemm_kernel_for(p->isa), x, w, 0, b, y);
}

int fc_plan_run_packed(const fc_plan *p, const void *x, const void *packed, const void *b, void *y)
{
    fc_pack_header h;
    memcpy(&h, packed, sizeof h);
    if (h.magic != FC_PACK_MAGIC || h.key != p->key || h.isa != p->isa || h.dtype != p->dtype)
        return FC_EPACK;
    return FC_BY_DTYPE(p->dtype, plan_exec, p, fc_gemm_kernel_for(p->isa), x,
                       (const void *)((const char *)packed + FC_PACK_HDR), 1, b, y);
}

/* A zero-padded problem whose implementation skips the taps in the padding
 * would drop 0 x NaN: where the weights are not all finite, plan again with
 * the padding computed (a plan made without the check never skips there
 * when the flag was given). */
static int fc_plan_checked(const fc_conv_desc *d, int dtype, int algo, int isa, int flags,
                           const void *w, fc_plan *p)
{
    int st = fc_conv_plan(d, dtype, algo, isa, flags, p);
    if (st != FC_OK || !FC_BY_DTYPE(dtype, plan_skips_padding, p)) return st;
    const int64_t n = d->C_out * (d->C_in / d->groups) * fc_vol3(d->k);
    if (fc_all_finite(dtype, w, n)) return FC_OK;
    return fc_conv_plan(d, dtype, algo, isa, flags | FC_PLAN_NONFINITE, p);
}

int fc_conv(const fc_conv_desc *d, int dtype, int algo,
            const void *x, const void *w, const void *b, void *y)
{
    fc_plan p;
    const int st = fc_plan_checked(d, dtype, algo, -1, FC_PLAN_ONESHOT, w, &p);
    return st != FC_OK ? st : fc_plan_run(&p, x, w, b, y);
}

size_t fc_conv_packed_size(const fc_conv_desc *d, int dtype, int algo)
{
    fc_plan p;
    return fc_conv_plan(d, dtype, algo, -1, 0, &p) == FC_OK ? fc_plan_packed_size(&p) : 0;
}

/* The C API's pack: planned (and checked for non-finite weights) for the
 * level in force; fc_conv_packed plans again at the level the header names,
 * with the flags the header's key was made with. */
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
    for (int flags = 0; flags <= FC_PLAN_NONFINITE; flags += FC_PLAN_NONFINITE) {
        const int st = fc_conv_plan(d, dtype, algo, h.isa, flags, &p);
        if (st != FC_OK) return st;
        if (p.key == h.key) return fc_plan_run_packed(&p, x, packed, b, y);
    }
    return FC_EPACK;
}

/* ---- transposed convolution ---- */

int fc_conv_transpose(const fc_conv_desc *d, int dtype,
                      const void *x, const void *w, const void *b, void *y)
{
    return FC_BY_DTYPE(dtype, conv_transpose_entry, d, x, w, b, y);
}

size_t fc_conv_transpose_packed_size(const fc_conv_desc *d, int dtype)
{
    const fc_gemm_kernel *k = fc_gemm_kernel_get();
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
    const fc_gemm_kernel *k = fc_gemm_kernel_for(h.isa);
    memcpy(packed, &h, sizeof h);
    void *payload = (char *)packed + FC_PACK_HDR;
    return dtype == FC_F64 ? convt_pack_any_f64(d, k, w, payload)
                           : convt_pack_any_f32(d, k, w, payload);
}

int fc_conv_transpose_packed(const fc_conv_desc *d, int dtype, const void *x, const void *packed,
                             const void *b, void *y)
{
    fc_pack_header h;
    memcpy(&h, packed, sizeof h);
    if (h.magic != FC_PACK_MAGIC || !fc_isa_supported(h.isa) || h.key != fc_convt_key(d, dtype, h.isa))
        return FC_EPACK;
    const void *payload = (const char *)packed + FC_PACK_HDR;
    return FC_BY_DTYPE(dtype, convt_run, d, fc_gemm_kernel_for(h.isa), x, payload, b, y);
}

/* ---- the other ops ---- */

int fc_separable(const fc_conv_desc *d, int dtype, const void *x, const void *row, int rpc,
                 const void *col, int cpc, const void *b, void *y)
{
    return FC_BY_DTYPE(dtype, separable_entry, d, x, row, rpc, col, cpc, b, y);
}

int fc_dwsep(const fc_conv_desc *dd, int dtype, const void *x, const void *dw, const void *db,
             int dact, int64_t P, const void *pw, const void *pb, int pact, void *y)
{
    return FC_BY_DTYPE(dtype, dwsep, dd, fc_gemm_kernel_get(), x, dw, db, dact, P, pw, pb, pact, y);
}

int fc_involution(const fc_conv_desc *d, int dtype, const void *x, const void *kernel, void *y)
{
    return FC_BY_DTYPE(dtype, involution_run, d, fc_gemm_kernel_get(), x, kernel, y);
}

int fc_max_pool(const fc_conv_desc *d, int dtype, const void *x, void *y, int64_t *idx)
{
    return FC_BY_DTYPE(dtype, max_pool, d, x, y, idx);
}

int fc_avg_pool(const fc_conv_desc *d, int dtype, const void *x, void *y)
{
    return FC_BY_DTYPE(dtype, avg_pool_run, d, x, y);
}

int fc_max_unpool(int64_t NC, int64_t in_plane, int64_t out_plane, int dtype,
                  const void *x, const int64_t *idx, void *y)
{
    return FC_BY_DTYPE(dtype, max_unpool, NC, in_plane, out_plane, x, idx, y);
}
