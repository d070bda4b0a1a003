/* AVX2+FMA microkernel: this file alone is built with -mavx2 -mfma. */
#define FC_GEMM_ISA avx2
#define FC_VBYTES 32
#define FC_MR32 6
#define FC_NRV32 2
#define FC_MR64 6
#define FC_NRV64 2
#define FC_ISA_ID FC_ISA_AVX2
#include "gemm_kernel.inc"
