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
static int fc_direct_pays(const fc_conv_desc *d, int dtype)
{
    if (!fc_direct_simd_ok(d)) return 0;
    const fc_gemm_kernel *k = fc_gemm_kernel_get();
    const int64_t nr = dtype == FC_F64 ? k->direct->nr64 : k->direct->nr32;
    const int64_t Cig = d->C_in / d->groups, Cog = d->C_out / d->groups;
    if (4 * Cog < 3 * FC_CDIV(Cog, nr) * nr) return 0;
    /* taps in the padding (dilated layers): skipping them beats any tile */
    if (fc_valid_fraction(d) < 0.75) return 1;
    const int64_t kvol = fc_vol3(d->k);
    switch (fc_get_isa()) {
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
static double fc_wino_gain(const fc_conv_desc *d, int dtype)
{
    if (!fc_conv_algo_ok(d, FC_ALGO_WINOGRAD)) return 0;
    const fc_gemm_kernel *k = fc_gemm_kernel_get();
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
static int fc_wcv_pays(const fc_conv_desc *d, int dtype)
{
    if (!fc_conv_algo_ok(d, FC_ALGO_WINOGRAD) || !fc_wcv_applies(d)) return 0;
    const fc_wino_kernel *wk = fc_gemm_kernel_get()->wino;
    const int64_t vl = dtype == FC_F64 ? wk->vl64 : wk->vl32;
    const int64_t Cig = d->C_in / d->groups, Cog = d->C_out / d->groups;
    return FC_MIN(Cig, Cog) >= FC_MAX(vl, 8) && d->out[1] * d->out[2] >= 144;
}

/* oneshot: the weights are packed for this call only (the functional API).
 * Winograd's packing writes 4x the weights (36 transformed values per 3x3
 * filter; measured ~50 ns per filter against ~12 for the direct method's
 * reorder, ~2000 multiply-adds' time), so it must also save that much per
 * filter: 9 N D H W (1 - 1/gain) multiply-adds. */
static int fc_choose(const fc_conv_desc *d, int dtype, int oneshot)
{
    if (fc_wcv_pays(d, dtype)) return FC_ALGO_WINOGRAD;
    const double gain = fc_wino_gain(d, dtype);
    const double per_filter = 9.0 * (double)d->N * (double)fc_vol3(d->out);
    if (gain >= 1.15 && (!oneshot || per_filter * (1.0 - 1.0 / gain) >= 2000.0))
        return FC_ALGO_WINOGRAD;
    /* Few multiply-adds per output (depthwise and near-depthwise): direct
     * loops beat packing; so do the pointwise tiles with the pixels in the
     * vector on the weights as given (fc_pwr_runs; the GEMM measured
     * 0.7-1.0x of them).  Else the SIMD direct convolution where it pays,
     * and the implicit GEMM for the rest. */
    const int64_t K = d->C_in / d->groups * fc_vol3(d->k);
    const int64_t Cog = d->C_out / d->groups;
    if (K < 16 || Cog < 4 || fc_pwr_runs(d)) return FC_ALGO_DIRECT;
    /* few output channels per group: the direct kernel with pixels in the
     * vector (grp_ops.inc; ResNeXt-50 4 per group @56, 2 threads: 2.0x ONNX
     * Runtime where the GEMM ran 0.5x) */
    if (d->groups > 1 && FC_BY_DTYPE(dtype, grp_direct, d, fc_gemm_kernel_get())) return FC_ALGO_DIRECT;
    return fc_direct_pays(d, dtype) ? FC_ALGO_DIRECT : FC_ALGO_GEMM;
}

int fc_conv_choose_algo(const fc_conv_desc *d, int dtype) { return fc_choose(d, dtype, 0); }

int fc_conv_pack_variant(const fc_conv_desc *d, int dtype, int algo)
{
    if (algo != FC_ALGO_WINOGRAD) return 0;
    if (fc_wcv_applies(d)) return 8;   /* the channel-vector layout (F(4x4)) */
    const fc_gemm_kernel *k = fc_gemm_kernel_get();
    return fc_wino_tile(d, dtype == FC_F64 ? k->nr64 : k->nr32);
}

static int fc_resolve(const fc_conv_desc *d, int dtype, int algo)
{
    if (algo == FC_ALGO_AUTO) algo = fc_conv_choose_algo(d, dtype);
    return fc_conv_algo_ok(d, algo) ? algo : -1;
}

int fc_conv(const fc_conv_desc *d, int dtype, int algo,
            const void *x, const void *w, const void *b, void *y)
{
    if (algo == FC_ALGO_AUTO) algo = fc_choose(d, dtype, 1);
    algo = fc_resolve(d, dtype, algo);
    if (algo < 0) return FC_EINVAL;
    return FC_BY_DTYPE(dtype, conv_entry, d, algo, x, w, b, y);
}

/* ---- packed weights: a 64-byte header, then the payload ---- */

typedef struct { int32_t magic, isa, algo, dtype; } fc_pack_header;
#define FC_PACK_MAGIC 0x66637063
#define FC_PACK_HDR 64


size_t fc_conv_packed_size(const fc_conv_desc *d, int dtype, int algo)
{
    algo = fc_resolve(d, dtype, algo);
    if (algo < 0) return 0;
    const fc_gemm_kernel *k = fc_gemm_kernel_get();
    const int64_t n = dtype == FC_F64 ? packed_payload_f64(d, algo, k)
                                      : packed_payload_f32(d, algo, k);
    return FC_PACK_HDR + (size_t)n * (size_t)fc_dsize(dtype);
}

int fc_conv_pack(const fc_conv_desc *d, int dtype, int algo, const void *w, void *packed)
{
    algo = fc_resolve(d, dtype, algo);
    if (algo < 0) return FC_EINVAL;
    fc_pack_header h = {FC_PACK_MAGIC, fc_get_isa(), algo, dtype};
    const fc_gemm_kernel *k = fc_gemm_kernel_for(h.isa);
    memcpy(packed, &h, sizeof h);
    void *payload = (char *)packed + FC_PACK_HDR;
    return dtype == FC_F64 ? pack_f64(d, algo, k, w, payload)
                           : pack_f32(d, algo, k, w, payload);
}

int fc_conv_packed(const fc_conv_desc *d, int dtype, int algo,
                   const void *x, const void *packed, const void *b, void *y)
{
    fc_pack_header h;
    memcpy(&h, packed, sizeof h);
    algo = fc_resolve(d, dtype, algo);
    if (h.magic != FC_PACK_MAGIC || h.algo != algo || h.dtype != dtype) return FC_EINVAL;
    const void *payload = (const char *)packed + FC_PACK_HDR;
    /* The packing's own ISA level: its panel shape matches that microkernel. */
    return FC_BY_DTYPE(dtype, conv_packed_entry, d, algo, fc_gemm_kernel_for(h.isa), x, payload, b, y);
}

/* ---- the other ops ---- */

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

int fc_conv_transpose_pack(const fc_conv_desc *d, int dtype, const void *w, void *packed)
{
    fc_pack_header h = {FC_PACK_MAGIC, fc_get_isa(), -1 - fc_convt_method(d), dtype};
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
    if (h.magic != FC_PACK_MAGIC || h.algo != -1 - fc_convt_method(d) || h.dtype != dtype)
        return FC_EINVAL;
    const void *payload = (const char *)packed + FC_PACK_HDR;
    return FC_BY_DTYPE(dtype, convt_run, d, fc_gemm_kernel_for(h.isa), x, payload, b, y);
}

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
