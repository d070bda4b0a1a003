/* The planner's rules about problems (not about kernels): which
 * implementation can run a problem, and the cost rules that measured
 * faster, with the measurements.  Used by plan/ and impl/ alike. */
#ifndef FC_RULES_H
#define FC_RULES_H
#include "common.h"

/* FC_ALGO_DIRECT on a layer of 1x1 taps, no padding and one group, any
 * stride (a strided one runs on its subsampled pixel grid), and on one
 * whose taps do not overlap ((k - 1) * dilation < stride: a patchifying
 * 4x4/4, run on its pixels gathered into C_in x kvol channels, plan/plan_dtype.inc's
 * gather_pays), and on AVX-512 a stride-1 layer of at most FC_IM2COL_K
 * input channels x taps (a 3-channel image's first 3x3 layer: its im2col,
 * 9 copies of a small input; in-process A/B against the direct tiles, 3x3
 * 3->64 @224 1.2-2.5x, 5x5 1->32 @64 1.13-1.37x, at 1 and 2 threads and
 * batch 8; the 3x3/2 stems stay on the tiles: 0.91-1.0x at stride 2, and so
 * does AVX2: 5x5 1->32 0.75x): the pixels in the vector on the weights as given
 * (impl/pointwise.inc), for the layer object (which keeps the weights as they are)
 * and the one-shot call alike.  In place of the direct tiles on packed
 * weights (output channels in the vector) and, on AVX2 and below, the inner
 * products on small planes and the implicit GEMM where those lose:
 * in-process A/B on Zen 5, ResNet-50 / MobileNetV2 1x1 layers, batch 1:
 * AVX-512 against the direct tiles 1x1 @7 1.25-1.31x (the per-call packing
 * gone), @14 1.05-1.09x, @56 0.98-1.17x, against the GEMM 1.0-1.45x; AVX2
 * against the inner products 1.0-1.1x, the GEMM 1.0-1.37x; batch 8
 * 0.96-1.56x. */
#define FC_IM2COL_K 32   /* input channels x taps of a stride-1 layer taking its im2col */
static inline int fc_pwr_runs(const fc_conv_desc *d, int isa)
{
    if (d->groups != 1) return 0;
    if (isa == FC_ISA_AVX512 && fc_vol3(d->k) > 1 && d->C_in * fc_vol3(d->k) <= FC_IM2COL_K &&
        d->stride[0] == 1 && d->stride[1] == 1 && d->stride[2] == 1)
        return 1;
    return fc_taps_apart(d);
}

/* The SIMD direct convolution (impl/direct.inc) runs FC_ALGO_DIRECT
 * where each output sums more than one input channel and at least 16
 * products; depthwise-like and tiny problems keep the scalar reference
 * loops.  Depends on the weight shape only (a layer packs once). */
static inline int fc_direct_simd_ok(const fc_conv_desc *d)
{
    const int64_t Cig = d->C_in / d->groups;
    return Cig >= 2 && d->C_out / d->groups >= 4 && Cig * fc_vol3(d->k) >= 16;
}

/* Transposed convolution: the GEMM + col2im form pays when each input pixel
 * feeds many outputs. */
static inline int fc_convt_gemm_pays(const fc_conv_desc *d)
{
    return (d->C_out / d->groups) * fc_vol3(d->k) >= 8 && d->C_in / d->groups >= 4;
}

/* Winograd F(m x m, 3x3): tiles of m x m outputs over every image and depth slice. */
static inline int64_t fc_wino_tiles(const fc_conv_desc *d, int64_t m)
{
    return d->N * d->out[0] * FC_CDIV(d->out[1], m) * FC_CDIV(d->out[2], m);
}

/* Grouped layers with few channels per group run Winograd in the
 * channel-vector layout (impl/winograd.inc): 2-D, and the group's transformed
 * weights (36 Cig Cog values) within a quarter of L2. */
static inline int fc_wcv_applies(const fc_conv_desc *d)
{
    const int64_t Cig = d->C_in / d->groups, Cog = d->C_out / d->groups;
    return d->groups > 1 && fc_depth_trivial(d) && Cig * Cog <= 1024;
}
/* m = 4 unless F(2x2)'s GEMMs, 16 of them over 4x the tiles, are smaller once
 * both tile counts are rounded up to whole panels of nr (planes of a few
 * tiles: 7x7 is 4 tiles of 4x4 in a 16-wide panel, or 16 of 2x2). */
static inline int fc_wino_tile(const fc_conv_desc *d, int nr)
{
    const int64_t w4 = 36 * FC_CDIV(fc_wino_tiles(d, 4), nr);
    const int64_t w2 = 16 * FC_CDIV(fc_wino_tiles(d, 2), nr);
    return w2 < w4 ? 2 : 4;
}

/* Implementations that skip the taps falling in a zero padding (the rest
 * multiply the zeros: im2col, Winograd's tiles, the gathered pixels); a plan
 * of one on a padded problem drops 0 x NaN unless the padding is computed. */
static inline int fc_impl_skips_padding(int impl)
{
    return impl != FC_IMPL_GEMM && impl != FC_IMPL_WINOGRAD && impl != FC_IMPL_WINOGRAD_CV &&
           impl != FC_IMPL_POINTWISE && impl != FC_IMPL_POINTWISE_ROWS;
}

static inline int fc_plan_skips_padding(const fc_plan *p)
{
    return fc_impl_skips_padding(p->impl) && fc_has_padding(&p->run);
}

/* The weight gradient (impl/wgrad.inc) as inner products over the pixels
 * rather than the GEMM of (tap, input channel) rows by output channels,
 * where the GEMM's mr x nr tiles would be less than half full: depthwise
 * layers, groups of a few channels, a 3-channel image's first layer. */
static inline int fc_wgrad_dot_pays(const fc_conv_desc *d, int mr, int nr)
{
    const int64_t Cig = d->C_in / d->groups, Cog = d->C_out / d->groups;
    const double fill = (double)Cig / (double)(FC_CDIV(Cig, mr) * mr) * (double)Cog / (double)(FC_CDIV(Cog, nr) * nr);
    return fill < 0.5;
}

#endif
