/* AVX-512 microkernel: this file alone is built with -mavx512f (and friends). */
#define FC_GEMM_ISA avx512
#define FC_VBYTES 64
#define FC_MR32 8
#define FC_NRV32 2
#define FC_MR64 8
#define FC_NRV64 2
#define FC_ISA_ID FC_ISA_AVX512
#include "gemm_kernel.inc"
