/* The tables of microkernels one ISA level provides (the files ukernels/<family>.inc,
 * compiled once per level by isa/<level>.c with that level's flags and
 * tuning table), and the shapes of their functions. */
#ifndef FC_UKERNEL_H
#define FC_UKERNEL_H
#include "common.h"

/* Elements between consecutive e-slices of Winograd's V, M and U beyond
 * their size: the a*a vectors a transform reads or writes are one slice
 * apart, and a slice size that is a multiple of 4 KiB would put them all in
 * one L1 set. */
#define FC_WSKEW 16
/* Elements between the channel-vector layout's weight blocks for
 * consecutive transformed elements e */
static inline int64_t fc_wcv_es(int64_t Cig, int64_t CogP) { return Cig * CogP + FC_WSKEW; }

/* F(4x4, 3x3)'s weight transform Gm along one line: g0, g1, g2 (of type VT:
 * scalars T in the packing, vectors in the kernel's) -> OUT(VT, i, value)
 * for i = 0..5. */
#define FC_WGM4(T, VT, g0, g1, g2, OUT)                                               \
    do {                                                                              \
        const VT s_ = (g0) + (g2);                                                    \
        OUT(VT, 0, (g0) * (T)0.25);                                                   \
        OUT(VT, 1, -(s_ + (g1)) * ((T)1 / 6));                                        \
        OUT(VT, 2, -(s_ - (g1)) * ((T)1 / 6));                                        \
        OUT(VT, 3, (g0) * ((T)1 / 24) + (g1) * ((T)1 / 12) + (g2) * ((T)1 / 6));      \
        OUT(VT, 4, (g0) * ((T)1 / 24) - (g1) * ((T)1 / 12) + (g2) * ((T)1 / 6));      \
        OUT(VT, 5, (g2));                                                             \
    } while (0)

/* The ISA-specific direct-convolution tiles (ukernels/direct.inc):
 * acc[MRP][NR] += over ntaps taps t, over cb input channels c,
 *   w[woff[t] + c*NR + 0:NR] * x[base + xoff[t] + c*cs + j*sw] for pixel j.
 * Indexed [stride class][MRP]: class 1 and 2 are W strides 1 and 2 compiled
 * in, class 0 takes any stride; class 3 (FC_DPIX) reads pixel j at
 * x[base + xoff[t] + c*cs + po[j]] instead and keeps its accumulators at
 * acc + po[MRP + j] (a tile gathered across output rows); MRP runs from 1
 * to mrp.  po is NULL for classes 0-2. */
#define FC_DMRP_MAX 12
#define FC_DPIX 3
typedef void (*fc_direct_f32_fn)(int64_t ntaps, const int64_t *xoff, const int64_t *woff,
                                 int64_t cb, int64_t cs, int64_t sw, int64_t base, const int64_t *po,
                                 const float *x, const float *w, float *acc);
typedef void (*fc_direct_f64_fn)(int64_t ntaps, const int64_t *xoff, const int64_t *woff,
                                 int64_t cb, int64_t cs, int64_t sw, int64_t base, const int64_t *po,
                                 const double *x, const double *w, double *acc);
typedef struct fc_direct_kernel {
    int mrp, nr32, nr64;   /* widest tile in pixels; output channels per tile */
    int pw_cb_bytes;       /* pointwise layers: weights of one input-channel block */
    fc_direct_f32_fn f32[4][FC_DMRP_MAX + 1];
    fc_direct_f64_fn f64[4][FC_DMRP_MAX + 1];
    /* y[o*P + p] = act(acc[p*nr + o]) for o < on, p < np */
    void (*store32)(const float *acc, int64_t nr, int64_t np, int64_t on, float *y, int64_t P, int act);
    void (*store64)(const double *acc, int64_t nr, int64_t np, int64_t on, double *y, int64_t P, int act);
    /* Weight packing of one output block: dst[((k % kvol) * Cig + k / kvol) * nr + i]
     * = src[i * lds + k] for i < on (0 for on <= i < nr), k < K <= Cig * kvol (the
     * source rows lds apart: a block of input channels of longer rows).  Returns
 * 1 if every value packed is finite, 0 if one is NaN or Inf: the check is
 * fused into the pack, whose loads it reuses. */
    int (*pack32)(const float *src, int64_t lds, int64_t K, int64_t kvol, int64_t Cig, int64_t on,
                  int64_t nr, float *dst);
    int (*pack64)(const double *src, int64_t lds, int64_t K, int64_t kvol, int64_t Cig, int64_t on,
                  int64_t nr, double *dst);
    int isa;               /* the FC_ISA_* level these tiles are built for */
} fc_direct_kernel;

/* The ISA-specific Winograd tile transforms (ukernels/winograd.inc) on nv
 * vectors of lanes; index [0] is F(2x2, 3x3), [1] F(4x4, 3x3).  cv32/cv64
 * [nv][r]: the channel-vector layout's GEMM tile of r tiles x nv vectors. */
typedef void (*fc_wcv_f32_fn)(int64_t K, const float *v, int64_t vrs, const float *u, int64_t urs,
                              float *mm, int64_t mrs);
typedef void (*fc_wcv_f64_fn)(int64_t K, const double *v, int64_t vrs, const double *u, int64_t urs,
                              double *mm, int64_t mrs);
#define FC_WCV_R 6
typedef struct fc_wino_kernel {
    void (*in32[2])(const float *g, int64_t gi, int64_t gq, int64_t nv, float *v, int64_t vs);
    void (*out32[2])(const float *m, int64_t ms, int64_t nv, const float *bias, int bvec, int act,
                     float *o, int64_t oi, int64_t oq);
    void (*in64[2])(const double *g, int64_t gi, int64_t gq, int64_t nv, double *v, int64_t vs);
    void (*out64[2])(const double *m, int64_t ms, int64_t nv, const double *bias, int bvec, int act,
                     double *o, int64_t oi, int64_t oq);
    int vl32, vl64;                     /* lanes per vector */
    /* u[e*us + o] = F(4x4)'s transform of filter o < n, tap r at k[r*ks + o] */
    void (*gt32)(const float *k, int64_t ks, int64_t n, float *u, int64_t us);
    void (*gt64)(const double *k, int64_t ks, int64_t n, double *u, int64_t us);
    fc_wcv_f32_fn cv32[3][FC_WCV_R + 1];
    fc_wcv_f64_fn cv64[3][FC_WCV_R + 1];
} fc_wino_kernel;

/* Geometry of a 2-D (or 1-D: IH = KH = 1) depthwise convolution. */
typedef struct fc_dwc_geom {
    int64_t IH, IW, OW, KH, KW, sh, sw, dh, dw, ph, pw;
    int act;
} fc_dwc_geom;
#define FC_DWC_CBMAX 16   /* the most channels a depthwise vector block holds */
/* Padded input columns an output row reads. */
static inline int64_t fc_dwc_wp(const fc_dwc_geom *g)
{
    return (g->OW - 1) * g->sw + (g->KW - 1) * g->dw + 1;
}
/* Scratch of the channel-blocked kernel for strips of `rows` output rows. */
static inline int64_t fc_dwc_scratch(const fc_dwc_geom *g, int64_t rows, int64_t cb)
{
    const int64_t Wp = fc_dwc_wp(g);
    const int64_t Hs = (rows - 1) * g->sh + (g->KH - 1) * g->dh + 1;
    return (Hs * Wp + rows * g->OW + 1) * cb;
}

/* The ISA-specific depthwise kernel (ukernels/depthwise.inc; the pixel loop of
 * impl/depthwise.inc is fc_sep_kernel's 1-D pass). */
typedef struct fc_dw_kernel {
    int cb32, cb64;   /* channels per vector block: floats, doubles */
    /* Channel-blocked (cb32 floats / cb64 doubles per vector):
     * output rows [oh0, oh1) of the channels whose planes are xp[] -> yp[]
     * from yp[c][ybase] on (ukernels/depthwise.inc); scratch: fc_dwc_scratch() elements.
     * padded: the scratch holds the tile of the previous call for the same
     * rows, whose zero padding is kept (the kernel never writes there). */
    void (*c32)(const fc_dwc_geom *g, const float *const *xp, const float *w, const float *bias,
                float *const *yp, int64_t ybase, int cn, int64_t oh0, int64_t oh1, int padded,
                float *scratch);
    void (*c64)(const fc_dwc_geom *g, const double *const *xp, const double *w, const double *bias,
                double *const *yp, int64_t ybase, int cn, int64_t oh0, int64_t oh1, int padded,
                double *scratch);
} fc_dw_kernel;

/* The ISA-specific 1-D pass of the separable filter (ukernels/separable.inc), also
 * the depthwise pixel loop (impl/depthwise.inc):
 * out[q] = act(bias + sum_t w[t] * src[t][q]) for q < n; sym 1 / -1 when
 * w[t] == w[ntaps-1-t] / == -w[ntaps-1-t] (pairs are added first). */
typedef struct fc_sep_kernel {
    void (*f32)(const float *const *src, const float *w, int ntaps, int sym, int64_t n,
                float bias, int act, float *out);
    void (*f64)(const double *const *src, const double *w, int ntaps, int sym, int64_t n,
                double bias, int act, double *out);
    /* even[j] = src[2j], odd[j] = src[2j + 1] for j < n (stride-2 phases) */
    void (*deint32)(const float *src, int64_t n, float *even, float *odd);
    void (*deint64)(const double *src, int64_t n, double *even, double *odd);
} fc_sep_kernel;
/* The ISA-specific involution row loop (ukernels/involution.inc), fn[cb] for cb
 * channels of one group, 1 <= cb <= cbmax, for `rows` rows r:
 *   y[r*yrs + c*ys + e] = sum_t k[r*krs + t*ks + e] * x[r*xrs + c*cs + xoff[t] + e],
 * c < cb, e < n, in vectors of vl pixels; the last vector reads (never
 * writes) past n. */
#define FC_INV_CBMAX 16
typedef void (*fc_inv_f32_fn)(int64_t ntaps, const int64_t *xoff, const float *x, int64_t cs,
                              int64_t xrs, const float *k, int64_t ks, int64_t krs, int64_t rows,
                              int64_t n, float *y, int64_t ys, int64_t yrs);
typedef void (*fc_inv_f64_fn)(int64_t ntaps, const int64_t *xoff, const double *x, int64_t cs,
                              int64_t xrs, const double *k, int64_t ks, int64_t krs, int64_t rows,
                              int64_t n, double *y, int64_t ys, int64_t yrs);
typedef void (*fc_inv_p32_fn)(int64_t KH, int64_t KW, int64_t dy, const int64_t *xoff,
                              const float *x, int64_t cs, int64_t xrs, const float *k, int64_t ks,
                              int64_t krs, int64_t rows, int64_t n, float *y, int64_t ys,
                              int64_t yrs);
typedef void (*fc_inv_p64_fn)(int64_t KH, int64_t KW, int64_t dy, const int64_t *xoff,
                              const double *x, int64_t cs, int64_t xrs, const double *k,
                              int64_t ks, int64_t krs, int64_t rows, int64_t n, double *y,
                              int64_t ys, int64_t yrs);
typedef void (*fc_inv_gx32_fn)(int64_t ntaps, const int64_t *koff, const int64_t *goff, const float *k,
                               const float *g, int64_t cs, int64_t n, float *y, int64_t ys);
typedef void (*fc_inv_gx64_fn)(int64_t ntaps, const int64_t *koff, const int64_t *goff, const double *k,
                               const double *g, int64_t cs, int64_t n, double *y, int64_t ys);
typedef void (*fc_inv_gk32_fn)(const int64_t *xoff, const float *x, int64_t cs, const float *g, int64_t gs,
                               int64_t nch, int64_t n, float *k, int64_t ks);
typedef void (*fc_inv_gk64_fn)(const int64_t *xoff, const double *x, int64_t cs, const double *g, int64_t gs,
                               int64_t nch, int64_t n, double *k, int64_t ks);
typedef struct fc_inv_kernel {
    int cbmax32, cbmax64, vl32, vl64;
    fc_inv_f32_fn f32[FC_INV_CBMAX + 1];
    fc_inv_f64_fn f64[FC_INV_CBMAX + 1];
    /* Two rows at a time (rows even), for cb <= pcbmax: the same sums, where
     * xoff[t + dy*KW] == xoff[t] + xrs (row r+1's taps are row r's, dy rows on). */
    int pcbmax32, pcbmax64;
    fc_inv_p32_fn p32[FC_INV_CBMAX + 1];
    fc_inv_p64_fn p64[FC_INV_CBMAX + 1];
    /* The gradients (ukernels/involution_grad.inc), fn[cb] for 1 <= cb <= cbmax:
     * gx: y[c*ys + e] = sum_m k[koff[m] + e] * g[c*cs + goff[m] + e], c < cb, e < n
     *     (the input gradient gathered from zero-padded strips of k and g);
     * gk: k[t*ks + e] = sum_{c < nch} g[c*gs + e] * x[c*cs + xoff[t] + e], t < cb, e < n
     *     (the kernel gradient on the forward's strip x; g and x read up to n's vector end). */
    fc_inv_gx32_fn gx32[FC_INV_CBMAX + 1];
    fc_inv_gx64_fn gx64[FC_INV_CBMAX + 1];
    fc_inv_gk32_fn gk32[FC_INV_CBMAX + 1];
    fc_inv_gk64_fn gk64[FC_INV_CBMAX + 1];
} fc_inv_kernel;
/* The ISA-specific grouped-convolution tiles (ukernels/grouped.inc), vector over
 * output pixels: [MB][U] holds MB output channels x U vectors of pixels,
 *   out[o*ldo + q] = act(bias[o] + sum_{k<K} w[o*wos + k] * x[xoff[k] + q])
 * for nch chunks of U vectors; u is the widest U. */
#define FC_GRP_MB 4
#define FC_GRP_UMAX 6
typedef void (*fc_grp_f32_fn)(int64_t K, const int64_t *xoff, const float *x, const float *w,
                              int64_t wos, int64_t nch, const float *bias, int act, float *out,
                              int64_t ldo);
typedef void (*fc_grp_f64_fn)(int64_t K, const int64_t *xoff, const double *x, const double *w,
                              int64_t wos, int64_t nch, const double *bias, int act, double *out,
                              int64_t ldo);
typedef struct fc_grp_kernel {
    int vl32, vl64, u;   /* lanes per vector; vectors per widest tile */
    fc_grp_f32_fn f32[FC_GRP_MB + 1][FC_GRP_UMAX + 1];
    fc_grp_f64_fn f64[FC_GRP_MB + 1][FC_GRP_UMAX + 1];
} fc_grp_kernel;
/* The ISA-specific pointwise tiles on the weights as given (ukernels/pointwise_dot.inc):
 * [MB][NP] sums MB output channels x NP pixels over K input channels,
 *   y[o*ldy + p] = act(bias[o] + sum_{c<K} w[o*ldw + c] * xt[p*ldx + c])
 * (bias may be NULL); np is the widest NP. */
#define FC_PWD_MB 4
#define FC_PWD_NPMAX 5
typedef void (*fc_pwd_f32_fn)(int64_t K, const float *w, int64_t ldw, const float *xt, int64_t ldx,
                              float *y, int64_t ldy, const float *bias, int act);
typedef void (*fc_pwd_f64_fn)(int64_t K, const double *w, int64_t ldw, const double *xt, int64_t ldx,
                              double *y, int64_t ldy, const double *bias, int act);
typedef struct fc_pwd_kernel {
    int np;
    fc_pwd_f32_fn f32[FC_PWD_MB + 1][FC_PWD_NPMAX + 1];
    fc_pwd_f64_fn f64[FC_PWD_MB + 1][FC_PWD_NPMAX + 1];
} fc_pwd_kernel;
/* The ISA-specific pointwise tiles with the pixels in the vector, on the
 * weights as given (ukernels/pointwise.inc): [MR][NRV] multiplies MR rows of the
 * weights (ldw apart) by NRV vectors of pixels (rows ldx apart),
 *   y[o*ldy + j] (+)= sum_{c<K} w[o*ldw + c] * x[c*ldx + j],
 * starting from bias[o] unless mode has FC_PWR_ACCUMULATE, act applied as
 * it stores (past the caches with FC_PWR_STREAM), pf (or NULL) pixels
 * fetched along the way (pfv vectors of each of K rows ldx apart); mr is
 * the most rows, vl32/vl64 the lanes of a vector. */
#define FC_PWR_MRMAX 8
#define FC_PWR_ACCUMULATE 1   /* mode: add into y */
#define FC_PWR_STREAM 2       /* mode: y aligned to the vector, stored past the caches */
#define FC_PWR_NRV 3
typedef void (*fc_pwr_f32_fn)(int64_t K, const float *w, int64_t ldw, const float *x, int64_t ldx,
                              float *y, int64_t ldy, int mode, const float *bias, int act,
                              const float *pf, int pfv);
typedef void (*fc_pwr_f64_fn)(int64_t K, const double *w, int64_t ldw, const double *x, int64_t ldx,
                              double *y, int64_t ldy, int mode, const double *bias, int act,
                              const double *pf, int pfv);
typedef struct fc_pwr_kernel {
    int mr, vl32, vl64;
    fc_pwr_f32_fn f32[FC_PWR_MRMAX + 1][FC_PWR_NRV + 1];
    fc_pwr_f64_fn f64[FC_PWR_MRMAX + 1][FC_PWR_NRV + 1];
} fc_pwr_kernel;
/* The ISA-specific parts of the transposed convolution (ukernels/transposed.inc):
 * weight packing of one output block from (C_in, Cog, kvol) and the store
 * of one output row from phase-major accumulators. */
typedef struct fc_convt_kernel {
    void (*pack32)(const float *src, int64_t cstride, int64_t kvol, int64_t Cig, int64_t on, int64_t nr,
                   float *dst);
    void (*pack64)(const double *src, int64_t cstride, int64_t kvol, int64_t Cig, int64_t on, int64_t nr,
                   double *dst);
    void (*store32)(const float *acc, const int64_t *map, int64_t nr, int64_t np, int64_t on, float *y,
                    int64_t P, int act);
    void (*store64)(const double *acc, const int64_t *map, int64_t nr, int64_t np, int64_t on, double *y,
                    int64_t P, int act);
} fc_convt_kernel;

/* The weight gradient's inner products (ukernels/wgrad.inc), fn[NA][NB], as vectors of vl lanes:
 *   s[(i*ss + j)*vl + l] += sum_{v < nv} a[i][v*vl + l] * b[j][v*vl + l],  i < NA <= na, j < NB <= 2. */
#define FC_WGD_NAMAX 12
#define FC_WGD_NBMAX 2
typedef void (*fc_wgd_f32_fn)(int64_t nv, const float *const *a, const float *const *b, float *s, int64_t ss);
typedef void (*fc_wgd_f64_fn)(int64_t nv, const double *const *a, const double *const *b, double *s, int64_t ss);
typedef struct fc_wgd_kernel {
    int na, vl32, vl64;
    fc_wgd_f32_fn f32[FC_WGD_NAMAX + 1][FC_WGD_NBMAX + 1];
    fc_wgd_f64_fn f64[FC_WGD_NAMAX + 1][FC_WGD_NBMAX + 1];
} fc_wgd_kernel;

/* The ISA-specific GEMM microkernel table (filled in runtime/cpu.c). */
typedef struct fc_ukernels {
    int mr32, nr32, mr64, nr64;  /* register tile per dtype: mr rows of A x nr columns */
    /* C[mr x nr] (+)= Apanel[k x mr]^T * Bpanel[k x nr]; C has row stride ldc.
     * accumulate = 0 overwrites C, starting from bias[row] (bias may be NULL);
     * act is applied as the tile is stored. */
    void (*f32)(int64_t k, const float *a, const float *b, float *c, int64_t ldc, int accumulate,
                const float *bias, int act);
    void (*f64)(int64_t k, const double *a, const double *b, double *c, int64_t ldc, int accumulate,
                const double *bias, int act);
    /* an A panel chunk from rows lda apart: dst[k*mr + i] = src[i*lda + k], i < mr, k < kc
     * (dst: 8 values of room past its end) */
    void (*packa32)(const float *src, int64_t lda, int64_t kc, float *dst);
    void (*packa64)(const double *src, int64_t lda, int64_t kc, double *dst);
    const fc_direct_kernel *direct;   /* the same ISA level's direct-convolution tiles */
    const fc_wino_kernel *wino;       /* and its Winograd transforms */
    const fc_dw_kernel *dw;           /* and its depthwise loop */
    const fc_sep_kernel *sep;         /* and the separable filter's 1-D pass */
    const fc_inv_kernel *inv;         /* and its involution row loop */
    const fc_grp_kernel *grp;         /* and its grouped-convolution tiles */
    const fc_pwd_kernel *pwd;         /* and its pointwise tiles on raw weights */
    const fc_pwr_kernel *pwr;         /* and those with the pixels in the vector */
    const fc_convt_kernel *convt;     /* and the transposed convolution's pack and store */
    const fc_wgd_kernel *wgd;         /* and the weight gradient's inner products */
    int isa;                          /* the FC_ISA_* level of every table here */
    /* 1 if w[0..n) holds no NaN and no Inf */
    int (*finite32)(const float *w, int64_t n);
    int (*finite64)(const double *w, int64_t n);
    /* the epilogue (ukernels/epilogue.inc): y[o*ldy + i] = act(s[o*ldy + i] + bias[o]
     * + r[o*ldr + i]) for o < rows, i < n; s NULL: y itself; bias and r may be NULL */
    void (*epi32)(float *y, int64_t ldy, const float *s, const float *r, int64_t ldr, int64_t rows,
                  int64_t n, const float *bias, int act, float alpha);
    void (*epi64)(double *y, int64_t ldy, const double *s, const double *r, int64_t ldr, int64_t rows,
                  int64_t n, const double *bias, int act, double alpha);
    /* channels-last depthwise, one output row oh of every channel (ukernels/nhwc.inc):
     * x (IH, IW, C), w [tap][C], y (OW, C); g's act (ReLU/ReLU6) */
    void (*dwn32)(const float *x, const fc_dwc_geom *g, int64_t C, const float *w, const float *bias,
                  int64_t oh, float *y);
    void (*dwn64)(const double *x, const fc_dwc_geom *g, int64_t C, const double *w, const double *bias,
                  int64_t oh, double *y);
} fc_ukernels;

/* The activation a tile applies in its registers as it stores: ReLU and
 * ReLU6 when nothing is added after the convolution; the others, and any
 * after a residual, are the epilogue's (fc_needs_epi). */
static inline int fc_needs_epi(const fc_conv_desc *d)
{
    return d->has_res || d->act > FC_ACT_RELU6;
}
/* The activation is one fc_act knows */
static inline int fc_act_ok(const fc_conv_desc *d)
{
    return d->act >= FC_ACT_NONE && d->act < FC_ACT_COUNT;
}
static inline int fc_kact(const fc_conv_desc *d)
{
    return fc_needs_epi(d) ? FC_ACT_NONE : d->act;
}

const fc_ukernels *fc_ukernels_get(void);       /* the ISA level in force (runtime/cpu.c) */
const fc_ukernels *fc_ukernels_for(int isa);    /* a level's tables; the baseline's if not built */

/* The levels' tables (isa/<level>.c); the x86 ones exist on x86 builds,
 * NEON's on AArch64 builds. */
extern const fc_ukernels fc_ukernels_vec128;
#ifdef FC_X86
extern const fc_ukernels fc_ukernels_avx2;
extern const fc_ukernels fc_ukernels_avx512;
#endif
#ifdef FC_ARM64
extern const fc_ukernels fc_ukernels_neon;
#endif


#endif
