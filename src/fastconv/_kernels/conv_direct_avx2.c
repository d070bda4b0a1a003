/* AVX2+FMA direct-convolution tiles: this file alone (with gemm_avx2.c) is
 * built with -mavx2 -mfma.  Tile: 6 pixels x 2 ymm (16 f32 / 8 f64 channels),
 * 12 accumulators of the 16 registers. */
#define FC_DIRECT_ISA avx2
#define FC_VBYTES 32
#define FC_DMRP 6
#define FC_DNRV 2
/* Pointwise layers (the direct convolution runs those of small planes):
 * input-channel blocks of 128, whose 8 KiB of weights stay in L1 while all
 * the tiles of the plane use them.  1x1 2048->512 @7, 1 thread: 0.56 of
 * ONNX Runtime with 2048-channel blocks, 0.80 with 128. */
#define FC_DPW_CB 8192
#define FC_ISA_ID FC_ISA_AVX2
#include "conv_direct_kernel.inc"
