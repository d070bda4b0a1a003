/* AVX2+FMA direct-convolution tiles: this file alone (with gemm_avx2.c) is
 * built with -mavx2 -mfma.  Tile: 6 pixels x 2 ymm (16 f32 / 8 f64 channels),
 * 12 accumulators of the 16 registers. */
#define FC_DIRECT_ISA avx2
#define FC_VBYTES 32
#define FC_DMRP 6
#define FC_DNRV 2
#include "conv_direct_kernel.inc"
