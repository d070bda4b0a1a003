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

typedef enum { FC_OK = 0, FC_ENOMEM = 1, FC_EINVAL = 2 } fc_status;
typedef enum { FC_F32 = 0, FC_F64 = 1 } fc_dtype;
typedef enum {
    FC_PAD_ZEROS = 0, FC_PAD_REFLECT = 1, FC_PAD_REPLICATE = 2, FC_PAD_CIRCULAR = 3
} fc_pad_mode;
typedef enum { FC_ACT_NONE = 0, FC_ACT_RELU = 1, FC_ACT_RELU6 = 2 } fc_act;
typedef enum {
    FC_ALGO_AUTO = 0, FC_ALGO_DIRECT = 1, FC_ALGO_GEMM = 2, FC_ALGO_WINOGRAD = 3
} fc_algo;
typedef enum { FC_ISA_SCALAR = 0, FC_ISA_AVX2 = 1, FC_ISA_AVX512 = 2 } fc_isa;

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
    int act;        /* fc_act */
} fc_conv_desc;

/* ---- CPU features and dispatch ---- */
int fc_isa_supported(int isa);   /* 1 if this CPU (and OS) can run it */
int fc_get_isa(void);
int fc_set_isa(int isa);         /* FC_EINVAL when unsupported */
int fc_openmp_enabled(void);
int fc_get_num_threads(void);
void fc_set_num_threads(int n);

/* ---- convolution ----
 * weight (C_out, C_in/groups, kD, kH, kW); bias (C_out) or NULL.
 * Padding modes other than zeros are applied through a padded copy. */
int fc_conv(const fc_conv_desc *d, int dtype, int algo,
            const void *x, const void *w, const void *b, void *y);
/* Which algorithm FC_ALGO_AUTO chooses for packed weights (layer objects;
 * fc_conv, which packs per call, may choose otherwise: never FC_ALGO_AUTO). */
int fc_conv_choose_algo(const fc_conv_desc *d, int dtype);
/* 1 if algo can run this problem. */
int fc_conv_algo_ok(const fc_conv_desc *d, int algo);
/* What a packing for algo depends on besides the weights (Winograd: its
 * tile size m, chosen from the problem size at packing); 0 when nothing. */
int fc_conv_pack_variant(const fc_conv_desc *d, int dtype, int algo);

/* Packed weights for layer objects: pack once, run many times.
 * The packed size depends on the ISA level in force at pack time; the
 * pack records that level and fc_conv_packed repacks nothing. */
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

/* ---- pooling ----
 * d: C_in == C_out == C, k = (1, kH, kW), pads symmetric (zeros never win). */
int fc_max_pool(const fc_conv_desc *d, int dtype, const void *x, void *y, int64_t *idx);
/* scatter x (N, C, Hi, Wi) to y (N, C, Ho, Wo) zero-filled at idx. */
int fc_max_unpool(int64_t NC, int64_t in_plane, int64_t out_plane, int dtype,
                  const void *x, const int64_t *idx, void *y);
int fc_avg_pool(const fc_conv_desc *d, int dtype, const void *x, void *y);

/* Free the scratch blocks kept between calls (they are reused otherwise). */
void fc_scratch_release(void);

#ifdef __cplusplus
}
#endif
#endif
