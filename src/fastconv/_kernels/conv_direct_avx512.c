/* AVX-512 direct-convolution tiles: built with -mavx512f (and friends) like
 * gemm_avx512.c.  Tile: 12 pixels x 2 zmm (32 f32 / 16 f64 channels), 24
 * accumulators of the 32 registers. */
#define FC_DIRECT_ISA avx512
#define FC_VBYTES 64
#define FC_DMRP 12
#define FC_DNRV 2
#define FC_ISA_ID FC_ISA_AVX512
#include "conv_direct_kernel.inc"
